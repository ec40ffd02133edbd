"""Times: the row's event time, and uniform date/timestamp ranges."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from headwater.core.micros import epoch_us
from headwater.core.spec import TIMESTAMP, Spec
from headwater.core.units import Timestamp
from headwater.generators.base import FieldGen, GenContext, TypeEnv


class EventTimeArgs(Spec):
    on_update: bool = Field(False, description="refresh on every change (an updated_at column)")


class EventTime(FieldGen):
    """When the row was created in the world (or last changed, with on_update: true)."""

    name = "event_time"
    event_time: EventTimeArgs = EventTimeArgs()

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return TIMESTAMP

    def generate(self, ctx: GenContext) -> pa.Array:
        return ctx.event_time


class TimestampArgs(Spec):
    start: Timestamp
    end: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> TimestampArgs:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class TimestampRange(FieldGen):
    """Uniform instants in [start, end], microsecond precision, UTC."""

    name = "timestamp"
    timestamp: TimestampArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return TIMESTAMP

    def generate(self, ctx: GenContext) -> pa.Array:
        lo = epoch_us(self.timestamp.start)
        hi = epoch_us(self.timestamp.end)
        return pa.array(ctx.rng.integers(lo, hi, ctx.n, endpoint=True)).cast(TIMESTAMP)


class DateArgs(Spec):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> DateArgs:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class DateRange(FieldGen):
    """Uniform calendar dates in [start, end] (birth dates, contract dates)."""

    name = "date"
    date: DateArgs

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.date32()

    def generate(self, ctx: GenContext) -> pa.Array:
        lo, hi = self.date.start.toordinal() - 719163, self.date.end.toordinal() - 719163
        days = ctx.rng.integers(lo, hi, ctx.n, endpoint=True).astype(np.int32)
        return pa.array(days, pa.int32()).cast(pa.date32())
