"""String templates over other fields of the row: `SKU-{id:08d}`, `{first} {last}`.

```yaml
fields:
  id: {seq: {}}
  sku: {format: "SKU-{id:08d}"}
```
"""

from __future__ import annotations

import re
import string
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from headwater.generators.base import FieldGen, GenContext, TypeEnv

_SPEC = re.compile(
    r"^(?:(?P<zero>0)?(?P<width>\d+)?(?P<kind>d|x|X)|(?P<align>[<>])?(?P<swidth>\d+)?s?|\.(?P<prec>\d+)f)$"
)


def _parse(template: str) -> list[tuple[str, str | None, str]]:
    """[(literal, field or None, spec)], validating every spec against what we vectorize."""
    parts = []
    for literal, fname, spec, conv in string.Formatter().parse(template):
        if fname is not None:
            if not fname.isidentifier():
                raise ValueError(f"'{{{fname}}}' must name a field of the same entity")
            if conv:
                raise ValueError(f"conversion '!{conv}' is not supported in '{{{fname}!{conv}}}'")
            if not _SPEC.match(spec or ""):
                raise ValueError(
                    f"format spec ':{spec}' of '{fname}' is not supported; use d, 08d, x, .2f, >10, <10 or none"
                )
        parts.append((literal, fname, spec or ""))
    return parts


def _fixed_point(values: pa.Array, prec: int) -> pa.Array:
    """Floats as strings with exactly `prec` decimals, vectorized through integers."""
    x = pc.fill_null(pc.cast(values, pa.float64()), 0.0).to_numpy(zero_copy_only=False)
    scaled = np.round(np.abs(x) * 10**prec).astype(np.int64)
    whole = pa.array(scaled // 10**prec).cast(pa.string())
    sign = pa.array(np.where(x < 0, "-", ""))
    if prec == 0:
        return pc.binary_join_element_wise(sign, whole, "")
    frac = pc.utf8_lpad(pa.array(scaled % 10**prec).cast(pa.string()), prec, "0")
    return pc.binary_join_element_wise(sign, whole, ".", frac, "")


def render(values: pa.Array, spec: str) -> pa.Array:
    """One field formatted by a spec from the supported subset of Python's mini-language."""
    m = _SPEC.match(spec)
    assert m is not None
    if m.group("prec") is not None:
        return _fixed_point(values, int(m.group("prec")))
    if m.group("kind"):
        ints = pc.cast(values, pa.int64())
        if m.group("kind") in "xX":
            arr = ints.to_numpy(zero_copy_only=False)
            text = pa.array(np.char.mod("%x" if m.group("kind") == "x" else "%X", arr))
        else:
            text = pc.cast(ints, pa.string())
        width = int(m.group("width") or 0)
        return pc.utf8_lpad(text, width, "0" if m.group("zero") else " ") if width else text
    text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    width = int(m.group("swidth") or 0)
    if not width:
        return text
    return (
        pc.utf8_lpad(text, width, " ")
        if m.group("align") == ">"
        else pc.utf8_rpad(text, width, " ")
    )


class Format(FieldGen):
    """A str.format-style template filled from other fields, one vectorized join per row set."""

    name = "format"
    format: str

    @field_validator("format")
    @classmethod
    def _valid(cls, v: str) -> str:
        _parse(v)
        return v

    @cached_property
    def _parts(self) -> list[tuple[str, str | None, str]]:
        return _parse(self.format)

    def depends(self) -> set[str]:
        return {f for _, f, _ in self._parts if f}

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        return pa.string()

    def generate(self, ctx: GenContext) -> pa.Array:
        pieces: list[pa.Array | str] = []
        for literal, fname, spec in self._parts:
            if literal:
                pieces.append(literal)
            if fname:
                pieces.append(pc.fill_null(render(ctx.columns[fname], spec), ""))
        if not any(isinstance(p, pa.Array) for p in pieces):
            return pa.repeat(pa.scalar("".join(pieces)), ctx.n)
        return pc.binary_join_element_wise(*pieces, "")
