"""Values read from other rows: a referenced row's field, or an aggregate of a row's children.

`{lookup: products.price, via: product_id}` copies the product's price as it was when the
world step that creates the row began (read again on an update that lists the field).
`{sum: order_items.line_total}` (and `count`, `min`, `max`) follows the children declared with
`parent:`; the world recomputes it whenever a child is inserted, updated or deleted.
Both are computed by the world, which knows the rows; `generate` alone cannot see them.

```yaml
entities:
  products:
    key: id
    initial: 50
    fields:
      id: {seq: {}}
      price: {uniform: {min: 1, max: 100}, round: 2}
  orders:
    key: id
    arrivals: 1/s
    fields:
      id: {seq: {}}
      items: {count: order_items}
      total: {sum: order_items.line_total}
      smallest: {min: order_items.line_total}
      largest: {max: order_items.line_total}
  order_items:
    key: id
    parent: {entity: orders, count: {min: 1, max: 4}}
    fields:
      id: {seq: {}}
      order_id: {ref: orders.id}
      product_id: {ref: products.id}
      unit_price: {lookup: products.price, via: product_id}
      line_total: {expr: unit_price * 2}
```
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from headwater.generators.base import FieldGen, GenContext, TypeEnv


class CrossEnv(TypeEnv, Protocol):
    """A type environment that also resolves fields of other entities."""

    def entity_field_type(self, entity: str, name: str) -> pa.DataType: ...


def _check_dotted(v: str) -> str:
    if v.count(".") != 1 or not all(v.split(".")):
        raise ValueError(f"expected 'entity.field', got '{v}'")
    return v


class Lookup(FieldGen):
    """`{lookup: products.price, via: product_id}`: the referenced row's current value."""

    name = "lookup"
    lookup: str = Field(description="entity.field to read")
    via: str = Field(description="a ref field of this entity pointing at that entity")

    @field_validator("lookup")
    @classmethod
    def _dotted(cls, v: str) -> str:
        return _check_dotted(v)

    @property
    def entity(self) -> str:
        return self.lookup.split(".")[0]

    @property
    def field(self) -> str:
        return self.lookup.split(".")[1]

    def depends(self) -> set[str]:
        return {self.via}

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return cast(CrossEnv, env).entity_field_type(self.entity, self.field)

    def generate(self, ctx: GenContext) -> pa.Array:
        raise NotImplementedError("the world reads the referenced rows")


class Aggregate(FieldGen):
    """An aggregate over the children (declared with `parent:`) of each row."""

    kind: ClassVar[str]

    @property
    def target(self) -> str:
        return str(getattr(self, self.kind))

    @property
    def entity(self) -> str:
        return self.target.split(".")[0]

    @property
    def field(self) -> str | None:
        parts = self.target.split(".")
        return parts[1] if len(parts) == 2 else None

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        if self.field is None:
            return pa.int64()
        value = cast(CrossEnv, env).entity_field_type(self.entity, self.field)
        if self.kind == "sum" and not (
            pa.types.is_integer(value) or pa.types.is_floating(value) or pa.types.is_decimal(value)
        ):
            raise ValueError(f"sum needs a numeric field; '{self.target}' is {value}")
        return aggregate(self.kind, np.zeros(0, np.int64), pa.array([], value), 0).type

    def generate(self, ctx: GenContext) -> pa.Array:
        raise NotImplementedError("the world reads the children")


def _entity_field(v: str, need_field: bool) -> str:
    parts = v.split(".")
    if len(parts) > 2 or not all(parts) or (need_field and len(parts) != 2):
        raise ValueError(
            f"expected 'child_entity.field'{'' if need_field else ' or child_entity'}, got '{v}'"
        )
    return v


class Sum(Aggregate):
    """`{sum: order_items.line_total}`: the sum over a row's children (0 without children)."""

    name = kind = "sum"
    sum: str

    @field_validator("sum")
    @classmethod
    def _target(cls, v: str) -> str:
        return _entity_field(v, True)


class Count(Aggregate):
    """`{count: order_items}` (every child) or `{count: order_items.note}` (non-null values)."""

    name = kind = "count"
    count: str

    @field_validator("count")
    @classmethod
    def _target(cls, v: str) -> str:
        return _entity_field(v, False)


class Min(Aggregate):
    """`{min: order_items.unit_price}`: the smallest child value (null without children)."""

    name = kind = "min"
    min: str

    @field_validator("min")
    @classmethod
    def _target(cls, v: str) -> str:
        return _entity_field(v, True)


class Max(Aggregate):
    """`{max: order_items.unit_price}`: the largest child value (null without children)."""

    name = kind = "max"
    max: str

    @field_validator("max")
    @classmethod
    def _target(cls, v: str) -> str:
        return _entity_field(v, True)


def aggregate(kind: str, groups: np.ndarray, values: pa.Array | None, n: int) -> pa.Array:
    """The aggregate per group 0..n-1 of `values` (row i in group groups[i]), nulls skipped,
    vectorized; sum and count are 0 for an empty group, min and max null."""
    if values is None:
        return pa.array(np.bincount(groups, minlength=n).astype(np.int64))
    func = "count" if kind == "count" else kind
    table = pa.table({"g": pa.array(groups, pa.int64()), "v": values})
    done = table.group_by("g").aggregate([("v", func)])
    where = np.full(n, -1, dtype=np.int64)
    where[done["g"].to_numpy()] = np.arange(done.num_rows)
    out = done[f"v_{func}"].combine_chunks().take(pa.array(where, mask=where < 0))
    if kind in ("sum", "count"):
        out = pc.fill_null(out, pa.scalar(0, out.type))
    return out


def lookup_problems(
    parents: dict[str, str | None],
    parsed: dict[str, dict[str, FieldGen]],
    entity: str,
    gen: FieldGen,
) -> list[tuple[tuple[Any, ...], str]]:
    """What makes a lookup or aggregate of entity unusable: (sub-path, message) pairs, given
    each entity's parent and parsed fields."""
    from headwater._plugins import suggest
    from headwater.generators.ref import Ref

    if not isinstance(gen, Lookup | Aggregate):
        return []
    target, sub = gen.entity, ("lookup",) if isinstance(gen, Lookup) else (gen.kind,)
    if target not in parsed:
        return [(sub, f"unknown entity '{target}'{suggest(target, list(parsed))}")]
    if isinstance(gen, Lookup):
        via = parsed[entity].get(gen.via)
        if via is not None and not (isinstance(via, Ref) and via.entity == target):
            return [(("via",), f"'{gen.via}' is not a ref to '{target}'")]
    elif parents.get(target) != entity:
        return [(sub, f"'{target}' is not a child of '{entity}' (declare it with parent:)")]
    fields = parsed[target]
    if gen.field is not None and gen.field not in fields:
        return [(sub, f"unknown field '{target}.{gen.field}'{suggest(gen.field, list(fields))}")]
    return []


def read_edges(parsed: dict[str, dict[str, FieldGen]]) -> dict[str, set[str]]:
    """'entity.field' → the 'entity.field's it reads, across entities (for cycle checks):
    an aggregate reads every field of its children, as any child change recomputes it."""
    graph: dict[str, set[str]] = {}
    for name, gens in parsed.items():
        for f, g in gens.items():
            reads = {f"{name}.{d}" for d in g.depends() if d in gens}
            if isinstance(g, Lookup):
                reads.add(f"{g.entity}.{g.field}")
            elif isinstance(g, Aggregate):
                reads |= {f"{g.entity}.{c}" for c in parsed.get(g.entity, {})}
            graph[f"{name}.{f}"] = reads
    return graph
