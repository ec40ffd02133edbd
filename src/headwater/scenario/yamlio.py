"""YAML → plain data plus the line/column of every path, with ${VAR} interpolation.

PyYAML's node tree keeps positions; building values ourselves lets every later error point
at `file:line:col` of the exact key that is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from headwater.errors import Problem, ScenarioError

Loc = tuple[str | int, ...]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Document:
    """Plain data from a YAML file, and where each path came from."""

    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    file: str | None = None
    unset: list[str] = field(default_factory=list)  # variables left as written (validation only)

    def problem(self, loc: Loc, message: str) -> Problem:
        line, col = self.position(loc)
        return Problem(dotted(loc), message, line, col, self.file)

    def position(self, loc: Loc) -> tuple[int | None, int | None]:
        loc = tuple(loc)
        while loc:
            if loc in self.positions:
                return self.positions[loc]
            loc = loc[:-1]
        return self.positions.get((), (None, None))


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def interpolate(
    text: str, env: Mapping[str, str] | None = None, unset: set[str] | None = None
) -> str:
    """Replace ${VAR} and ${VAR:-default}; an unset VAR without default is a KeyError, or,
    when `unset` is given (validation, which needs no secrets), is kept as written and noted."""
    env = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        if unset is not None:
            unset.add(name)
            return m.group(0)
        raise KeyError(name)

    return _VAR.sub(sub, text)


class _Builder:
    def __init__(self, file: str | None, env: Mapping[str, str] | None, keep_unset: bool = False):
        self.unset: set[str] | None = set() if keep_unset else None
        self.positions: dict[Loc, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.file = file
        self.env = env

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.positions[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node, loc)
                if key in out:
                    self.problems.append(
                        self._problem(loc + (key,), key_node, f"duplicate key '{key}'")
                    )
                out[key] = self.build(value_node, loc + (key,))
                self.positions[loc + (key,)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        return self.scalar(node, loc)

    def _problem(self, loc: Loc, node: yaml.Node, message: str) -> Problem:
        return Problem(
            dotted(loc), message, node.start_mark.line + 1, node.start_mark.column + 1, self.file
        )

    def scalar(self, node: yaml.Node, loc: Loc) -> Any:
        value = node.value
        if isinstance(value, str) and "${" in value:
            try:
                value = interpolate(value, self.env, self.unset)
            except KeyError as exc:
                self.problems.append(
                    self._problem(
                        loc,
                        node,
                        f"environment variable {exc.args[0]} is not set "
                        f"(set it, or give a default: ${{{exc.args[0]}:-value}})",
                    )
                )
                return None
            if node.style is None:  # plain scalar: re-resolve its type after substitution
                return yaml.safe_load(value) if value.strip() else None
            return value
        constructor = yaml.SafeLoader(stream="")
        try:
            return constructor.construct_object(node, deep=True)
        finally:
            constructor.dispose()


def load_yaml(
    text: str,
    file: str | None = None,
    env: Mapping[str, str] | None = None,
    keep_unset: bool = False,
) -> Document:
    """Parse YAML text; syntax errors and unset variables become a ScenarioError with positions."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ScenarioError(
            Problem("", f"YAML syntax error: {exc.problem}", line, col, file)
        ) from None
    if root is None:
        raise ScenarioError(
            Problem("", "the file is empty: a scenario needs at least 'entities'", 1, 1, file)
        )
    builder = _Builder(file, env, keep_unset)
    data = builder.build(root, ())
    if builder.problems:
        raise ScenarioError(builder.problems)
    return Document(data, builder.positions, file, sorted(builder.unset or ()))


def load_yaml_file(
    path: str | Path, env: Mapping[str, str] | None = None, keep_unset: bool = False
) -> Document:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario file {p}: {exc}") from None
    return load_yaml(text, str(p), env, keep_unset)
