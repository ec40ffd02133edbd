"""Late delivery: a fraction of events arrive after a delay; their event time stays.

```yaml
faults:
  late: {rate: 0.05, delay: {mean: 30s}}                     # exponential, mean 30s
  # late: {rate: 0.01, delay: {median: 5m, sigma: 2}, max: 6h}  # a long tail, capped
```
Late events wait in the sink's delivery buffer, which holds at most `max` of simulated time;
events still waiting when the run ends are delivered at its end, with their own times.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from headwater.core.micros import span_us
from headwater.core.spec import Spec
from headwater.core.units import Duration
from headwater.faults._delay import DeliveryDelay
from headwater.faults.base import LATE, Fault, flag, numpy, put


class LateConfig(Spec):
    rate: float = Field(ge=0, le=1, description="fraction of events delivered late")
    delay: DeliveryDelay = Field(DeliveryDelay(mean=timedelta(seconds=30)), description="how late")
    max: Duration = Field(timedelta(days=1), description="no event is later than this")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"rate": v} if isinstance(v, int | float) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _positive(self) -> LateConfig:
        if self.max <= timedelta(0):
            raise ValueError("max must be positive")
        return self


class Late(Fault):
    name = "late"
    stage = "arrive"
    order = 1
    config: LateConfig

    def arrive(self, entity: str, frame: pa.Table, step: int) -> pa.Table:
        hit = self.pick(entity, frame, step)
        if hit is None:
            return frame
        rng, mask = hit
        k = int(mask.sum())
        delays = np.minimum(self.config.delay.sample_us(rng, k), span_us(self.config.max))
        ingest = numpy(frame, "_ingest")
        ingest[mask] += delays
        self.count("events", k)
        self.count("delay_us_total", int(delays.sum()))
        self.counts["max_delay_us"] = max(self.counts.get("max_delay_us", 0), int(delays.max()))
        return flag(put(frame, "_ingest", ingest), mask, LATE)

    def summary(self) -> dict[str, Any]:
        n = self.counts.get("events", 0)
        return {
            "events": n,
            "rate": self.config.rate,
            "delay": self.config.delay.describe(),
            "mean_delay_s": round(self.counts.get("delay_us_total", 0) / n / 1e6, 3) if n else 0,
            "max_delay_s": round(self.counts.get("max_delay_us", 0) / 1e6, 3),
        }
