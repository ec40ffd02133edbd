"""Derived fields: a small, safe expression language evaluated with Arrow compute kernels.

`{expr: "quantity * unit_price"}`, `{expr: "'VIP' if amount > 500 else 'regular'"}`,
`{expr: "concat(first_name, ' ', last_name)"}`. Python syntax, parsed once with `ast`; only
the operators and functions below are allowed, and whole columns are computed at once.

What only the data can make impossible is null, as in SQL engines without ANSI mode: a
division by zero, int() of a value beyond 64 bits, NaN or infinity. The same written as
constants (`x // 0`, `int(1e300)`) is a validation error.

```yaml
fields:
  quantity: {choice: {1: 7, 2: 2, 3: 1}}
  unit_price: {uniform: {min: 2, max: 50}, round: 2}
  line_total: {expr: "quantity * unit_price"}
  size: {expr: "'bulk' if quantity > 2 else 'single'"}
```
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import field_validator

from headwater.generators.base import FieldGen, GenContext, TypeEnv

Value = Any  # a pa.Array or a Python scalar


def _is_string(v: Value) -> bool:
    t = v.type if isinstance(v, pa.Array | pa.Scalar) else None
    return isinstance(v, str) or (
        t is not None and (pa.types.is_string(t) or pa.types.is_large_string(t))
    )


def _as_float(v: Value) -> Value:
    return pc.cast(v, pa.float64()) if isinstance(v, pa.Array) else float(v)


def _add(a: Value, b: Value) -> Value:
    if _is_string(a) or _is_string(b):
        return pc.binary_join_element_wise(_to_str(a), _to_str(b), "")
    return pc.add(a, b)


def _to_str(v: Value) -> Value:
    if isinstance(v, pa.Array):
        return v if _is_string(v) else pc.cast(v, pa.string())
    return str(v)


def _duration(unit_us: int) -> Callable[[Value], Value]:
    def make(v: Value) -> Value:
        us = (
            pc.cast(pc.multiply(_as_float(v), float(unit_us)), pa.int64())
            if isinstance(v, pa.Array)
            else int(v * unit_us)
        )
        return (
            pc.cast(us, pa.duration("us"))
            if isinstance(us, pa.Array)
            else pa.scalar(us, pa.duration("us"))
        )

    return make


def _is_int(v: Value) -> bool:
    return isinstance(v, int) or (isinstance(v, pa.Array) and pa.types.is_integer(v.type))


def _nonzero(b: Value) -> Value:
    """The divisor with zeros as null, so the quotient is null there."""
    if isinstance(b, pa.Array):
        return pc.if_else(pc.equal(b, 0), pa.scalar(None, b.type), b)
    return None if b == 0 else b


def _divide(a: Value, b: Value) -> Value:
    b = _nonzero(b)
    if b is None:
        return pa.scalar(None, pa.float64())
    return pc.divide(_as_float(a), _as_float(b))


def _floordiv(a: Value, b: Value) -> Value:
    out = pc.floor(_divide(a, b))
    return _int(out) if _is_int(a) and _is_int(b) else out


def _mod(a: Value, b: Value) -> Value:
    return pc.subtract(a, pc.multiply(_floordiv(a, b), b))


def _int(x: Value) -> Value:
    """Truncated to int64; null where that is impossible (NaN, infinity, beyond 64 bits)."""
    t = x.type if isinstance(x, pa.Array | pa.Scalar) else pa.array([x]).type
    if pa.types.is_integer(t):
        return pc.cast(x, pa.int64())
    if not pa.types.is_floating(t):
        return pc.cast(pc.trunc(x) if pa.types.is_decimal(t) else x, pa.int64())
    fits = pc.and_(pc.is_finite(x), pc.less(pc.abs(x), 2.0**63))
    return pc.cast(pc.if_else(fits, pc.trunc(x), pa.scalar(None, t)), pa.int64())


_BINOPS: dict[type, Callable[[Value, Value], Value]] = {
    ast.Add: _add,
    ast.Sub: pc.subtract,
    ast.Mult: pc.multiply,
    ast.Div: _divide,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: pc.power,
}
_CMP: dict[type, Callable[[Value, Value], Value]] = {
    ast.Eq: pc.equal,
    ast.NotEq: pc.not_equal,
    ast.Lt: pc.less,
    ast.LtE: pc.less_equal,
    ast.Gt: pc.greater,
    ast.GtE: pc.greater_equal,
}
_FUNCS: dict[str, Callable[..., Value]] = {
    "round": lambda x, n=0: pc.round(x, int(n)),
    "abs": pc.abs,
    "floor": pc.floor,
    "ceil": pc.ceil,
    "min": pc.min_element_wise,
    "max": pc.max_element_wise,
    "concat": lambda *xs: pc.binary_join_element_wise(*(_to_str(x) for x in xs), ""),
    "upper": pc.utf8_upper,
    "lower": pc.utf8_lower,
    "length": pc.utf8_length,
    "str": _to_str,
    "int": _int,
    "float": lambda x: pc.cast(x, pa.float64()),
    "coalesce": pc.coalesce,
    "if_else": pc.if_else,
    "is_null": pc.is_null,
    "hour": pc.hour,
    "day_of_week": pc.day_of_week,
    "date": lambda x: pc.cast(x, pa.date32()),
    "seconds": _duration(1_000_000),
    "minutes": _duration(60_000_000),
    "hours": _duration(3_600_000_000),
    "days": _duration(86_400_000_000),
}
_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Constant,
    ast.Load,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.UAdd,
    *_BINOPS,
    *_CMP,
)


MAX_DEPTH = 100  # levels of nesting; evaluation recurses once per level


def _depth(tree: ast.AST) -> int:
    """How deeply the tree nests, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node)]
    return deepest


