"""SQLite as the application database: normalized tables, changes committed as transactions.

The embedded default OLTP sink: needs no server. DDL comes from the scenario (types,
primary keys, foreign keys enforced, indexes); each world transaction (an order with its
items) commits atomically; the snapshot loads in one transaction.

```yaml
sinks:
  app_db: {kind: sqlite, path: shop.db, entities: [customers, orders, order_items]}
```
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Literal

from pydantic import Field

from headwater.errors import SinkError
from headwater.sinks._sql import SQLITE, Statements, change_params, create_table
from headwater.sinks.base import Sink, SinkConfig
from headwater.world.changes import Changes


class SqliteConfig(SinkConfig):
    kind: Literal["sqlite"] = "sqlite"
    path: str = Field(
        "app.db", description="database file; relative paths are under the run's output folder"
    )
    if_exists: Literal["replace", "fail"] = Field(
        "replace", description="what to do when the file already exists"
    )
    commit: Literal["transaction", "step"] = Field(
        "transaction",
        description="commit every world transaction (realistic) or once per step (faster)",
    )


class SqliteSink(Sink):
    kind = "sqlite"
    Config = SqliteConfig
    capabilities = frozenset({"transactions", "deletes", "updates", "foreign_keys", "sql"})
    config: SqliteConfig

    @property
    def path(self) -> Path:
        return self.resolve(self.config.path)

    def open(self) -> None:
        path = self.path
        if path.exists():
            if self.config.if_exists == "fail":
                raise SinkError(
                    self.name,
                    f"{path} already exists (set if_exists: replace, or choose another path)",
                )
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise SinkError(self.name, f"cannot open {path}: {exc}") from exc
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        schemas = self.schemas()
        self.stmts = {name: Statements.of(SQLITE, s) for name, s in schemas.items()}
        self.db.execute("BEGIN")
        for s in schemas.values():
            for stmt in create_table(SQLITE, s, schemas):
                self.db.execute(stmt)
        self.db.execute("COMMIT")

    def write(self, changes: Changes) -> None:
        params = {
            e: change_params(self.stmts[e], t) for e, t in changes.tables.items() if e in self.stmts
        }
        per_step = self.config.commit == "step"
        try:
            if per_step:
                self.db.execute("BEGIN")
            for txn in changes.transactions():
                if not per_step:
                    self.db.execute("BEGIN")
                for entity, start, stop in txn:
                    for sql, group in itertools.groupby(
                        params[entity][start:stop], key=lambda p: p[0]
                    ):
                        self.db.executemany(sql, [p for _, p in group])
                if not per_step:
                    self.db.execute("COMMIT")
            if per_step:
                self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise SinkError(self.name, f"{self.path}: {exc}") from exc
        self.stats.add(changes)

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
