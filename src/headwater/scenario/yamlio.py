"""YAML → plain data plus the line/column of every path, with ${VAR} interpolation.

PyYAML's node tree keeps positions; building values ourselves lets every later error point
at `file:line:col` of the exact key that is wrong. Hostile input is refused while composing,
before it costs memory: files over MAX_BYTES, more than MAX_VALUES values once aliases are
expanded (alias bombs), nesting deeper than MAX_DEPTH (PyYAML would hit RecursionError).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from headwater.errors import Problem, ScenarioError
from headwater.secrets import (
    SECRET_NAME,
    is_credential,
    read_secret_file,
    remember,
    url_secrets,
)

Loc = tuple[str | int, ...]
_VAR = re.compile(r"\$\{(?:file:([^}]+)|([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?)\}")
_STD = "tag:yaml.org,2002:"
_COLLECTION_TAGS = {f"{_STD}{t}" for t in ("map", "seq", "omap", "pairs", "set")}
_INT64 = range(-(2**63), 2**63)
_LONG = re.compile(r"\S{81,}")
# PyYAML reads a plain key only up to 1024 characters; a longer one is a confusing syntax error
_LONG_KEY = re.compile(r"^[ \t]*(?:- )?([^\s:#][^:#\n]{1024,}):(?:[ \t]|$)", re.MULTILINE)


def clip(text: str) -> str:
    """Text for a message: every run of more than 80 non-blank characters is shortened."""
    return _LONG.sub(lambda m: f"{m.group()[:40]}…({len(m.group())} characters)", text)


#: `$${` writes a literal `${` (e.g. `$${price}` in a template): `$$` before `{` is one `$`
_ESCAPE = "$$"
_TOKEN = re.compile(re.escape(_ESCAPE) + r"(?=\{)|" + _VAR.pattern)


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
    """Replace ${VAR}, ${VAR:-default} and ${file:PATH} (a secret kept in a file); `$${`
    is a literal `${` (only there is `$$` an escape: `pa$$word` stays as written).

    Inside a URL (`scheme://…`) a value is percent-encoded for the part it lands in (user,
    password, path, query, fragment; a host or host list goes in as is), so a password with
    `@ / # ? :` stays a password instead of changing where the client connects. What lands
    in a password or a credential-named query parameter, any ${file:…} and any variable
    named like a secret are remembered, so no message shows them (headwater.secrets).

    An unset VAR without default is a KeyError, or, when `unset` is given (validation, which
    needs no secrets), is kept as written and noted; ${file:…} is then not read either. An
    unreadable or empty file raises OSError or ValueError.
    """
    env = os.environ if env is None else env
    tokens = list(_TOKEN.finditer(text))
    matches = [m for m in tokens if m.group(0) != _ESCAPE]
    parts = iter(_url_parts(text, matches))
    out, last = [], 0
    for m in tokens:
        out.append(text[last : m.start()])
        last = m.end()
        if m.group(0) == _ESCAPE:
            out.append("$")
            continue
        part, secret = next(parts)
        path, name, default = m.group(1), m.group(2), m.group(3)
        if path is not None:
            if unset is not None:
                out.append(m.group(0))
                continue
            value = read_secret_file(path)
        elif name in env:
            value = env[name]
            if secret or SECRET_NAME.search(name):
                remember(value)
            remember(*url_secrets(value))  # a whole URL from one variable: its credentials
        elif default is not None:
            value = default
        elif unset is not None:
            unset.add(name)
            out.append(m.group(0))
            continue
        else:
            raise KeyError(name)
        out.append(_encode(value, part))
    out.append(text[last:])
    return "".join(out)


#: where a URL starts: the text's start, or after a comma (a list of servers)
_SCHEME = re.compile(r"(?:^|(?<=,))\s*[A-Za-z][A-Za-z0-9+.-]*://")


def _url_parts(text: str, matches: list[re.Match[str]]) -> list[tuple[str | None, bool]]:
    """For each ${…} in `text`: the URL part it stands in (None outside a URL) and whether
    that part holds a credential (the password, a query parameter named like one)."""
    skeleton = list(text)
    for m in matches:  # delimiters inside ${…} (a default, a file path) are not the URL's
        skeleton[m.start() : m.end()] = "\0" * (m.end() - m.start())
    s = "".join(skeleton)
    heads = list(_SCHEME.finditer(s))
    if not heads or heads[0].start() != 0:
        return [(None, False)] * len(matches)
    out = []
    for m in matches:
        k = max(i for i, h in enumerate(heads) if h.start() <= m.start())
        stop = heads[k + 1].start() - 1 if k + 1 < len(heads) else len(s)
        out.append(_url_part(s[:stop], heads[k].end(), m.start()))
    return out


def _url_part(s: str, start: int, pos: int) -> tuple[str | None, bool]:
    """The part of the URL `s[start:]` (after its scheme) at `pos`, and if a credential."""
    if pos < start:
        return None, False
    end = min((i for c in "/?#" if (i := s.find(c, start)) >= 0), default=len(s))
    at = s.rfind("@", start, end)
    if pos < at:
        colon = s.find(":", start, at)
        return ("password", True) if 0 <= colon < pos else ("user", False)
    if pos < end:
        return "host", False
    fragment = s.find("#", end)
    if 0 <= fragment < pos:
        return "fragment", False
    query = s.find("?", end, fragment if fragment >= 0 else len(s))
    if 0 <= query < pos:
        name = s[max(s.rfind("&", query, pos), query) + 1 : pos].partition("=")[0]
        return "query", bool(SECRET_NAME.search(name))
    return "path", False


def _encode(value: str, part: str | None) -> str:
    if part is None or part == "host":
        return value
    return quote(value, safe="/" if part == "path" else "")


def _tag(tag: str) -> str:
    return tag.replace(_STD, "!!", 1)


class _Builder:
    def __init__(
        self,
        file: str | None,
        env: Mapping[str, str] | None,
        keep_unset: bool = False,
    ):
        self.unset: set[str] | None = set() if keep_unset else None
        self.positions: dict[Loc, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.file = file
        self.env = env

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
                if loc[:1] == ("sinks",) and is_credential(key, out[key]):
                    remember(out[key])  # e.g. a client setting `sasl.password: …`
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
        names = ""  # the variables substituted into this scalar, for messages without values
        if isinstance(value, str) and "${" in value:
            names = ", ".join(
                dict.fromkeys(m.group(0) for m in _VAR.finditer(value) if m.group(1) is None)
            )
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
            except OSError as exc:
                self.problems.append(
                    self._problem(
                        loc, node, f"cannot read the secret file {exc.filename}: {exc.strerror}"
                    )
                )
                return None
            except ValueError as exc:  # an empty secret file
                self.problems.append(self._problem(loc, node, str(exc)))
                return None
            if isinstance(node, yaml.ScalarNode) and node.style is not None:
                return value
            if not value.strip():
                return None
            # a plain scalar: re-resolve its type (int, bool…), never its structure
            tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
            node = yaml.ScalarNode(tag, value, node.start_mark, node.end_mark)
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
            shown = f"the value of {names}" if names else f"'{value}'"  # never a secret
            detail = "" if names else f": {exc}"
            self.problems.append(
                self._problem(loc, node, f"invalid {_tag(node.tag)} {shown}{detail}")
            )
            return None
        finally:
            constructor.dispose()
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            shown = f"the value of {names}" if names else str(value)
            self.problems.append(
                self._problem(
                    loc, node, f"{shown} is outside the 64-bit integer range headwater computes in"
                )
            )
            return None
        return value


_RESOLVER = yaml.resolver.Resolver()


def load_yaml(
    text: str,
    file: str | None = None,
    env: Mapping[str, str] | None = None,
    keep_unset: bool = False,
) -> Document:
    """Parse YAML text; a syntax error or input beyond the limits is a ScenarioError with its
    position. Problems in values (unset variables, duplicate keys, unsupported tags) are kept
    in `problems`, to be reported with the scenario's other problems."""
    root = _compose(text, file)
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
        if p.is_file() and p.stat().st_size > MAX_BYTES:
            raise ScenarioError(Problem("", _too_big(p.stat().st_size), None, None, str(p)))
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario file {p}: {exc}") from None
    return load_yaml(text, str(p), env, keep_unset)


