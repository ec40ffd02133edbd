"""Duplicates: at-least-once redelivery; a copy carries the same event (same seq, same id).

```yaml
faults:
  duplicate: 0.01                                # 1% of events delivered twice, right away
  # duplicate: {rate: 0.01, after: {max: 5m, min: 0s}}  # the copy comes up to 5 minutes later
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from headwater.core.spec import Spec
from headwater.faults._delay import DeliveryDelay
from headwater.faults.base import DUPLICATE, Fault, flag, numpy, put


class DuplicateConfig(Spec):
    rate: float = Field(ge=0, le=1, description="fraction of events delivered a second time")
    after: DeliveryDelay = Field(
        DeliveryDelay(fixed=timedelta(0)), description="how long after the original the copy comes"
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"rate": v} if isinstance(v, int | float) and not isinstance(v, bool) else v


class Duplicate(Fault):
    name = "duplicate"
    stage = "arrive"
    order = 3
    config: DuplicateConfig

    def arrive(self, entity: str, frame: pa.Table, step: int) -> pa.Table:
        hit = self.pick(entity, frame, step)
        if hit is None:
            return frame
        rng, mask = hit
        k = int(mask.sum())
        copies = frame.filter(pa.array(mask))
        ingest = numpy(copies, "_ingest") + self.config.after.sample_us(rng, k)
        copies = put(copies, "_ingest", ingest)
        copies = put(copies, "_copy", np.ones(k, dtype=np.int8))
        copies = flag(copies, np.ones(k, dtype=bool), DUPLICATE)
        self.count("events", k)
        return pa.concat_tables([frame, copies])

    def summary(self) -> dict[str, Any]:
        return {"events": self.counts.get("events", 0), "rate": self.config.rate}