def parse_expr(text: str) -> ast.Expression:
    """Parse and check an expression; raise ValueError naming what is not allowed."""
    nested = (
        f"the expression is too deeply nested (more than {MAX_DEPTH} levels, e.g. terms "
        "of one sum): split it over several fields"
    )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"invalid expression {text!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(nested) from None
    if _depth(tree) > MAX_DEPTH:
        raise ValueError(nested)
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(
                f"'{ast.unparse(node)}' is not allowed in an expression (no attributes, indexing or lambdas)"
            )
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
                name = ast.unparse(node.func)
                from headwater._plugins import suggest

                raise ValueError(f"unknown function '{name}'{suggest(name, _FUNCS)}")
            if node.keywords:
                raise ValueError(f"keyword arguments are not supported in '{ast.unparse(node)}'")
    _check_constants(tree)
    return tree


_ARITHMETIC_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowNotImplementedError,
    pa.ArrowTypeError,
    TypeError,
    ValueError,
    OverflowError,
    ZeroDivisionError,
)


def _check_constants(tree: ast.Expression) -> None:
    """What constants alone make impossible fails now, not as nulls while the world runs."""
    for node in ast.walk(tree):
        divides = isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.Div | ast.FloorDiv | ast.Mod
        )
        if divides and _constant(node.right) == 0:  # type: ignore[attr-defined]
            raise ValueError(f"division by zero in '{ast.unparse(node)}'")
        if isinstance(node, ast.Call) and node.func.id == "int" and len(node.args) == 1:  # type: ignore[attr-defined]
            value = _constant(node.args[0])
            if isinstance(value, float) and not (math.isfinite(value) and abs(value) < 2.0**63):
                raise ValueError(f"'{ast.unparse(node)}' is outside the 64-bit integer range")


def _constant(node: ast.AST) -> Any:
    """The value of a subexpression that reads no field, else None."""
    if names_in(node):
        return None
    try:
        value = _Eval({})(node)
    except _ARITHMETIC_ERRORS as exc:
        raise ValueError(f"cannot compute '{ast.unparse(node)}': {exc}") from None
    return value.as_py() if isinstance(value, pa.Scalar) else value


def names_in(tree: ast.AST) -> set[str]:
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


class _Eval:
    def __init__(self, columns: dict[str, pa.Array]):
        self.columns = columns

    def __call__(self, node: ast.AST) -> Value:
        method = getattr(self, f"_{type(node).__name__}")
        return method(node)

    def _Expression(self, node: ast.Expression) -> Value:
        return self(node.body)

    def _Constant(self, node: ast.Constant) -> Value:
        return node.value

    def _Name(self, node: ast.Name) -> Value:
        return self.columns[node.id]

    def _BinOp(self, node: ast.BinOp) -> Value:
        return _BINOPS[type(node.op)](self(node.left), self(node.right))

    def _UnaryOp(self, node: ast.UnaryOp) -> Value:
        v = self(node.operand)
        if isinstance(node.op, ast.Not):
            return pc.invert(v) if isinstance(v, pa.Array) else not v
        return (
            pc.negate(v)
            if isinstance(node.op, ast.USub) and isinstance(v, pa.Array)
            else (-v if isinstance(node.op, ast.USub) else v)
        )

    def _BoolOp(self, node: ast.BoolOp) -> Value:
        fn = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
        out = self(node.values[0])
        for v in node.values[1:]:
            out = fn(out, self(v))
        return out

    def _Compare(self, node: ast.Compare) -> Value:
        left, out = self(node.left), None
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = self(comp)
            part = _CMP[type(op)](left, right)
            out = part if out is None else pc.and_kleene(out, part)
            left = right
        return out

    def _IfExp(self, node: ast.IfExp) -> Value:
        return pc.if_else(self(node.test), self(node.body), self(node.orelse))

    def _Call(self, node: ast.Call) -> Value:
        return _FUNCS[node.func.id](*(self(a) for a in node.args))  # type: ignore[attr-defined]


def evaluate(tree: ast.Expression, columns: dict[str, pa.Array], n: int) -> pa.Array:
    out = _Eval(columns)(tree)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    if not isinstance(out, pa.Array):
        scalar = out if isinstance(out, pa.Scalar) else pa.scalar(out)
        out = pa.repeat(scalar, n)
    return out


class Expr(FieldGen):
    """A value computed from other fields of the same row (arithmetic, text, conditionals)."""

    name = "expr"
    expr: str

    @field_validator("expr")
    @classmethod
    def _valid(cls, v: str) -> str:
        parse_expr(v)
        return v

    @cached_property
    def _tree(self) -> ast.Expression:
        return parse_expr(self.expr)

    def depends(self) -> set[str]:
        return names_in(self._tree)

    def arrow_type(self, env: TypeEnv) -> pa.DataType:
        empty = {name: pa.array([], env.field_type(name)) for name in self.depends()}
        try:
            return evaluate(self._tree, empty, 0).type
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
            raise ValueError(f"expression {self.expr!r} does not type-check: {exc}") from None

    def generate(self, ctx: GenContext) -> pa.Array:
        return evaluate(self._tree, {k: ctx.columns[k] for k in self.depends()}, ctx.n)
