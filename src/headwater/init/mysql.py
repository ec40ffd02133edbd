"""A MySQL or MariaDB database as a source (PyMySQL): tables of the URL's database from
information_schema, with ENUM/SET values, CHECK constraints, keys and indexes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headwater.errors import HeadwaterError, require
from headwater.init._sql import OWN_TABLES, apply_check, column
from headwater.init._url import connect_failed, server_url
from headwater.init.database import Database
from headwater.init.model import ForeignKey, Schema, Table

_COLUMNS = (
    "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION"
)
_INDEXES = (
    "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY INDEX_NAME, SEQ_IN_INDEX"
)
_FOREIGN = (
    "SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
    "r.DELETE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
    "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
    "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME "
    "WHERE k.TABLE_SCHEMA = %s AND k.TABLE_NAME = %s AND k.REFERENCED_TABLE_SCHEMA = k.TABLE_SCHEMA "
    "ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
)
_CHECKS = (
    "SELECT c.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS c "
    "JOIN information_schema.TABLE_CONSTRAINTS t ON t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA "
    "AND t.CONSTRAINT_NAME = c.CONSTRAINT_NAME "
    "WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s AND t.CONSTRAINT_TYPE = 'CHECK'"
)


class Mysql(Database):
    kind = "mysql"
    random = "RAND()"

    def __init__(self, url: str, password_env: str | None):
        pymysql = require("pymysql", "mysql", "init --from mysql://…")
        self.url = server_url(url, password_env)
        self.label = self.url.masked
        if not self.url.database:
            raise HeadwaterError(f"--from: name the database in the URL: {self.label}/DATABASE")
        args: dict[str, Any] = {
            "host": self.url.host,
            "port": self.url.port or 3306,
            "user": self.url.user or "root",
            "password": self.url.password or "",
            "database": self.url.database,
            "connect_timeout": 5,
            "charset": "utf8mb4",
        }
        try:
            self.conn = pymysql.connect(**args)
        except Exception as exc:
            raise connect_failed(self.url, exc) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[Any]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            return [d[0] for d in cur.description or ()], list(cur.fetchall())

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def close(self) -> None:
        self.conn.close()

    def schema(self) -> Schema:
        db = self.url.database
        rows = self.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_TYPE = 'BASE TABLE' ORDER BY CREATE_TIME, TABLE_NAME",
            [db],
        )
        tables = {n: self.table(n) for (n,) in rows if not OWN_TABLES.match(n)}
        return Schema(tables, "mysql", self.label)

    def table(self, name: str) -> Table:
        db = self.url.database
        t = Table(name, {})
        for col, typ, nullable in self.query(_COLUMNS, [db, name]):
            t.columns[col] = column(col, typ, nullable=nullable == "YES")
        indexes: dict[str, tuple[bool, list[str]]] = {}
        for index, non_unique, col in self.query(_INDEXES, [db, name]):
            indexes.setdefault(index, (not non_unique, []))[1].append(col)
        fks: dict[str, ForeignKey] = {}
        for cname, col, ref, ref_col, rule in self.query(_FOREIGN, [db, name]):
            fk = fks.setdefault(cname, ForeignKey([], ref, [], rule == "CASCADE"))
            fk.columns.append(col)
            fk.ref_columns.append(ref_col)
        t.foreign_keys = list(fks.values())
        fk_indexes = [fk.columns for fk in t.foreign_keys]
        for index, (unique, cols) in indexes.items():
            if index == "PRIMARY":
                t.primary_key = cols
            elif unique and len(cols) == 1:
                t.columns[cols[0]].unique = True
            elif cols not in fk_indexes:  # InnoDB indexes every foreign key itself
                t.indexes.append(cols)
        try:
            checks = self.query(_CHECKS, [db, name])
        except HeadwaterError:  # a server before CHECK constraints (MySQL < 8.0.16)
            checks = []
        for (clause,) in checks:
            apply_check(t, clause)
        return t
