"""The generator contract: an immutable spec that returns one Arrow column for n rows.

A field in YAML is a mapping with exactly one generator name (`{lognormal: {...}}`) plus
shared modifiers (`null_rate`) and the generator's own sibling options (`skew` for ref).
Each generator is a pydantic model of that whole mapping, so its repr shows how it was built
and its JSON Schema documents it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from headwater.core.spec import Spec


class KeySource(Protocol):
    """Where references find the keys that exist at the moment of generation."""

    def sample_keys(self, entity: str, n: int, rng: np.random.Generator, skew: Any) -> pa.Array: ...

    def key_type(self, entity: str) -> pa.DataType: ...


@dataclass
class GenContext:
    """Everything a generator may read to produce n values of one field."""

    n: int
    rng: np.random.Generator
    event_time: pa.Array
    columns: dict[str, pa.Array] = field(default_factory=dict)
    keys: KeySource | None = None
    seed: int = 0
    locale: str = "en_US"
    parent_keys: pa.Array | None = None  # for child entities: the parent key of each row
    position: int = 0  # how many rows of this entity were generated before this batch


class TypeEnv(Protocol):
    """Resolves the Arrow type of another field of the row, or of another entity's key."""

    def field_type(self, name: str) -> pa.DataType: ...

    def key_type(self, entity: str) -> pa.DataType: ...


class FieldGen(Spec):
    """A field's generator; subclasses define one attribute named after the generator."""

    name: ClassVar[str]
    null_rate: float = Field(0.0, ge=0.0, le=1.0, description="fraction of rows set to null")

    def depends(self) -> set[str]:
        """Fields of the same row this generator reads (ordering and cycle checks)."""
        return set()

    def references(self) -> set[str]:
        """Other entities this generator takes keys from."""
        return set()

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        raise NotImplementedError

    def generate(self, ctx: GenContext) -> pa.Array:
        raise NotImplementedError

    def column(self, ctx: GenContext) -> pa.Array:
        """The generated values with the null rate applied."""
        values = self.generate(ctx)
        if self.null_rate > 0 and ctx.n:
            values = with_nulls(values, ctx.rng.random(ctx.n) < self.null_rate)
        return values


def with_nulls(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """Null out rows where mask is true by rewriting the validity bitmap (no copy of values)."""
    flat = (
        pa.types.is_primitive(values.type)
        or pa.types.is_string(values.type)
        or pa.types.is_decimal(values.type)
    )
    if not flat or values.offset != 0:
        return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)
    valid = ~mask
    if values.null_count:
        valid &= values.is_valid().to_numpy(zero_copy_only=False)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(values.type, len(values), [bitmap, *values.buffers()[1:]])


def take_pool(pool: pa.Array, rng: np.random.Generator, n: int) -> pa.Array:
    """n uniform picks from a value pool, as a vectorized take."""
    if len(pool) == 0:
        return pa.nulls(n, pool.type)
    return pool.take(pa.array(rng.integers(0, len(pool), n)))


def field_order(gens: dict[str, FieldGen]) -> list[str]:
    """Fields in an order where every field comes after those it reads (declaration order
    otherwise). Iterative, so a long chain of derived fields needs no deep recursion."""
    done: list[str] = []
    placed: set[str] = set()
    names = set(gens)
    for root in gens:
        if root in placed:
            continue
        placed.add(root)
        stack = [(root, iter(sorted(gens[root].depends() & names)))]
        while stack:
            field, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                done.append(field)
                stack.pop()
            elif dep not in placed:
                placed.add(dep)
                stack.append((dep, iter(sorted(gens[dep].depends() & names))))
    return done
