"""Malformed records: a fraction of records arrive broken.

```yaml
faults:
  malformed: 0.001                                     # every kind alike
  # malformed: {rate: 0.01, kinds: {truncate: 2, type: 1, encoding: 1, missing: 1}}
```
Kinds:
    missing   a field of the record is null (a required field missing): done here, so every
              sink delivers it
    truncate  the encoded record is cut short (a JSON line missing its end)
    type      a value has the wrong type (a number quoted as a string)
    encoding  the record's bytes are not valid UTF-8
The last three happen when a text transport encodes the record: the sink asks
`kinds_of(table)` which rows to break and passes its encoded records through `corrupt()`.
A sink that does not encode text delivers those rows intact; the ledger marks every
malformed record either way, and verify accepts a landing with or without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater.core.random import mix
from headwater.core.spec import Spec
from headwater.faults.base import (
    MALFORMED,
    Fault,
    FaultContext,
    Part,
    equal_weights,
    map_struct,
    numpy,
    put,
)

KINDS = ("missing", "truncate", "type", "encoding")
TEXT_KINDS = frozenset({"truncate", "type", "encoding"})


class MalformedConfig(Spec):
    rate: float = Field(ge=0, le=1, description="fraction of records delivered malformed")
    kinds: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(KINDS, 1.0),
        description="kinds with weights: missing, truncate, type, encoding",
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"rate": v} if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("kinds", mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        v = equal_weights(v, f"kinds ({', '.join(KINDS)})")
        if isinstance(v, dict):
            from headwater._plugins import suggest

            for k in v:
                if k not in KINDS:
                    raise ValueError(f"unknown kind '{k}'{suggest(str(k), KINDS)}")
            if not v:
                raise ValueError("needs at least one kind")
        return v

    @model_validator(mode="after")
    def _weights(self) -> MalformedConfig:
        if any(w < 0 for w in self.kinds.values()) or sum(self.kinds.values()) <= 0:
            raise ValueError("kind weights must be >= 0 with a positive sum")
        return self


class Malformed(Fault):
    name = "malformed"
    stage = "emit"
    order = 2  # last: the record is broken in the schema it is delivered with
    config: MalformedConfig

    def __init__(self, config: Any, ctx: FaultContext):
        super().__init__(config, ctx)
        self.kinds = list(config.kinds)
        w = np.array(list(config.kinds.values()), dtype=float)
        self.p = w / w.sum()

    def emit(self, entity: str, frame: pa.Table, part: Part) -> pa.Table:
        n = frame.num_rows
        if n == 0 or self.config.rate == 0:
            return frame
        rng = self.rng(entity, part.step, part.index)
        mask = rng.random(n) < self.config.rate
        k = int(mask.sum())
        if k == 0:
            return frame
        kinds = np.array(self.kinds, dtype=object)[rng.choice(len(self.p), k, p=self.p)]
        kind = np.full(n, None, dtype=object)
        kind[mask] = kinds
        flags = numpy(frame, "_flags")
        flags[mask] |= MALFORMED
        frame = put(put(frame, "_flags", flags), "_kind", pa.array(kind, pa.string()))
        missing = np.zeros(n, dtype=bool)
        missing[mask] = kinds == "missing"
        if missing.any():
            width = frame.schema.field("after").type.num_fields
            which = rng.integers(0, max(width, 1), n)

            def blank(children: list[tuple[str, pa.Array]]) -> list[tuple[str, pa.Array]]:
                out = []
                for j, (name, col) in enumerate(children):
                    hit = pa.array(missing & (which == j))
                    out.append((name, pc.if_else(hit, pa.scalar(None, col.type), col)))
                return out

            frame = put(frame, "before", map_struct(frame["before"], blank))
            frame = put(frame, "after", map_struct(frame["after"], blank))
        for name in set(kinds.tolist()):
            self.count(name, int((kinds == name).sum()))
        return frame

    def summary(self) -> dict[str, Any]:
        return {
            "events": sum(self.counts.values()),
            "rate": self.config.rate,
            "kinds": dict(sorted(self.counts.items())),
        }


# -- the hook for text transports ---------------------------------------------------------------
def kinds_of(table: pa.Table) -> pa.Array | None:
    """Per row of a delivered change table: the text-level malformed kind, or null; None if none."""
    if "fault" not in table.column_names or table.num_rows == 0:
        return None
    fault = table["fault"].combine_chunks()
    if fault.null_count == len(fault):
        return None
    found = pc.extract_regex(fault, r"malformed:(?P<kind>truncate|type|encoding)")
    if found.null_count == len(found):
        return None
    return found.flatten()[0]  # flatten keeps the struct's nulls (rows without a match)


_NUMBER = re.compile(rb'(":\s*)(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?=[,}\]])')
_STRING = re.compile(rb'(":\s*)"[^"\\]*"')


def corrupt(
    records: Sequence[bytes],
    kinds: pa.Array | Sequence[str | None],
    seqs: pa.Array | Sequence[int],
    *,
    seed: int = 0,
    format: str = "json",
) -> list[bytes]:
    """Break the marked encoded records (no line terminator); the others come back as they are.

    `format` is json (one object per record) or delimited (CSV, TSV: fields split by
    `,`/`\\t`); any other text only supports truncate and encoding.
    """
    kind_list = kinds.to_pylist() if isinstance(kinds, pa.Array) else list(kinds)
    seq_arr = np.asarray(seqs.to_pylist() if isinstance(seqs, pa.Array) else seqs, dtype=np.int64)
    out = list(records)
    hits = [i for i, k in enumerate(kind_list) if k in TEXT_KINDS]
    if not hits:
        return out
    rand = mix(seed, seq_arr[hits])
    for r, i in zip(rand.tolist(), hits, strict=True):
        out[i] = _break(out[i], kind_list[i], r, format)
    return out


def _break(rec: bytes, kind: str, r: int, format: str) -> bytes:
    if kind == "truncate" and len(rec) > 1:
        return rec[: 1 + r % (len(rec) - 1)]
    if kind == "encoding":
        at = r % (len(rec) + 1)
        while at > 0 and at < len(rec) and rec[at] & 0xC0 == 0x80:  # not inside a character
            at -= 1
        return rec[:at] + b"\xc3\x28" + rec[at:]
    if kind == "type":
        if format == "json":
            m = _NUMBER.search(rec)
            if m:
                return rec[: m.start(2)] + b'"' + m.group(2) + b'"' + rec[m.end(2) :]
            m = _STRING.search(rec)
            if m:
                return rec[: m.end(1)] + b"0" + rec[m.end() :]
            return rec
        if format == "delimited":
            sep = b"\t" if b"\t" in rec else b","
            cells = rec.split(sep)
            for j, c in enumerate(cells):
                if re.fullmatch(rb"-?\d+(\.\d+)?", c.strip(b'"')):
                    cells[j] = b"N/A"
                    return sep.join(cells)
    return rec


__all__ = ["KINDS", "TEXT_KINDS", "Malformed", "MalformedConfig", "corrupt", "kinds_of"]
