"""The scenario document as typed models: clock, entities with lifecycles, sinks, serve.

Field generators, sink configurations and the serve section belong to their plug-ins (layers
above this one) and are validated during resolution (headwater.resolve) so their errors keep
exact YAML paths; here they are plain mappings with a JSON Schema placeholder. The `*Base`
models hold what the document and the resolved Scenario share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    ByteSize,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from headwater.core.spec import Spec
from headwater.core.units import Duration, Rate, Speed, Timestamp


class Clock(Spec):
    """Simulated time: where it starts, how long it runs, how fast against the wall clock."""

    start: Timestamp = datetime(2026, 1, 1, tzinfo=UTC)
    duration: Duration | None = None
    end: Timestamp | None = None
    speed: Speed = "max"
    step: Duration | None = Field(
        None, description="simulated time per batch; default: sized from the rates"
    )

    @model_validator(mode="after")
    def _span(self) -> Clock:
        if self.duration is not None and self.end is not None:
            raise ValueError("give either duration or end, not both")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError("duration must be positive")
        if self.step is not None and self.step <= timedelta(0):
            raise ValueError("step must be positive")
        return self

    @property
    def span(self) -> timedelta:
        if self.end is not None:
            return self.end - self.start
        return self.duration if self.duration is not None else timedelta(hours=1)

    @property
    def factor(self) -> float | None:
        """Simulated seconds per wall second, or None for as fast as possible."""
        if self.speed == "max":
            return None
        return 1.0 if self.speed == "realtime" else float(self.speed[:-1])


class Diurnal(Spec):
    """A daily cosine between trough and peak, highest at peak_hour (UTC)."""

    peak: Rate
    trough: Rate
    peak_hour: float = Field(12.0, ge=0, lt=24)


class ScheduleItem(Spec):
    at: str = Field(description="time of day HH:MM (UTC) from which this rate applies")
    rate: Rate

    @field_validator("at")
    @classmethod
    def _hhmm(cls, v: Any) -> str:
        v = str(v)
        m = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", v)
        if not m:
            raise ValueError(f"expected a time of day HH:MM, got {v!r}")
        return v

    @property
    def seconds(self) -> int:
        h, m = self.at.split(":")
        return int(h) * 3600 + int(m) * 60


class Burst(Spec):
    """A spike: the rate is multiplied by factor for `length`, every `every` (or once `at`)."""

    factor: float = Field(gt=0)
    length: Duration
    every: Duration | None = None
    at: Timestamp | None = None

    @model_validator(mode="after")
    def _when(self) -> Burst:
        if (self.every is None) == (self.at is None):
            raise ValueError("give either every (repeating) or at (once)")
        return self


class Arrivals(Spec):
    """How often new rows appear: a constant rate, a diurnal curve or a daily schedule, plus bursts."""

    expected: ClassVar[str] = "a rate like 5/s or {diurnal: …}"

    rate: Rate | None = None
    diurnal: Diurnal | None = None
    schedule: list[ScheduleItem] | None = None
    bursts: list[Burst] = []

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"rate": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one(self) -> Arrivals:
        given = [x for x in (self.rate, self.diurnal, self.schedule) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of rate (e.g. '5/s'), diurnal or schedule")
        if self.schedule is not None and not self.schedule:
            raise ValueError("schedule needs at least one entry")
        return self


class Count(Spec):
    """How many children each parent gets: uniform in [min, max]."""

    expected: ClassVar[str] = "a number of children like 3 or {min: 1, max: 5}"

    min: int = Field(1, ge=0)
    max: int = Field(1, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"min": v, "max": v} if isinstance(v, int) else v

    @model_validator(mode="after")
    def _ordered(self) -> Count:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class Parent(Spec):
    """Children are created with their parent, in the same transaction."""

    entity: str
    count: Count = Count()


class Update(Spec):
    """Random live rows get new values for these fields at this rate."""

    rate: Rate
    fields: list[str] = Field(min_length=1)


class Deletes(Spec):
    """Random live rows are deleted at this rate (rows still referenced are kept)."""

    rate: Rate


# Checked by their owners during resolution (parse_field, the sink's Config, Serve), which
# say what a field, sink or serve section looks like; the document only carries them.
FieldSpec = Annotated[Any, WithJsonSchema({"type": "object", "x-headwater-ref": "Field"})]
SinkSpec = Annotated[Any, WithJsonSchema({"type": "object", "x-headwater-ref": "Sink"})]
ServeSpec = Annotated[Any, WithJsonSchema({"type": "object", "x-headwater-ref": "Serve"})]


class EntityBase(Spec):
    """A table of the simulated world and its lifecycle; what `fields` holds is the
    subclass's: mappings in the document, generators once resolved."""

    key: str | None = Field(None, description="the key field; default: the first field")
    write: Literal["crud", "insert_only"] = Field(
        "crud",
        description="crud: rows change in place; insert_only: every change is a new version row (SCD2)",
    )
    initial: int = Field(0, ge=0, description="rows present at the start (the snapshot)")
    arrivals: Arrivals | None = None
    parent: Parent | None = None
    fields: Mapping[str, Any] = Field(min_length=1)
    updates: list[Update] = []
    deletes: Deletes | None = None
    indexes: list[list[str]] = []

    @field_validator("updates", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @field_validator("indexes", mode="before")
    @classmethod
    def _index_lists(cls, v: Any) -> Any:
        return [[i] if isinstance(i, str) else i for i in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _child(self) -> EntityBase:
        if self.parent is not None and (self.arrivals is not None or self.initial):
            raise ValueError(
                "a child entity (with parent) is created with its parent: remove arrivals/initial"
            )
        return self

    @property
    def key_field(self) -> str:
        return self.key or next(iter(self.fields))


class EntityDocument(EntityBase):
    """A table of the simulated world and its lifecycle."""

    # as written: each field is a generator's mapping, parsed during resolution

    model_config = ConfigDict(title="Entity")

    fields: dict[str, FieldSpec] = Field(min_length=1)


class Limits(Spec):
    """How big a run may be: `validate` and `run` refuse a scenario estimated beyond these
    (`headwater validate` prints the estimate). Raise them for a bigger machine or run."""

    max_events: float = Field(1e9, gt=0, description="changes over the whole run")
    max_steps: float = Field(1e7, gt=0, description="steps of the simulated clock")
    max_memory: ByteSize = Field(
        ByteSize(4 * 2**30),
        gt=0,
        description="memory the world holds (live rows plus one step), e.g. 4GB, 16GiB",
    )


class ScenarioBase(Spec):
    """What the document and the resolved Scenario share: name, seed, clock, entities, limits."""

    name: str = "scenario"
    seed: int = 0
    locale: str = "en_US"
    clock: Clock = Clock()
    entities: Mapping[str, EntityBase] = Field(min_length=1)
    limits: Limits = Limits()


class ScenarioDocument(ScenarioBase):
    """A simulated world and the sinks it writes into."""

    # as written: sinks and serve are mappings, validated by their owners during resolution

    model_config = ConfigDict(title="Scenario")

    entities: dict[str, EntityDocument] = Field(min_length=1)
    sinks: dict[str, SinkSpec] = {}
    serve: ServeSpec | None = Field(None, description="APIs serving the world while it runs")
