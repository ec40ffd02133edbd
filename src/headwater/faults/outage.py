"""Outages: the source delivers nothing during a window, then everything held as a backlog.

```yaml
faults:
  outage:
    - {at: 2026-01-01T03:00:00Z, length: 10m}     # once
    - {every: 6h, length: 5m}                     # repeatedly, from the clock's start
```
Events due during a window are delivered at its end, in their original order. The sink
still sees time pass (its write() gets empty steps), so a file drop or a poll finds nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from headwater.core.micros import US, epoch_us, span_us
from headwater.core.spec import Spec
from headwater.core.units import Duration, Timestamp
from headwater.faults.base import OUTAGE, Fault, FaultContext, flag, numpy, put


class OutageWindow(Spec):
    """A window of delivery time when the source is down: once (`at`) or repeatedly (`every`,
    from the clock's start). Served APIs use the same windows (serve/config.py)."""

    renamed: ClassVar[dict[str, str]] = {"for": "length"}  # old spelling → new (README)

    at: Timestamp | None = Field(None, description="when the (single) outage starts")
    every: Duration | None = Field(None, description="repeat the outage this often")
    length: Duration = Field(description="how long the source is down")

    @model_validator(mode="after")
    def _when(self) -> OutageWindow:
        if (self.at is None) == (self.every is None):
            raise ValueError("give either at (once) or every (repeating)")
        if self.length <= timedelta(0):
            raise ValueError("length must be positive")
        if self.every is not None and self.length >= self.every:
            raise ValueError("length must be shorter than every (the source would never be up)")
        return self

    def starts(self, start_us: int, end_us: int) -> list[int]:
        """When its windows start (µs), for a clock running from start_us to end_us."""
        if self.at is not None:
            return [epoch_us(self.at)]
        assert self.every is not None
        return list(range(start_us + span_us(self.every), end_us, span_us(self.every)))

    def around(self, now_us: int, start_us: int) -> tuple[int, int] | None:
        """Its window [start, end) (µs) holding `now_us`, for a clock that started at
        start_us (and may run on without an end); None when the source is up then."""
        if self.at is not None:
            begin = epoch_us(self.at)
        else:
            assert self.every is not None
            every = span_us(self.every)
            begin = start_us + (now_us - start_us) // every * every
            if begin <= start_us:  # the first window is one period in
                return None
        end = begin + span_us(self.length)
        return (begin, end) if begin <= now_us < end else None


def windows(config: list[OutageWindow], start_us: int, end_us: int) -> np.ndarray:
    """Merged, sorted [start, end) windows (µs) as an (n, 2) array."""
    spans = sorted((s, s + span_us(w.length)) for w in config for s in w.starts(start_us, end_us))
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return np.array(merged, dtype=np.int64).reshape(-1, 2)


class Outage(Fault):
    name = "outage"
    stage = "arrive"
    order = 9  # last: whatever falls into a window waits for its end
    Config = OutageWindow
    about = "windows of no delivery"
    many = True
    stream_only = False  # a database that is down is a database too
    config: list[OutageWindow]

    def __init__(self, config: Any, ctx: FaultContext):
        super().__init__(config, ctx)
        self.spans = windows(config, ctx.start_us, ctx.end_us)

    def down(self, start_us: int, end_us: int) -> bool:
        """Whether the source is down for the whole of [start, end) (an empty step)."""
        if len(self.spans) == 0 or end_us <= start_us:
            return False
        i = np.searchsorted(self.spans[:, 0], start_us, side="right") - 1
        return bool(i >= 0 and self.spans[i, 1] >= end_us)

    def down_spans(self) -> list[tuple[int, int]]:
        return [(int(s), int(e)) for s, e in self.spans]

    def arrive(self, entity: str, frame: pa.Table, step: int) -> pa.Table:
        if frame.num_rows == 0 or len(self.spans) == 0:
            return frame
        ingest = numpy(frame, "_ingest")
        i = np.searchsorted(self.spans[:, 0], ingest, side="right") - 1
        inside = (i >= 0) & (ingest < self.spans[np.maximum(i, 0), 1])
        k = int(inside.sum())
        if k == 0:
            return frame
        ingest[inside] = self.spans[i[inside], 1]
        self.count("held", k)
        return flag(put(frame, "_ingest", ingest), inside, OUTAGE)

    def summary(self) -> dict[str, Any]:
        down = int((self.spans[:, 1] - self.spans[:, 0]).sum()) if len(self.spans) else 0
        return {
            "windows": len(self.spans),
            "down_s": round(down / US, 3),
            "held": self.counts.get("held", 0),
        }