# -- limits: refused while composing, before hostile input costs memory --------------------
MAX_BYTES = 16 * 1024 * 1024
MAX_VALUES = 100_000  # scalars, lists and mappings, counted as often as aliases repeat them
MAX_DEPTH = 100


class _Composer(yaml.SafeLoader):
    """PyYAML's composer, counting values (with alias expansions) and nesting as it goes."""

    def __init__(self, text: str, file: str | None):
        super().__init__(text)
        self.file = file
        self.depth = 0
        self.values = 0
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) → (values, height), once composed

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = self._compose(parent, index)
            if id(node) not in self.sizes:
                raise self._refuse(event, "an alias refers to the node that contains it")
            values, height = self.sizes[id(node)]
            self._count(event, values, self.depth + height, " once its aliases are expanded")
            return node
        self._count(event, 1, self.depth + 1, "")
        self.depth += 1
        try:
            node = self._compose(parent, index)
        finally:
            self.depth -= 1
        inner = [self.sizes[id(c)] for c in _children(node)]
        self.sizes[id(node)] = (
            1 + sum(v for v, _ in inner),
            1 + max((h for _, h in inner), default=0),
        )
        return node

    def _compose(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        # typeshed types `index` as int and the result as optional, but PyYAML passes None
        # or the key node as `index` and always returns a node (or raises)
        return super().compose_node(parent, index)  # type: ignore[arg-type, return-value]

    def _count(self, event: yaml.Event, values: int, depth: int, how: str) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise self._refuse(
                event,
                f"the YAML holds more than {MAX_VALUES:,} values{how}; a scenario needs far "
                "fewer: shorten it (and its aliases)",
            )
        if depth > MAX_DEPTH:
            raise self._refuse(
                event,
                f"the YAML nests more than {MAX_DEPTH} levels deep{how}; flatten it",
            )

    def _refuse(self, event: yaml.Event, message: str) -> ScenarioError:
        mark = event.start_mark  # the parser marks every event; a built one may have none
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        return ScenarioError(Problem("", message, line, col, self.file))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _compose(text: str, file: str | None) -> yaml.Node | None:
    """The node tree of a YAML text within the limits; syntax errors with positions."""
    if len(text) > MAX_BYTES:
        raise ScenarioError(Problem("", _too_big(len(text)), None, None, file))
    try:
        loader = _Composer(text, file)  # the reader checks the characters as it starts
    except yaml.YAMLError as exc:
        raise ScenarioError(_syntax_problem(exc, text, file)) from None
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ScenarioError(_syntax_problem(exc, text, file)) from None
    finally:
        loader.dispose()


def _too_big(size: int) -> str:
    return (
        f"the file has {size / 2**20:.1f} MB; a scenario may have at most "
        f"{MAX_BYTES // 2**20} MB: shorten it"
    )
