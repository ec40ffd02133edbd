"""A DuckDB database file, attached read-only (tables named after entities, or `schema.table`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headwater.errors import VerifyError
from headwater.verify.targets._base import DatabaseFile, duckdb_error, literal, quote


class DuckDBTarget(DatabaseFile):
    kind = "duckdb"
    typed = True
    suffixes = (".duckdb", ".ddb")

    def __init__(self, spec: str, path: Path):
        super().__init__(spec, path)
        self.attached = False

    @classmethod
    def recognizes(cls, path: Path, head: bytes) -> bool:
        return head[8:12] == b"DUCK" or super().recognizes(path, head)

    def _attach(self, con: Any) -> None:
        if not self.attached:
            if not self.path.exists():
                raise VerifyError(f"--target: no DuckDB database at {self.path}")
            try:
                con.execute(f"ATTACH {literal(str(self.path))} AS tgt (READ_ONLY)").fetchall()
            except duckdb_error() as exc:
                raise VerifyError(f"--target: cannot open {self.path}: {exc}") from None
            self.attached = True

    def _tables(self, con: Any) -> list[tuple[str, str]]:
        self._attach(con)
        return con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = 'tgt'"
        ).fetchall()

    def names(self, con: Any) -> list[str]:
        return sorted(t if s == "main" else f"{s}.{t}" for s, t in self._tables(con))

    def relation(self, con: Any, table: str, view: str) -> bool:
        schema, _, name = table.rpartition(".")
        for s, t in self._tables(con):
            if t.lower() == name.lower() and (not schema or s.lower() == schema.lower()):
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM tgt.{quote(s)}.{quote(t)}"
                ).fetchall()
                return True
        return False

    def close(self, con: Any) -> None:
        if self.attached:
            con.execute("DETACH tgt").fetchall()
            self.attached = False
