"""The base of every scenario model, and the one Arrow type of simulated time."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

TIMESTAMP = pa.timestamp("us", tz="UTC")


class Spec(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are immutable, and numbers
    are finite (an infinite bound or NaN weight would only fail once the world runs)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )
