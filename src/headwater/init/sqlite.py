"""A SQLite database as a source, opened read-only: tables, keys, indexes and CHECKs from
its catalogue (PRAGMA functions) and the CREATE TABLE text."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headwater.errors import HeadwaterError
from headwater.init._sql import OWN_TABLES, apply_check, check_clauses, column
from headwater.init.database import Database
from headwater.init.model import ForeignKey, Schema, Table


def sqlite_path(source: str) -> Path:
    """`sqlite:///relative.db`, `sqlite:////abs.db` (SQLAlchemy's spelling), `sqlite:PATH`."""
    rest = source[len("sqlite:") :]
    return Path(rest[3:] if rest.startswith("///") else rest)


class Sqlite(Database):
    kind = "sqlite"

    def __init__(self, path: Path):
        self.label = str(path)
        if not path.is_file():
            raise HeadwaterError(f"--from: no SQLite database at {path}")
        try:
            self.conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as exc:
            raise HeadwaterError(f"--from: {path} is not a SQLite database ({exc})") from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[Any]]:
        cur = self.conn.execute(sql, tuple(params))
        return [d[0] for d in cur.description or ()], cur.fetchall()

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def close(self) -> None:
        self.conn.close()

    def schema(self) -> Schema:
        tables: dict[str, Table] = {}
        rows = self.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
        )
        for name, ddl in rows:
            if not OWN_TABLES.match(name):
                tables[name] = self.table(name, ddl or "")
        return Schema(tables, "sqlite", self.label)

    def table(self, name: str, ddl: str) -> Table:
        info = self.query('SELECT name, type, "notnull", pk FROM pragma_table_info(?)', [name])
        t = Table(name, {c: column(c, typ or "", nullable=not nn) for c, typ, nn, _ in info})
        t.primary_key = [c for c, *_, pk in sorted(info, key=lambda r: r[3]) if pk]
        fks: dict[int, ForeignKey] = {}
        for fid, parent, src, dst, on_delete in self.query(
            'SELECT id, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?) '
            "ORDER BY id, seq",
            [name],
        ):
            fk = fks.setdefault(fid, ForeignKey([], parent, [], on_delete.upper() == "CASCADE"))
            fk.columns.append(src)
            if dst is not None:
                fk.ref_columns.append(dst)
        t.foreign_keys = list(fks.values())
        for index, unique, origin in self.query(
            'SELECT name, "unique", origin FROM pragma_index_list(?)', [name]
        ):
            if origin == "pk":
                continue
            cols = [r[0] for r in self.query("SELECT name FROM pragma_index_info(?)", [index])]
            if unique and len(cols) == 1:
                t.columns[cols[0]].unique = True
            elif cols:
                t.indexes.append(cols)
        for clause in check_clauses(ddl):
            apply_check(t, clause)
        return t
