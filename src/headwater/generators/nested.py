"""Nested values for document and JSON outputs: objects (Arrow structs) and lists."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
from pydantic import BeforeValidator, Field, field_validator, model_validator

from headwater.core.spec import Spec
from headwater.generators.base import FieldGen, GenContext, TypeEnv


class _SubEnv:
    """Type environment inside an object: sibling sub-fields first, then the row's fields."""

    def __init__(self, outer: TypeEnv, fields: dict[str, FieldGen]):
        self.outer, self.fields = outer, fields

    def field_type(self, name: str) -> pa.DataType:
        if name in self.fields:
            return self.fields[name].arrow_type(self)
        return self.outer.field_type(name)

    def key_type(self, entity: str) -> pa.DataType:
        return self.outer.key_type(entity)


def _generator(spec: Any) -> FieldGen:
    """A sub-field's generator (its errors keep the sub-field's path)."""
    from headwater.generators import parse_field

    return spec if isinstance(spec, FieldGen) else parse_field(spec)


SubField = Annotated[Any, BeforeValidator(_generator)]


class Object(FieldGen):
    """`{object: {street: {fake: street_address}, city: {fake: city}}}` → a struct column."""

    name = "object"
    object: dict[str, SubField]

    @field_validator("object")
    @classmethod
    def _fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("expected a mapping of sub-field name → generator")
        return v

    def _subs(self) -> dict[str, FieldGen]:
        return self.object

    def depends(self) -> set[str]:
        inner = set(self._subs())
        return {d for g in self._subs().values() for d in g.depends()} - inner

    def references(self) -> set[str]:
        return {r for g in self._subs().values() for r in g.references()}

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        sub = _SubEnv(env, self._subs())
        return pa.struct([(k, g.arrow_type(sub)) for k, g in self._subs().items()])

    def generate(self, ctx: GenContext) -> pa.Array:
        columns = dict(ctx.columns)
        values = []
        for k, g in self._subs().items():
            columns[k] = g.column(replace(ctx, columns=columns))
            values.append(columns[k])
        return pa.StructArray.from_arrays(values, list(self._subs()))


class ListArgs(Spec):
    of: Any = Field(description="the generator of each element")
    min: int = Field(0, ge=0)
    max: int = Field(3, ge=0)

    @field_validator("of")
    @classmethod
    def _element(cls, v: Any) -> FieldGen:
        return _generator(v)

    @model_validator(mode="after")
    def _ordered(self) -> ListArgs:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class List(FieldGen):
    """`{list: {of: {fake: word}, min: 1, max: 5}}` → a list column with random lengths."""

    name = "list"
    list: ListArgs

    def depends(self) -> set[str]:
        return self.list.of.depends()

    def references(self) -> set[str]:
        return self.list.of.references()

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.list_(self.list.of.arrow_type(env))

    def generate(self, ctx: GenContext) -> pa.Array:
        lengths = ctx.rng.integers(self.list.min, self.list.max, ctx.n, endpoint=True)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        total = int(offsets[-1])
        owner = np.repeat(np.arange(ctx.n), lengths)
        columns = {
            k: v.take(pa.array(owner)) for k, v in ctx.columns.items() if k in self.depends()
        }
        times = ctx.event_time.take(pa.array(owner)) if ctx.event_time is not None else None
        sub = replace(ctx, n=total, event_time=times, columns=columns, parent_keys=None, position=0)
        return pa.ListArray.from_arrays(pa.array(offsets), self.list.of.column(sub))
