"""Mixed and missing time zones: timestamps delivered as text with varying offsets.

```yaml
faults:
  zones: {offsets: ["+02:00", "-05:00", Z], missing: 0.1}     # all timestamp fields
  # zones: {fields: [created_at], offsets: {"+01:00": 3, Z: 1}, missing: 0.5, local: "+01:00"}
```
Each record picks one offset (weights optional) and its timestamp fields become ISO-8601
text in that offset (`2026-01-01T07:00:00+02:00`); a fraction `missing` carries no zone at
all, written in the `local` offset, the way a server logging local time does. The instant is
the same; a pipeline that ignores offsets, or assumes UTC for zone-less times, lands it wrong.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater._plugins import suggest
from headwater.core.micros import US
from headwater.core.spec import Spec
from headwater.faults.base import (
    Fault,
    FaultContext,
    Loc,
    Part,
    equal_weights,
    map_struct,
    put,
)
from headwater.faults.base import timestamp_fields as ts_fields

_OFFSET = re.compile(r"^(Z|[+-](\d{2}):(\d{2}))$")


def offset_us(text: str) -> int:
    m = _OFFSET.match(text)
    if not m:
        raise ValueError(f"invalid offset {text!r}: expected Z or ±HH:MM, e.g. '+02:00'")
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    return sign * (int(m.group(2)) * 3600 + int(m.group(3)) * 60) * US


class ZonesConfig(Spec):
    offsets: dict[str, float] = Field(
        default_factory=lambda: {"Z": 1.0, "+02:00": 1.0, "-05:00": 1.0},
        description="offsets (Z or ±HH:MM), as a list or with weights",
    )
    missing: float = Field(0.0, ge=0, le=1, description="fraction written without a zone")
    local: str = Field("+00:00", description="the offset zone-less times are written in")
    fields: list[str] | None = Field(None, description="timestamp fields; default: all")

    @field_validator("offsets", mode="before")
    @classmethod
    def _weights(cls, v: Any) -> Any:
        v = equal_weights(v, "offsets (Z or ±HH:MM, quoted)")
        if isinstance(v, dict):
            if not v:
                raise ValueError("needs at least one offset")
            for k in v:
                offset_us(str(k))
        return v

    @field_validator("local")
    @classmethod
    def _local(cls, v: str) -> str:
        offset_us(v)
        return v

    @model_validator(mode="after")
    def _positive(self) -> ZonesConfig:
        if any(w < 0 for w in self.offsets.values()) or sum(self.offsets.values()) <= 0:
            raise ValueError("offset weights must be >= 0 with a positive sum")
        return self

    def check(self, schemas: dict[str, Any]) -> list[tuple[Loc, str]]:
        if self.fields is None:
            return []
        known = {f for s in schemas.values() for f in ts_fields(s)}
        return [
            (
                ("fields", i),
                f"no timestamp field '{f}' in this sink's entities{suggest(f, known)}",
            )
            for i, f in enumerate(self.fields)
            if f not in known
        ]


class Zones(Fault):
    name = "zones"
    stage = "emit"
    order = 0  # before drift, so drift may rename or reformat the text fields
    config: ZonesConfig

    def __init__(self, config: Any, ctx: FaultContext):
        super().__init__(config, ctx)
        names = list(config.offsets)
        w = np.array(list(config.offsets.values()), dtype=float)
        self.p = w / w.sum()
        # choice index len(names) means "no zone"
        self.shift = np.array([offset_us(o) for o in names] + [offset_us(config.local)])
        self.suffix = pa.array([("Z" if o == "Z" else o) for o in names] + [""])

    def emit(self, entity: str, frame: pa.Table, part: Part) -> pa.Table:
        n = frame.num_rows
        wanted = set(ts_fields(self.ctx.schemas[entity]))
        if self.config.fields is not None:
            wanted &= set(self.config.fields)
        if n == 0 or not wanted:
            return frame
        rng = self.rng(entity, part.step, part.index)
        pick = rng.choice(len(self.p), n, p=self.p)
        pick[rng.random(n) < self.config.missing] = len(self.p)
        shift = self.shift[pick]
        suffix = self.suffix.take(pa.array(pick))

        def render(children: list[tuple[str, pa.Array]]) -> list[tuple[str, pa.Array]]:
            out = []
            for name, col in children:
                if name in wanted and pa.types.is_timestamp(col.type):
                    local = pc.cast(
                        pc.add(pc.cast(col, pa.int64()), pa.array(shift)), pa.timestamp("us")
                    )
                    text = pc.strftime(local, format="%Y-%m-%dT%H:%M:%S")
                    col = pc.binary_join_element_wise(text, suffix, "")
                out.append((name, col))
            return out

        frame = put(frame, "before", map_struct(frame["before"], render))
        frame = put(frame, "after", map_struct(frame["after"], render))
        self.count("events", n)
        self.count("missing", int((pick == len(self.p)).sum()))
        return frame

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.counts.get("events", 0),
            "without_zone": self.counts.get("missing", 0),
            "offsets": list(self.config.offsets),
        }
