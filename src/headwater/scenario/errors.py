"""Pydantic validation errors → Problems with YAML paths, positions and suggestions."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from headwater._plugins import suggest
from headwater.errors import Problem
from headwater.scenario.yamlio import Document, Loc


@typing.runtime_checkable
class _StandIn(typing.Protocol):
    """A model class that stands for one built at first use (a sink's `faults:`, assembled
    from the fault registry): its keys are those of `built()`."""

    @classmethod
    def built(cls) -> type[BaseModel]: ...


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation.built() if isinstance(annotation, _StandIn) else annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]
    return []


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / Annotated[X, ...] / X | Y → the model in it, else the container type."""
    while typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        found = _models_in(annotation)
        if found:
            return found[0]
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        containers = [a for a in args if typing.get_origin(a) in (dict, list)]
        annotation = containers[0] if containers else args[0]
    return annotation


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc` (to suggest its valid keys)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    found = _models_in(_unwrap(current))
    return found[0] if found else None


# What pydantic's type errors expected, in the scenario language's words.
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true/false",
    "bool_parsing": "true/false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "date_type": "a date like 2026-01-01",
    "date_parsing": "a date like 2026-01-01",
    "date_from_datetime_parsing": "a date like 2026-01-01",
    "date_from_datetime_inexact": "a date like 2026-01-01",
    "datetime_type": "a timestamp like 2026-01-01T00:00:00Z",
    "datetime_parsing": "a timestamp like 2026-01-01T00:00:00Z",
    "decimal_type": "a decimal number",
    "decimal_parsing": "a decimal number",
    "finite_number": "a finite number",
    "none_required": "nothing (null)",
}


def shown(value: Any) -> str:
    """A value as the user wrote it, short enough for a message."""
    if isinstance(value, str):
        text = f"'{value}'"
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = str(value).lower()
    else:
        text = repr(value)
    return text if len(text) <= 60 else f"{text[:50]}…({len(text)} characters)"


def _expected(err: ErrorDetails, model: type[BaseModel], loc: tuple[Any, ...]) -> str | None:
    """What a type error expected ('a number'), or None for other errors."""
    kind = err["type"]
    if kind in ("literal_error", "enum"):
        return f"one of {err.get('ctx', {}).get('expected', '')}"
    if kind == "model_type":
        found = _model_at(model, loc)
        hint = getattr(found, "expected", None) if found else None
        if isinstance(hint, str):
            return hint
    return _EXPECTED.get(kind)


def _message(err: ErrorDetails, owner: type[BaseModel] | None) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        key = loc[-1]
        new = getattr(owner, "renamed", {}).get(key)  # a model's old spellings (README)
        if new is not None:
            return f'use `{new}:` instead of `{key}:` (renamed, see README "Renamed keys")'
        valid = list(owner.model_fields) if owner else []
        valid = [owner.model_fields[k].alias or k for k in valid] if owner else []
        return f"unknown key '{key}'{suggest(str(key), valid)}"
    if kind == "missing":
        return "is required"
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if msg.startswith("Input should be "):  # a constraint: 'Input should be greater than 0'
        return f"must be {msg.removeprefix('Input should be ')}, got {shown(err.get('input'))}"
    return msg


def _located(loc: tuple[Any, ...], data: Any, kind: str) -> tuple[Any, ...]:
    """The part of pydantic's location that exists in the YAML: union members ('int',
    'LateConfig') and keys a shorthand expanded to ('to', 'min') are left out."""
    out: list[Any] = []
    current = data
    for i, part in enumerate(loc):
        inside = (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        )
        if inside:
            current = current[part]
        elif not (kind == "missing" and i == len(loc) - 1 and isinstance(current, dict)):
            continue  # not in the YAML: a union member, or a key a shorthand expanded to
        out.append(part)
    return tuple(out)


def _at(data: Any, base: Loc) -> Any:
    for part in base:
        data = data[part]
    return data


def problems(
    exc: ValidationError, doc: Document, base: Loc, model: type[BaseModel]
) -> list[Problem]:
    """One Problem per wrong value, located in the YAML document. The errors of a union's
    members at one place become one message: 'expected a number or text, got [1]'."""
    data = _at(doc.data, base)
    expected: dict[tuple[Any, ...], list[str]] = {}
    given: dict[tuple[Any, ...], Any] = {}
    messages: dict[tuple[Any, ...], list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = _located(err["loc"], data, err["type"])
        what = _expected(err, model, loc)
        if what is not None:
            expected.setdefault(loc, [])
            if what not in expected[loc]:
                expected[loc].append(what)
            given.setdefault(loc, err.get("input"))
            continue
        owner = None
        if err["type"] == "extra_forbidden":  # pydantic's path also holds the index of a list
            owner = _model_at(model, err["loc"][:-1]) or _model_at(model, loc[:-1])  # of one
        message = _message(err, owner)
        if message not in messages.setdefault(loc, []):
            messages[loc].append(message)
    for loc, whats in expected.items():
        if loc not in messages:  # a specific error of one member says more than the others
            if "a number" in whats and "a whole number" in whats:
                whats.remove("a whole number")
            either = " or ".join([", ".join(whats[:-1]), whats[-1]] if len(whats) > 1 else whats)
            messages[loc] = [f"expected {either}, got {shown(given[loc])}"]
    return [doc.problem(base + loc, m) for loc, ms in messages.items() for m in ms]
