"""State-machine fields: an initial state, then transitions with probabilities and delays.

The generator only gives the initial state; the world schedules and applies transitions.
YAML: `{state: {placed: {paid: 0.9, cancelled: 0.1, after: 10m}, paid: {shipped: 1, after: 1d}}}`:
the first state is the initial one, states without an entry are terminal.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from headwater.core.spec import Spec
from headwater.core.units import Duration
from headwater.generators.base import FieldGen, GenContext, TypeEnv


class Delay(Spec):
    """How long a row stays in a state: exponential with a mean, uniform, or fixed."""

    expected: ClassVar[str] = "a duration like 10m (the mean) or {min: 1h, max: 4h} or {fixed: 1h}"

    mean: Duration | None = None
    min: Duration | None = None
    max: Duration | None = None
    fixed: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"mean": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one(self) -> Delay:
        kinds = [
            self.mean is not None,
            self.min is not None or self.max is not None,
            self.fixed is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "give one of: a duration (exponential mean), {min, max} (uniform) or {fixed}"
            )
        if kinds[1] and (self.min is None or self.max is None or self.max < self.min):
            raise ValueError("uniform delay needs min <= max")
        return self

    def sample_us(self, rng: np.random.Generator, n: int) -> np.ndarray:
        us = timedelta(microseconds=1)
        if self.fixed is not None:
            return np.full(n, self.fixed // us, dtype=np.int64)
        if self.mean is not None:
            return np.maximum(rng.exponential(self.mean / us, n), 1).astype(np.int64)
        assert self.min is not None and self.max is not None
        return rng.integers(self.min // us, self.max // us, n, endpoint=True)


class Transition(Spec):
    after: Delay
    to: dict[str, float] = Field(description="next state → weight")

    @model_validator(mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if not isinstance(v, dict) or "to" in v:
            return v
        out: dict[str, Any] = {"to": {k: w for k, w in v.items() if k != "after"}}
        if "after" in v:
            out["after"] = v["after"]
        return out

    @field_validator("to")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("needs at least one next state with a weight")
        if any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be >= 0 with a positive sum")
        return v


class State(FieldGen):
    """A lifecycle column (order status); the world moves rows along the transitions."""

    name = "state"
    state: dict[str, Transition]

    @field_validator("state")
    @classmethod
    def _non_empty(cls, v: dict[str, Transition]) -> dict[str, Transition]:
        if not v:
            raise ValueError("needs at least the initial state")
        return v

    @property
    def initial(self) -> str:
        return next(iter(self.state))

    def states(self) -> list[str]:
        """Every state, in first-seen order: the codes the world stores."""
        seen = dict.fromkeys(self.state)
        for t in self.state.values():
            seen.update(dict.fromkeys(t.to))
        return list(seen)

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.string()

    def generate(self, ctx: GenContext) -> pa.Array:
        return pa.repeat(pa.scalar(self.initial), ctx.n)
