"""A database source: its schema, and the bounded queries profiling runs against it.

Each database module supplies the connection, identifier quoting and schema introspection;
the sampling queries here are plain SQL that SQLite, PostgreSQL and MySQL/MariaDB all accept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from headwater.errors import HeadwaterError
from headwater.init._sql import to_arrow
from headwater.init.model import Schema, Table


class Database(ABC):
    kind: str
    label: str  # the masked URL or the file: safe to show
    random = "random()"

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[Any]]:
        """Column names and rows of one query."""

    @abstractmethod
    def quote(self, name: str) -> str:
        """`name` as a quoted identifier."""

    @abstractmethod
    def schema(self) -> Schema: ...

    @abstractmethod
    def close(self) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of one query; a driver's error becomes a HeadwaterError naming the source."""
        return self._checked(sql, params)[1]

    def _checked(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[Any]]:
        try:
            return self.execute(sql, params)
        except HeadwaterError:
            raise
        except Exception as exc:
            raise HeadwaterError(f"{self.label}: {exc}") from None

    def count(self, table: Table) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {self.quote(table.name)}")[0][0])

    def sample(self, table: Table, limit: int, total: int) -> pa.Table:
        """At most `limit` rows picked at random (all of them when the table is that small)."""
        names = list(table.columns)
        cols = ", ".join(self.quote(c) for c in names)
        order = f" ORDER BY {self.random}" if total > limit else ""
        sql = f"SELECT {cols} FROM {self.quote(table.name)}{order} LIMIT {int(limit)}"
        _, rows = self._checked(sql)
        return to_arrow(names, rows)

    def children(self, table: Table, column: str) -> dict[int, int]:
        """How many parents have n children through `column`: {n: parents} (n ≥ 1)."""
        c, t = self.quote(column), self.quote(table.name)
        rows = self.query(
            f"SELECT n, COUNT(*) FROM (SELECT COUNT(*) AS n FROM {t} WHERE {c} IS NOT NULL "
            f"GROUP BY {c}) g GROUP BY n"
        )
        return {int(n): int(k) for n, k in rows}

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
