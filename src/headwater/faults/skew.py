"""Clock skew: the source's clock is off, so every time it stamps is shifted.

```yaml
faults:
  skew: -90s                                   # the source runs 90 seconds behind
  # skew: {offset: 2m, fields: [created_at]}   # only some timestamp fields
```
The change's event_time and the row's timestamp fields (all of them unless `fields` says
which) carry the shifted time; the ledger keeps the true event time beside the delivered
values, so verify can tell the pipeline's lag from the source's skew.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater._plugins import suggest
from headwater.core.micros import span_us
from headwater.core.spec import Spec
from headwater.core.units import format_duration, parse_duration
from headwater.faults.base import Fault, Loc, map_struct, put, timestamp_fields


def signed_duration(v: Any) -> timedelta:
    if isinstance(v, str) and v.strip().startswith("-"):
        return -parse_duration(v.strip()[1:])
    return parse_duration(v)


class SkewConfig(Spec):
    offset: timedelta = Field(description="added to every timestamp the source stamps, e.g. -90s")
    fields: list[str] | None = Field(
        None, description="timestamp fields to shift; default: all of them"
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"offset": v} if isinstance(v, str) else v

    @field_validator("offset", mode="before")
    @classmethod
    def _signed(cls, v: Any) -> timedelta:
        return signed_duration(v)

    def check(self, schemas: dict[str, Any]) -> list[tuple[Loc, str]]:
        if self.fields is None:
            return []
        known = {f for s in schemas.values() for f in timestamp_fields(s)}
        return [
            (
                ("fields", i),
                f"no timestamp field '{f}' in this sink's entities{suggest(f, known)}",
            )
            for i, f in enumerate(self.fields)
            if f not in known
        ]


class Skew(Fault):
    name = "skew"
    stage = "arrive"
    order = 0  # first: the skewed clock stamps the event before anything else happens
    config: SkewConfig

    def arrive(self, entity: str, frame: pa.Table, step: int) -> pa.Table:
        if frame.num_rows == 0:
            return frame
        off = span_us(self.config.offset)
        shift = pa.scalar(off, pa.duration("us"))
        wanted = set(timestamp_fields(self.ctx.schemas[entity]))
        if self.config.fields is not None:
            wanted &= set(self.config.fields)

        def shifted(children: list[tuple[str, pa.Array]]) -> list[tuple[str, pa.Array]]:
            return [(n, pc.add(c, shift) if n in wanted else c) for n, c in children]

        frame = put(frame, "event_time", pc.add(frame["event_time"], shift))
        if wanted:
            frame = put(frame, "before", map_struct(frame["before"], shifted))
            frame = put(frame, "after", map_struct(frame["after"], shifted))
        self.count("events", frame.num_rows)
        return frame

    def summary(self) -> dict[str, Any]:
        off = self.config.offset
        sign = "-" if off < timedelta(0) else "+"
        return {"offset": sign + format_duration(abs(off)), "events": self.counts.get("events", 0)}
