"""A SQLite database file, read with the standard library (types come from the values)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa

from headwater.errors import VerifyError
from headwater.verify import files as files_io
from headwater.verify.targets._base import DatabaseFile, arrow_view, quote


class SqliteTarget(DatabaseFile):
    """SQLite, read with the standard library (types come from the values, as SQLite has)."""

    kind = "sqlite"
    typed = False

    def __init__(self, spec: str, path: Path):
        if not path.exists():
            raise VerifyError(f"--target: no SQLite database at {path}")
        super().__init__(spec, path)

    @classmethod
    def recognizes(cls, path: Path, head: bytes) -> bool:
        return head.startswith(b"SQLite format 3")  # `.db`, `.sqlite`…: the bytes say

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise VerifyError(f"--target: cannot open {self.path}: {exc}") from None

    def names(self, con: Any) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            return sorted(r[0] for r in rows)

    def relation(self, con: Any, table: str, view: str) -> bool:
        match = {n.lower(): n for n in self.names(con)}.get(table.lower())
        if match is None:
            return False
        db = self._connect()
        try:
            cur = db.execute(f"SELECT * FROM {quote(match)}")
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
        except sqlite3.Error as exc:
            raise VerifyError(f"--target: cannot read {match} from {self.path}: {exc}") from None
        finally:
            db.close()
        arrow_view(
            con,
            view,
            pa.table({c: files_io.column([r[i] for r in rows]) for i, c in enumerate(cols)}),
        )
        return True
