"""Out-of-order delivery: events are shuffled within a window of delivery time.

```yaml
faults:
  reorder: {window: 10s}              # every event may move up to 10s later
  # reorder: {rate: 0.2, window: 1m}  # a fifth of the events, up to a minute
```
Each chosen event's delivery moves later by a uniform amount in [0, window), so it can
overtake none but be overtaken by the events that followed it within the window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
from pydantic import Field, model_validator

from headwater.core.micros import span_us
from headwater.core.spec import Spec
from headwater.core.units import Duration
from headwater.faults.base import REORDER, Fault, flag, numpy, put


class ReorderConfig(Spec):
    window: Duration = Field(description="how far (in delivery time) an event may move")
    rate: float = Field(1.0, ge=0, le=1, description="fraction of events that may move")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"window": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _positive(self) -> ReorderConfig:
        if self.window <= timedelta(0):
            raise ValueError("window must be positive")
        return self


class Reorder(Fault):
    name = "reorder"
    stage = "arrive"
    order = 2
    config: ReorderConfig

    def arrive(self, entity: str, frame: pa.Table, step: int) -> pa.Table:
        hit = self.pick(entity, frame, step)
        if hit is None:
            return frame
        rng, mask = hit
        k = int(mask.sum())
        ingest = numpy(frame, "_ingest")
        ingest[mask] += rng.integers(0, span_us(self.config.window), k)
        self.count("events", k)
        return flag(put(frame, "_ingest", ingest), mask, REORDER)

    def summary(self) -> dict[str, Any]:
        from headwater.core.units import format_duration

        return {
            "events": self.counts.get("events", 0),
            "rate": self.config.rate,
            "window": format_duration(self.config.window),
        }
