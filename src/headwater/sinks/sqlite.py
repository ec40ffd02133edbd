"""SQLite as the application database: normalized tables, changes committed as transactions.

The embedded default OLTP sink: needs no server. DDL comes from the scenario (types,
primary keys, foreign keys enforced, indexes); each world transaction (an order with its
items) commits atomically; the snapshot loads in one transaction. Each commit also sets the
sink's row of `headwater_applied` to the last world transaction it holds, so the ledger can
tell after a crash which transactions were committed (headwater.ledger.proof).

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

import numpy as np
from pydantic import Field

from headwater.errors import SinkError
from headwater.ledger.proof import BOOKKEEPING
from headwater.sinks._sql import SQLITE, Statements, change_params, create_table
from headwater.sinks._sql_sink import bookkeeping_ddl
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
        self.db.execute(bookkeeping_ddl("TEXT", "TEXT"))
        self.db.execute(
            f"INSERT OR REPLACE INTO {BOOKKEEPING} VALUES (?, 0, 0, -1, NULL)", (self.name,)
        )
        self.db.execute("COMMIT")
        self.applied = -1  # the last world transaction committed (the snapshot's is 0)
        self.shown: dict[str, int] = {}

    def published(self) -> dict[str, int]:
        return dict(self.shown)

    def _commit(self, txn: int) -> None:
        """Commit, with the bookkeeping row naming the last world transaction committed."""
        self.db.execute(
            f"UPDATE {BOOKKEEPING} SET ordinal = ordinal + 1, txn = ? WHERE sink = ? AND lane = 0",
            (txn, self.name),
        )
        self.db.execute("COMMIT")
        self.applied = txn

    def write(self, changes: Changes) -> None:
        params = {
            e: change_params(self.stmts[e], t) for e, t in changes.tables.items() if e in self.stmts
        }
        per_step = self.config.commit == "step"
        txns = {e: changes.tables[e]["txn"].to_numpy() for e in params}
        if any(len(t) for t in txns.values()):
            self.announce({"sqlite": self.path, "sink": self.name, "entities": list(self.stmts)})
        last = self.applied
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
                last = int(txns[txn[0][0]][txn[0][1]])
                if not per_step:
                    self._commit(last)
            if per_step:
                self._commit(last)
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise SinkError(self.name, f"{self.path}: {exc}") from exc
        finally:  # what the committed transactions published
            for e, handed in txns.items():
                n = int(np.count_nonzero(handed <= self.applied))
                self.shown[e] = self.shown.get(e, 0) + n
        self.stats.add(changes)

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
