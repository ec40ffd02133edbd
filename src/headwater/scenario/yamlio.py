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
_STD = "tag:yaml.org,2002:"
_COLLECTION_TAGS = {f"{_STD}{t}" for t in ("map", "seq", "omap", "pairs", "set")}
_INT64 = range(-(2**63), 2**63)
_LONG = re.compile(r"\S{81,}")
# PyYAML reads a plain key only up to 1024 characters; a longer one is a confusing syntax error
_LONG_KEY = re.compile(r"^[ \t]*(?:- )?([^\s:#][^:#\n]{1024,}):(?:[ \t]|$)", re.MULTILINE)


def clip(text: str) -> str:
    """Text for a message: every run of more than 80 non-blank characters is shortened."""
    return _LONG.sub(lambda m: f"{m.group()[:40]}…({len(m.group())} characters)", text)


@dataclass
class Document:
    """Plain data from a YAML file, and where each path came from."""

    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    file: str | None = None
    unset: list[str] = field(default_factory=list)  # variables left as written (validation only)
    problems: list[Problem] = field(default_factory=list)  # duplicate keys, unset variables…

    def problem(self, loc: Loc, message: str) -> Problem:
        line, col = self.position(loc)
        return Problem(clip(dotted(loc)), clip(message), line, col, self.file)

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


def _tag(tag: str) -> str:
    return tag.replace(_STD, "!!", 1)


class _Builder:
    def __init__(
        self,
        file: str | None,
        env: Mapping[str, str] | None,
        keep_unset: bool = False,
        substitute: bool = True,
    ):
        self.unset: set[str] | None = set() if keep_unset else None
        self.positions: dict[Loc, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.file = file
        self.env = env
        self.substitute = substitute

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.positions[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS:
            self.problems.append(
                self._problem(loc, node, f"unsupported YAML tag '{_tag(node.tag)}'")
            )
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(
                        self._problem(loc, key_node, "a key must be text, not a list or mapping")
                    )
                    continue
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
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        return Problem(clip(dotted(loc)), clip(message), line, col, self.file)

    def scalar(self, node: yaml.Node, loc: Loc) -> Any:
        value = node.value
        if self.substitute and isinstance(value, str) and "${" in value:
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
                return self._substituted(value, node, loc) if value.strip() else None
            return value
        if node.tag == f"{_STD}value":  # YAML 1.1 gives a lone `=` a tag nothing constructs
            return value
        if node.tag == f"{_STD}merge":
            self.problems.append(self._problem(loc, node, "merge keys (<<) are not supported"))
            return None
        constructor = yaml.SafeLoader(stream="")
        try:
            value = constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            self.problems.append(
                self._problem(loc, node, f"unsupported YAML tag '{_tag(node.tag)}'")
            )
            return None
        except ValueError as exc:  # `2026-02-30`, `!!int x`: resolved as a type it is not
            self.problems.append(
                self._problem(loc, node, f"invalid {_tag(node.tag)} '{value}': {exc}")
            )
            return None
        finally:
            constructor.dispose()
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            self.problems.append(
                self._problem(
                    loc, node, f"{value} is outside the 64-bit integer range headwater computes in"
                )
            )
            return None
        return value

    def _substituted(self, text: str, node: yaml.Node, loc: Loc) -> Any:
        """A plain scalar after ${VAR} substitution, read as YAML again (so `${PORT}` is a
        number); problems point at the scalar and never show the variable's value."""
        names = ", ".join(dict.fromkeys(f"${{{m.group(1)}}}" for m in _VAR.finditer(node.value)))
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            reason = getattr(exc, "problem", None) or "unreadable"
            self.problems.append(
                self._problem(
                    loc,
                    node,
                    f"the value of {names} is not valid YAML here ({reason}); "
                    f"quote the scalar to use it as text",
                )
            )
            return None
        inner = _Builder(self.file, None, substitute=False)
        value = inner.build(root, ()) if root is not None else None
        if inner.problems:  # their messages would quote the value, which may be a secret
            self.problems.append(
                self._problem(
                    loc,
                    node,
                    f"the value of {names} is not usable here (an unsupported tag, a number "
                    "beyond 64 bits or a repeated key); quote the scalar to use it as text",
                )
            )
            return None
        return value


def load_yaml(
    text: str,
    file: str | None = None,
    env: Mapping[str, str] | None = None,
    keep_unset: bool = False,
) -> Document:
    """Parse YAML text; a syntax error is a ScenarioError with its position. Problems in values
    (unset variables, duplicate keys, unsupported tags) are kept in `problems`, to be reported
    with the scenario's other problems."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(_syntax_problem(exc, text, file)) from None
    if root is None:
        raise ScenarioError(
            Problem("", "the file is empty: a scenario needs at least 'entities'", 1, 1, file)
        )
    builder = _Builder(file, env, keep_unset)
    data = builder.build(root, ())
    return Document(data, builder.positions, file, sorted(builder.unset or ()), builder.problems)


def _syntax_problem(exc: yaml.YAMLError, text: str, file: str | None) -> Problem:
    """The clearest account of why the text is not YAML, where it can be placed."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        escape = f"\\u{char:04x}" if char <= 0xFFFF else f"\\U{char:08x}"
        return Problem(
            "",
            f"the character U+{char:04X} is not allowed in YAML: remove it, or write it as "
            f"{escape} in a double-quoted string",
            *_line_col(text, exc.position),
            file,
        )
    mark = getattr(exc, "problem_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    long = _LONG_KEY.search(text, 0, _offset(text, line))
    if long:
        return Problem(
            "",
            f"the key {clip(long.group(1).strip())} is longer than 1024 characters, YAML's "
            "limit for a key: use a shorter name",
            *_line_col(text, long.start(1)),
            file,
        )
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return Problem("", f"YAML syntax error: {reason}", line, col, file)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _offset(text: str, line: int | None) -> int:
    """Where the line after `line` starts (the whole text when unknown)."""
    if line is None:
        return len(text)
    pos = 0
    for _ in range(line):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return len(text)
    return pos


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
