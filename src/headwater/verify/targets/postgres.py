"""A PostgreSQL database through psycopg (`postgresql://user@host/db`); tables read whole."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa

from headwater.errors import VerifyError, require
from headwater.verify import files as files_io
from headwater.verify.targets._base import Target, arrow_view, quote


class PostgresTarget(Target):
    """PostgreSQL through psycopg: each table is read whole into Arrow."""

    kind = "postgres"
    typed = True
    urls = ("postgres://", "postgresql://")

    def _connect(self) -> Any:
        psycopg = require("psycopg", "postgres", "verify --target postgresql://")
        try:
            return psycopg.connect(self.spec, connect_timeout=10)
        except psycopg.Error as exc:
            raise VerifyError(
                f"--target: cannot connect to PostgreSQL: {exc}"  # VerifyError redacts
            ) from None

    def names(self, con: Any) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
        return sorted(t if s == "public" else f"{s}.{t}" for s, t in rows)

    def relation(self, con: Any, table: str, view: str) -> bool:
        schema, _, name = table.rpartition(".")
        with self._connect() as db:
            found = db.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE lower(table_name) = lower(%s) AND (%s = '' OR lower(table_schema) = lower(%s)) "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY table_schema = 'public' DESC LIMIT 1",
                (name, schema, schema),
            ).fetchone()
            if found is None:
                return False
            cur = db.execute(f"SELECT * FROM {quote(found[0])}.{quote(found[1])}")
            cols = [d.name for d in cur.description or []]
            rows = cur.fetchall()
        arrow_view(
            con, view, pa.table({c: _column([r[i] for r in rows]) for i, c in enumerate(cols)})
        )
        return True


def _column(values: list[Any]) -> pa.Array:
    if any(isinstance(v, Decimal) for v in values):
        values = [float(v) if isinstance(v, Decimal) else v for v in values]
    return files_io.column(values)
