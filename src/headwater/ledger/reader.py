"""Reading a ledger back: its manifest and the complete parts of each sink and entity."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from headwater._plugins import suggest
from headwater.errors import VerifyError
from headwater.ledger.writer import ACKS, COMMITTED, FORMAT, INTERVALS


@dataclass(frozen=True)
class EntityInfo:
    name: str
    key: str
    primary_key: tuple[str, ...]
    write: str
    fields: dict[str, str]


@dataclass(frozen=True)
class SinkInfo:
    name: str
    kind: str
    entities: dict[str, EntityInfo]
    faults: dict[str, Any] = field(default_factory=dict)


class LedgerReader:
    """A ledger folder (or its manifest.json); raises VerifyError when it is not one."""

    def __init__(self, path: str | Path):
        root = Path(path)
        if root.is_file() and root.name == "manifest.json":
            root = root.parent
        manifest = root / "manifest.json"
        if not manifest.exists():
            hint = " (a run writes it to <out>/ledger)" if root.exists() else ""
            raise VerifyError(f"--ledger: no ledger at {root}: manifest.json not found{hint}")
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VerifyError(f"--ledger: cannot read {manifest}: {exc}") from None
        if data.get("format") != FORMAT:
            raise VerifyError(f"--ledger: {manifest} is not a headwater ledger ({FORMAT})")
        self.root = root
        self.manifest = data
        marker = root / COMMITTED
        self.committed = int(marker.read_text().strip()) if marker.exists() else 0
        self.complete = bool(data.get("complete"))
        self.sinks = {
            name: SinkInfo(
                name,
                s["kind"],
                {
                    e: EntityInfo(e, v["key"], tuple(v["primary_key"]), v["write"], v["fields"])
                    for e, v in s["entities"].items()
                },
                s.get("faults") or {},
            )
            for name, s in data["sinks"].items()
        }

    def sink(self, name: str | None) -> SinkInfo:
        """The named sink, or the only one; a clear error otherwise."""
        if name is None:
            if len(self.sinks) == 1:
                return next(iter(self.sinks.values()))
            raise VerifyError(
                f"--sink: the ledger has several sinks, choose one: {', '.join(sorted(self.sinks))}"
            )
        if name not in self.sinks:
            raise VerifyError(f"--sink: unknown sink '{name}'{suggest(name, self.sinks)}")
        return self.sinks[name]

    def parts(self, sink: str, entity: str) -> list[Path]:
        """The committed parts, in write order (the files of a crashed flush are skipped)."""
        return [
            p
            for p in sorted((self.root / sink / entity).glob("part-*.parquet"))
            if int(p.stem.removeprefix("part-")) <= self.committed
        ]

    def events(self, sink: str, entity: str) -> pa.Table | None:
        """Every delivery of an entity to a sink, or None when there was none."""
        parts = self.parts(sink, entity)
        if not parts:
            return None
        try:
            return pa.concat_tables([pq.read_table(p) for p in parts])
        except (OSError, pa.ArrowException) as exc:
            raise VerifyError(f"--ledger: cannot read {parts[0].parent}: {exc}") from None

    def intervals(self, sink: str) -> pa.Table | None:
        parts = self.parts(sink, INTERVALS)
        if not parts:
            return None
        return pa.concat_tables([pq.read_table(p) for p in parts])

    def acks(self, sink: str) -> pa.Table | None:
        """What the broker behind a message sink acknowledged, per message: event_id, route,
        partition and offset (null where the broker has none); None without acks."""
        parts = self.parts(sink, ACKS)
        if not parts:
            return None
        return pa.concat_tables([pq.read_table(p) for p in parts])
