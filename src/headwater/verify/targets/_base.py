"""What every verify target is: a landing place exposing one entity's table to DuckDB.

A target kind recognizes its own locations: a URL kind by its prefixes (`urls`), a database
file by its magic bytes or suffix (`DatabaseFile.recognizes`), a folder of files by the
suffixes of its data files (`FolderTarget.is_data_file`). `open_target` asks each kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from headwater.secrets import redact


class Target(ABC):
    """A landing place; `relation()` exposes one table of it to the DuckDB connection."""

    kind: ClassVar[str]
    typed: ClassVar[bool]  # column types are declared (a type mismatch is a pipeline bug)
    urls: ClassVar[tuple[str, ...]] = ()  # a spec starting with one of these is of this kind

    def __init__(self, spec: str):
        self.spec = spec

    @abstractmethod
    def names(self, con: Any) -> list[str]:
        """Tables (or file groups) the target has, for suggestions."""

    @abstractmethod
    def relation(self, con: Any, table: str, view: str) -> bool:
        """Create DuckDB view `view` over `table`; False when it does not exist."""

    def close(self, con: Any) -> None:  # noqa: B027 - optional hook
        """Release what open() took."""

    def describe(self) -> str:
        return f"{self.kind} {redact(self.spec)}"


class DatabaseFile(Target):
    """A database in one file (`kind:PATH`, or a path whose bytes or suffix say which)."""

    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: str, path: Path):
        super().__init__(spec)
        self.path = path

    @classmethod
    def recognizes(cls, path: Path, head: bytes) -> bool:
        """Whether the file at `path`, starting with `head` (16 bytes), is this kind's."""
        return path.suffix in cls.suffixes


def duckdb_error() -> type[Exception]:
    """DuckDB's errors (unreadable files, bad data) are the user's; anything else is a bug."""
    import duckdb

    return duckdb.Error


def quote(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def arrow_view(con: Any, view: str, table: pa.Table) -> None:
    """Expose rows read in Python as the DuckDB view `view`."""
    con.register(f"{view}_arrow", table)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_arrow").fetchall()
