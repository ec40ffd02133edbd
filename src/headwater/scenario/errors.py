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
