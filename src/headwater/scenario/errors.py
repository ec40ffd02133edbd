"""Pydantic validation errors → Problems with YAML paths, positions and suggestions."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from headwater._plugins import suggest
from headwater.errors import Problem
from headwater.scenario.yamlio import Document, Loc


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]
    return []


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at `loc` (to suggest its valid keys)."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return None
            current = info.annotation
        else:
            origin = typing.get_origin(current)
            if origin in (dict, list, typing.Union, types.UnionType):
                args = [a for a in typing.get_args(current) if a is not type(None)]
                current = args[-1] if origin is dict else args[0] if args else None
            else:
                return None
            if typing.get_origin(current) in (typing.Union, types.UnionType):
                found = _models_in(current)
                current = found[0] if found else current
    found = _models_in(current)
    return found[0] if found else None


def _message(err: dict[str, Any], owner: type[BaseModel] | None) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        key = loc[-1]
        valid = list(owner.model_fields) if owner else []
        valid = [owner.model_fields[k].alias or k for k in valid] if owner else []
        return f"unknown key '{key}'{suggest(str(key), valid)}"
    if kind == "missing":
        return "is required"
    msg = err["msg"]
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def problems(
    exc: ValidationError, doc: Document, base: Loc, model: type[BaseModel]
) -> list[Problem]:
    """One Problem per pydantic error, located in the YAML document."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
        )
        owner = _model_at(model, loc[:-1]) if err["type"] == "extra_forbidden" else None
        out.append(doc.problem(base + loc, _message(err, owner)))
    return out
