"""Registries of plug-ins by name: built-ins are listed as import paths and loaded lazily."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from headwater.errors import PluginError

T = TypeVar("T")


def suggest(name: str, choices: Iterable[str]) -> str:
    """' — did you mean 'x'?' when a close name exists, else a list of the valid ones."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f" — did you mean '{close[0]}'?"
    return f" (expected one of: {', '.join(choices)})" if choices else ""


def either(names: Iterable[str]) -> str:
    """'a, b or c': names listed in a message, sorted."""
    names = sorted(names)
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def load(target: str) -> Any:
    """The object a 'module:attr' import path names, importing its module."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """Name → plug-in. `builtins` maps names to 'module:attr' so importing is deferred."""

    def __init__(self, what: str, builtins: dict[str, str]):
        self.what = what
        self._builtins = dict(builtins)
        self._loaded: dict[str, T] = {}

    def names(self) -> list[str]:
        return sorted(self._builtins)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._builtins

    def get(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        target = self._builtins.get(name)
        if target is None:
            raise PluginError(f"unknown {self.what} '{name}'{suggest(name, self.names())}")
        obj = load(target)
        self._loaded[name] = obj
        return obj
