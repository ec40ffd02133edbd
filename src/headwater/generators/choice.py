"""Categorical values: a weighted choice, and a constant.

```yaml
fields:
  country: {choice: {US: 6, DE: 2, FR: 2}}  # with weights
  channel: {choice: [web, app]}             # equally likely
  source: {const: import}
```
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import field_validator

from headwater.generators.base import FieldGen, GenContext, TypeEnv


def _infer_type(values: list[Any]) -> pa.DataType:
    """The one Arrow type of all values; ValueError when they mix kinds (text and numbers)."""
    if not values:
        return pa.string()
    try:
        return pa.array(values).type
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        kinds = sorted({_KINDS.get(type(v), type(v).__name__) for v in values})
        raise ValueError(
            f"needs values of one type, got {' and '.join(kinds)}; quote numbers to make them text"
        ) from None


_KINDS = {str: "text", int: "numbers", float: "numbers", bool: "true/false"}


_TABLE = 1 << 16


class Choice(FieldGen):
    """One of the given values: `{US: 6, DE: 2}` (weights) or `[a, b, c]` (uniform).

    Values are dictionary-encoded while sampling, so a choice over strings costs a take.
    """

    name = "choice"
    choice: dict[str | int | float | bool, float] | list[str | int | float | bool]

    @field_validator("choice")
    @classmethod
    def _weights(cls, v: Any) -> Any:
        if not v:
            raise ValueError("needs at least one value")
        if isinstance(v, dict):
            if any(w < 0 for w in v.values()):
                raise ValueError("weights must be >= 0")
            if sum(v.values()) <= 0:
                raise ValueError("at least one weight must be > 0")
        _infer_type(list(v))
        return v

    def values(self) -> list[Any]:
        return list(self.choice)

    def probabilities(self) -> np.ndarray:
        if isinstance(self.choice, dict):
            w = np.array(list(self.choice.values()), dtype=float)
        else:
            w = np.ones(len(self.choice))
        return w / w.sum()

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return _infer_type(self.values())

    def generate(self, ctx: GenContext) -> pa.Array:
        pool = pa.array(self.values(), type=self.arrow_type(None))  # type: ignore[arg-type]
        return pool.take(pa.array(self._table()[ctx.rng.integers(0, _TABLE, ctx.n)]))

    def _table(self) -> np.ndarray:
        """A 65,536-slot table where each value fills a share of slots equal to its weight,
        so a weighted draw is one uniform integer and a lookup (weights resolved to 1/65,536)."""
        cumulative = np.cumsum(self.probabilities())
        edges = np.minimum(np.round(cumulative * _TABLE).astype(np.int64), _TABLE)
        return np.repeat(np.arange(len(edges), dtype=np.int32), np.diff(edges, prepend=0))


class Const(FieldGen):
    """The same value on every row."""

    name = "const"
    const: str | int | float | bool | None

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.string() if self.const is None else _infer_type([self.const])

    def generate(self, ctx: GenContext) -> pa.Array:
        return pa.repeat(pa.scalar(self.const, self.arrow_type(None)), ctx.n)  # type: ignore[arg-type]
