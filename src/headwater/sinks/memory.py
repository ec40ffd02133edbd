"""An in-memory sink: keeps every change table, for tests, notebooks and the Python API.

```yaml
sinks:
  mem: {kind: memory}
```
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa

from headwater.sinks.base import Sink, SinkConfig
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.world.changes import Changes


class MemoryConfig(SinkConfig):
    kind: Literal["memory"] = "memory"


class MemorySink(Sink):
    """Collects the change stream per entity; `table(entity)` concatenates it."""

    kind = "memory"
    Config = MemoryConfig
    capabilities = Capabilities(
        transactions=True, updates=True, deletes=True, ordering=Ordering.TOTAL, exactly_once=True
    )

    def open(self) -> None:
        self.changes: dict[str, list[pa.Table]] = {}

    def write(self, changes: Changes) -> None:
        for entity, table in changes.tables.items():
            self.changes.setdefault(entity, []).append(table)
        self.stats.add(changes)

    def table(self, entity: str) -> pa.Table:
        parts = self.changes.get(entity)
        if not parts:
            s = self.context.schemas[entity]
            from headwater.world.changes import change_schema

            return change_schema(s.key_type, s.row_type).empty_table()
        return pa.concat_tables(parts)
