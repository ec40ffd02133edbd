"""The one exception family headwater raises for problems a user can fix.

    HeadwaterError
     ├── ScenarioError        a scenario file is wrong (carries every problem, each with its YAML path)
     ├── PluginError          an unknown generator / sink / fault name
     ├── MissingExtra         an optional client library is not installed (names the pip extra;
     │                        raised by `require()`)
     ├── SinkError            a sink failed while writing (names the sink)
     │    └── SinkUnavailable a sink's system cannot be reached (names the sink and address)
     └── VerifyError          verify could not read its ledger or target

The CLI turns any HeadwaterError into its message and exit code 2, without a traceback.
Every message is redacted when the error is made (headwater.secrets): whatever a driver's
error quoted, no known secret or URL credential reaches the user.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from headwater.secrets import redact


class HeadwaterError(Exception):
    """Base of every error a user can cause and fix."""

    def __init__(self, *args: Any):
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a scenario, located by its YAML path and position."""

    path: str
    message: str
    line: int | None = None
    col: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file and self.line:
            where = f"{self.file}:{self.line}:{self.col or 1}: "
        elif self.line:
            where = f"line {self.line}: "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class ScenarioError(HeadwaterError):
    """A scenario did not validate; `problems` lists all of them at once."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"invalid scenario: {self.problems[0]}"
        lines = [f"invalid scenario: {len(self.problems)} problems"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class PluginError(HeadwaterError):
    """An unknown plug-in name (generator, sink kind, fault)."""


class MissingExtra(HeadwaterError):
    """An optional client library is missing; the message names the extra to install."""

    def __init__(self, what: str, extra: str, module: str):
        self.extra = extra
        super().__init__(
            f"{what} needs the Python package '{module}', which is not installed: "
            f'pip install "headwater[{extra}]"'
        )


def require(module: str, extra: str, what: str, package: str | None = None) -> ModuleType:
    """Import an optional client library, or raise MissingExtra naming the pip extra (and
    `package`, the name pip knows it by: by default the module's top-level name)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(what, extra, package or module.split(".")[0]) from None


class SinkError(HeadwaterError):
    """A sink failed; the message starts with the sink's name."""

    def __init__(self, sink: str, message: str):
        self.sink = sink
        super().__init__(f"sink '{sink}': {message}")


class SinkUnavailable(SinkError):
    """A sink's system cannot be reached (down, refused, wrong address or credentials)."""


class VerifyError(HeadwaterError):
    """verify could not read its ledger or target."""
