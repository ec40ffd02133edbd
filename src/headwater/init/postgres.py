"""A PostgreSQL database as a source (psycopg 3): tables of one schema (`?schema=`, default
public) from pg_catalog, with enum types, CHECK constraints, keys and indexes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from headwater.errors import require
from headwater.init._sql import OWN_TABLES, apply_check, column
from headwater.init._url import connect_failed, server_url
from headwater.init.database import Database
from headwater.init.model import ForeignKey, Schema, Table

_COLUMNS = """
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN t.typtype = 'e' THEN
         ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
       END
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
_CONSTRAINTS = """
SELECT c.contype, c.conkey, f.relname, fn.nspname = n.nspname,
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.i),
       c.confdeltype, pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
LEFT JOIN pg_class f ON f.oid = c.confrelid LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE c.conrelid = %s ORDER BY c.conname
"""
_INDEXES = """
SELECT i.indisunique, i.indkey::int2[] FROM pg_index i
WHERE i.indrelid = %s AND NOT i.indisprimary ORDER BY i.indexrelid
"""


class Postgres(Database):
    kind = "postgres"

    def __init__(self, url: str, password_env: str | None):
        psycopg = require("psycopg", "postgres", "init --from postgresql://…")
        self.url = server_url(url, password_env)
        self.label = self.url.masked
        self.namespace = self.url.params.get("schema", "public")
        args: dict[str, Any] = {
            "host": self.url.host,
            "port": self.url.port or 5432,
            "dbname": self.url.database or "postgres",
            "connect_timeout": 5,
            "autocommit": True,
        }
        if self.url.user:
            args["user"] = self.url.user
        if self.url.password is not None:
            args["password"] = self.url.password
        try:
            self.conn = psycopg.connect(**args)
        except Exception as exc:
            raise connect_failed(self.url, exc) from None
        self.conn.execute("SET default_transaction_read_only = on")
        self.conn.execute(f"SET search_path TO {self.quote(self.namespace)}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[Any]]:
        cur = self.conn.execute(sql, tuple(params) or None)
        return [d.name for d in cur.description or ()], cur.fetchall()

    def quote(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def close(self) -> None:
        self.conn.close()

    def schema(self) -> Schema:
        rows = self.query(
            "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.oid",
            [self.namespace],
        )
        tables = {name: self.table(oid, name) for oid, name in rows if not OWN_TABLES.match(name)}
        return Schema(tables, "postgres", self.label, namespace=self.namespace)

    def table(self, oid: int, name: str) -> Table:
        cols = self.query(_COLUMNS, [oid])
        by_num = {num: attname for num, attname, *_ in cols}
        t = Table(name, {})
        for _, attname, typ, notnull, labels in cols:
            t.columns[attname] = column(attname, typ, nullable=not notnull)
            t.columns[attname].choices = list(labels or [])
        for kind, conkey, ref, same_ns, ref_cols, deltype, definition in self.query(
            _CONSTRAINTS, [oid]
        ):
            names = [by_num[k] for k in conkey or []]
            if kind == "p":
                t.primary_key = names
            elif kind == "f" and same_ns:
                t.foreign_keys.append(ForeignKey(names, ref, list(ref_cols), deltype == "c"))
            elif kind == "u" and len(names) == 1:
                t.columns[names[0]].unique = True
            elif kind == "c":
                apply_check(t, definition)
        for unique, keys in self.query(_INDEXES, [oid]):
            names = [by_num[k] for k in keys if k in by_num]
            if unique and len(names) == 1:
                t.columns[names[0]].unique = True
            elif names and names not in t.indexes:
                t.indexes.append(names)
        return t
