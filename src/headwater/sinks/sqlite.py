"""SQLite as the application database: normalized tables, changes committed as transactions.

The embedded default OLTP sink: needs no server. DDL comes from the scenario (types,
primary keys, foreign keys enforced, indexes); each world transaction (an order with its
items) commits atomically; the snapshot loads in one transaction. Each commit also sets the
sink's row of `headwater_applied` to the last world transaction it holds, so the ledger can
tell after a crash which transactions were committed (headwater.ledger.proof). A file already
at `path` is replaced only when a previous run made it (its PRAGMA application_id says so):
anything else there is the user's, and an error.

```yaml
sinks:
  app_db: {kind: sqlite, path: shop.db, entities: [customers, orders, order_items]}
```
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from headwater.errors import SinkError
from headwater.ledger.proof import BOOKKEEPING
from headwater.sinks._sql import SQLITE, Statements, change_params, create_table
from headwater.sinks._sql_names import SQLITE_NAMES, check_names
from headwater.sinks._sql_sink import bookkeeping_ddl
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import SQL_DATABASE
from headwater.world.changes import Changes

APPLICATION_ID = int.from_bytes(b"hwtr", "big")  # PRAGMA application_id of our databases
SQLITE_MAGIC = b"SQLite format 3\x00"  # how every SQLite database file starts
_FILE_NAME = "set path to a database file name, like app.db"


class SqliteConfig(SinkConfig):
    kind: Literal["sqlite"] = "sqlite"
    path: str = Field(
        "app.db", description="database file; relative paths are under the run's output folder"
    )
    if_exists: Literal["replace", "fail"] = Field(
        "replace",
        description="when the file exists: replace it if a previous run made it (anything "
        "else there is an error), or fail",
    )
    commit: Literal["transaction", "step"] = Field(
        "transaction",
        description="commit every world transaction (realistic) or once per step (faster)",
    )


class SqliteSink(Sink):
    kind = "sqlite"
    Config = SqliteConfig
    capabilities = SQL_DATABASE
    config: SqliteConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self._db: sqlite3.Connection | None = None  # set by open()

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "open() first"
        return self._db

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """A path that names a folder, and names SQLite cannot hold as tables and columns."""
        assert isinstance(config, SqliteConfig)
        problems = check_names(SQLITE_NAMES, config, context.schemas)
        path = Path(config.path)
        if (
            config.path.endswith(("/", os.sep))
            or path.name in ("", ".", "..")
            or (path.is_absolute() and path.is_dir())
        ):
            problems.append((("path",), f"{config.path} is a folder; {_FILE_NAME}"))
        return problems

    @property
    def path(self) -> Path:
        return self.resolve(self.config.path)

    def open(self) -> None:
        path = self.path
        if path.is_dir():
            raise SinkError(self.name, f"{path} is a folder; {_FILE_NAME}")
        if path.exists():
            if self.config.if_exists == "fail":
                raise SinkError(
                    self.name,
                    f"{path} already exists (set if_exists: replace, or choose another path)",
                )
            self._remove_own(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(
                self.name, f"cannot create the folder {path.parent} for {path}: {exc.strerror}"
            ) from None
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # Before WAL: the id goes into the file itself, where _remove_own reads it.
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
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
        self.db.execute(bookkeeping_ddl("TEXT", "TEXT", table=BOOKKEEPING))
        self.db.execute(
            f"INSERT OR REPLACE INTO {BOOKKEEPING} VALUES (?, 0, 0, -1, NULL, NULL)", (self.name,)
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

    def _remove_own(self, path: Path) -> None:
        """Delete the database a previous run made at `path` (and its WAL); anything else
        there is the user's, so an error instead."""
        try:
            with path.open("rb") as f:
                head = f.read(100)
        except OSError as exc:
            raise SinkError(self.name, f"cannot read {path}: {exc}") from None
        if head[:16] != SQLITE_MAGIC:
            what = "is not a SQLite database"
        elif int.from_bytes(head[68:72], "big") != APPLICATION_ID:
            what = "is a SQLite database headwater did not create"
        else:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        raise SinkError(
            self.name,
            f"{path} {what}, so if_exists: replace leaves it alone (it replaces only databases "
            "headwater made): move or delete it, or set path to another file",
        )

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
        if self._db is not None:
            self._db.close()
