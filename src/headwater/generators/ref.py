"""References to another entity's key, only to rows that exist when the row is generated."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from headwater.core.spec import Spec
from headwater.generators.base import FieldGen, GenContext, TypeEnv
from headwater.generators.numbers import bounded_zipf


class HotSet(Spec):
    keys: float = Field(0.01, gt=0, le=1, description="fraction of keys that are hot")
    share: float = Field(0.5, ge=0, le=1, description="fraction of references that go to hot keys")


class Skew(Spec):
    """How references spread over keys: uniform (default), zipf exponent, or a hot set."""

    zipf: float | None = Field(None, gt=0)
    hot: HotSet | None = None

    @model_validator(mode="after")
    def _one(self) -> Skew:
        if self.zipf is not None and self.hot is not None:
            raise ValueError("give either zipf or hot, not both")
        return self


def pick(rng: np.random.Generator, n_keys: int, size: int, skew: Skew | None) -> np.ndarray:
    """Indices into the live keys (oldest first): the skew makes low indices hot."""
    if n_keys == 0:
        return np.zeros(0, dtype=np.int64)
    if skew is None or (skew.zipf is None and skew.hot is None):
        return rng.integers(0, n_keys, size)
    if skew.zipf is not None:
        return bounded_zipf(rng, skew.zipf, n_keys, size) - 1
    assert skew.hot is not None
    n_hot = max(1, int(n_keys * skew.hot.keys))
    hot = rng.random(size) < skew.hot.share
    return np.where(hot, rng.integers(0, n_hot, size), rng.integers(0, n_keys, size))


class Ref(FieldGen):
    """`{ref: customers.id, skew: {zipf: 1.2}}`: a foreign key to a live row of another entity."""

    name = "ref"
    ref: str = Field(description="entity.key_field of the referenced entity")
    skew: Skew | None = None

    @field_validator("ref")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if v.count(".") != 1 or not all(v.split(".")):
            raise ValueError(f"expected 'entity.key_field', got '{v}'")
        return v

    @property
    def entity(self) -> str:
        return self.ref.split(".")[0]

    @property
    def field(self) -> str:
        return self.ref.split(".")[1]

    def references(self) -> set[str]:
        return {self.entity}

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return env.key_type(self.entity)

    def generate(self, ctx: GenContext) -> pa.Array:
        assert ctx.keys is not None
        return ctx.keys.sample_keys(self.entity, ctx.n, ctx.rng, self.skew)
