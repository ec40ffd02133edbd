"""What the postgres and mysql sinks share: config fields, connections and their lifecycle.

`SqlSink` keeps `connections` lanes (one connection each), reconnects with backoff, applies
planned world transactions lane by lane and resumes exactly after a disconnect through the
`headwater.headwater_applied` bookkeeping table. A server that comes back without
transactions it had confirmed (a crash with non-durable commits) fails the run: that is
checked whenever a lane reconnects and, for every lane, in `flush`. A driver module supplies
the hooks: connecting, the initial load, sending transactions, and telling a lost connection
from bad data.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater.core.units import Duration
from headwater.errors import SinkError, SinkUnavailable
from headwater.secrets import redact
from headwater.sinks._retry import Backoff, SqlRetry, renamed
from headwater.sinks._sql import DbUrl, PlannedTxn, TxnPlanner
from headwater.sinks._sql_names import NameRules, check_names
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import SQL_DATABASE
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema

# The bookkeeping table lives in its own schema (MariaDB/MySQL: database) `headwater`, apart
# from the application's tables, so a change capture of the application's schema or database
# (Debezium's schema.include.list / database.include.list, a publication FOR TABLES IN SCHEMA,
# a binlog reader of that database) never shows it; only a reader of every schema does.
BOOKKEEPING_SCHEMA = "headwater"
BOOKKEEPING_TABLE = "headwater_applied"
BOOKKEEPING = f"{BOOKKEEPING_SCHEMA}.{BOOKKEEPING_TABLE}"
BOOKKEEPING_SCHEMA_DDL = f"CREATE SCHEMA IF NOT EXISTS {BOOKKEEPING_SCHEMA}"
BOOKKEEPING_SCHEMA_FOUND = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s"


def no_bookkeeping_schema(url: DbUrl) -> str:
    """What to do when the sink's user may not create the bookkeeping schema."""
    user = url.user or "<user>"
    return (
        f"user '{user}' may not create the schema '{BOOKKEEPING_SCHEMA}' that holds headwater's "
        f"bookkeeping table on {url.masked}: create it once as an administrator (PostgreSQL: "
        f"CREATE SCHEMA {BOOKKEEPING_SCHEMA} AUTHORIZATION {user}; MariaDB/MySQL: CREATE "
        f"DATABASE {BOOKKEEPING_SCHEMA}; GRANT ALL ON {BOOKKEEPING_SCHEMA}.* TO '{user}')"
    )


# The comment of every table the sinks create: if_exists: replace drops only tables with it.
OWNED = "created by headwater; if_exists: replace drops it"

APPLIED = f"SELECT ordinal FROM {BOOKKEEPING} WHERE sink = %s AND lane = %s"


def bookkeeping_key(config: Any, url: DbUrl, sink: str) -> str:
    """A sink's `sink` value in the shared bookkeeping table: the schema (MariaDB/MySQL:
    database) its tables are in, then its name, so same-named sinks writing different
    schemas of one server keep their rows apart."""
    return f"{getattr(config, 'db_schema', None) or url.database or ''}.{sink}"


class SqlSinkConfig(SinkConfig):
    url_schemes: ClassVar[tuple[str, ...]] = ()
    url_example: ClassVar[str] = ""

    url: str = Field(description="driver URL; ${VAR} is read from the environment")
    password_env: str | None = Field(
        None, description="environment variable holding the password (instead of the URL)"
    )
    if_exists: Literal["replace", "fail", "attach"] = Field(
        "replace",
        description="tables already there: drop and recreate them (only tables an earlier run "
        "created), fail, or attach (they must match the scenario; their rows are removed)",
    )
    connections: int = Field(1, ge=1, le=64, description="concurrent connections applying changes")
    commit: Literal["transaction", "step"] = Field(
        "transaction",
        description="commit every world transaction (realistic) or once per step (faster)",
    )
    retry: SqlRetry = Field(
        default_factory=SqlRetry, description="reconnecting when the server is gone"
    )
    connect_timeout: Duration = Field(timedelta(seconds=5))

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return renamed(data, {"reconnect_for": "retry: {for: …}"})

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        scheme = v.split("://", 1)[0] if "://" in v else ""
        if scheme not in cls.url_schemes:  # the URL itself may hold a password: not echoed
            raise ValueError(f"expected a URL like {cls.url_example}, not {scheme or 'no'} scheme")
        return v


def password_hint(config: Any, var: str) -> str:
    if config.password_env:
        return f"check the environment variable {config.password_env} (password_env)"
    return f"set the password with password_env: {var} or ${{{var}}} in the URL"


def bookkeeping_ddl(text: str, timestamp: str, suffix: str = "", table: str = BOOKKEEPING) -> str:
    """The bookkeeping table (SQLite, which has no schemas, names its own `table`)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (sink {text}, lane INT, ordinal BIGINT"
        f" NOT NULL, txn BIGINT NOT NULL, committed_at {timestamp}, event_time_us BIGINT,"
        " PRIMARY KEY (sink, lane))" + suffix
    )


def type_family(t: pa.DataType) -> str:
    """The scenario type's family, for checking an existing column's type against it."""
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    for family, test in (
        ("bool", pa.types.is_boolean),
        ("int", pa.types.is_integer),
        ("float", pa.types.is_floating),
        ("timestamp", pa.types.is_timestamp),
        ("date", pa.types.is_date),
    ):
        if test(t):
            return family
    return "json"


@dataclass
class Lane:
    """One connection and where it stands."""

    index: int
    conn: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class SqlSink(Sink):
    """The shared lifecycle; subclasses set `driver` (the DB-API module) in `_import`."""

    capabilities = SQL_DATABASE
    config: SqlSinkConfig
    driver: Any
    #: The server settings that keep confirmed commits through a crash (for messages).
    durable_commits: ClassVar[str]
    names: ClassVar[NameRules]

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.lanes: list[Lane] = []  # set by open(), released by close()
        self.pool: ThreadPoolExecutor | None = None

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Entity and field names the database cannot hold (or that are its bookkeeping)."""
        return check_names(cls.names, config, context.schemas, reserved=(BOOKKEEPING_TABLE,))

    # -- driver hooks ----------------------------------------------------------------------
    def _import(self) -> Any:
        raise NotImplementedError

    def _check_url(self) -> None:
        """Refuse a URL the driver cannot use (after parsing)."""

    def _connect(self) -> Any:
        raise NotImplementedError

    def _closed(self, conn: Any) -> bool:
        raise NotImplementedError

    def _close_conn(self, conn: Any) -> None:
        conn.close()

    def _lost(self, lane: Lane, exc: BaseException) -> bool:
        """Whether `exc` means the connection is gone (reconnect) rather than bad data."""
        raise NotImplementedError

    def _retryable(self, lane: Lane, exc: BaseException) -> bool:
        """A deadlock or lock timeout the server rolled back: send the transactions again."""
        raise NotImplementedError

    def _rollback(self, lane: Lane) -> None:
        raise NotImplementedError

    def _setup(self, conn: Any, schemas: dict[str, EntitySchema]) -> None:
        """Prepare the tables and bookkeeping on the first connection."""
        raise NotImplementedError

    def _read_applied(self, lane: Lane) -> Any:
        raise NotImplementedError

    def _load_txn(self, lane: Lane, tables: dict[str, pa.Table], marker: PlannedTxn) -> None:
        raise NotImplementedError

    def _load_failed(self, lane: Lane) -> None:
        """The initial load failed on a live connection (before reporting it)."""

    def _params(self, changes: Changes) -> Any:
        raise NotImplementedError

    def _send(self, lane: Lane, txns: list[PlannedTxn], params: Any, per_step: bool) -> None:
        raise NotImplementedError

    def _applied_after_error(self, lane: Lane) -> int | None:
        raise NotImplementedError

    def _describe(self, exc: BaseException) -> str:
        """A failed statement's message, scrubbed, with the table when the driver knows it."""
        return f" failed on {self.url.masked} and was rolled back: {redact(str(exc), self.url.password)}"

    # -- connecting ------------------------------------------------------------------------
    def _reconnect(self, lane: Lane, cause: BaseException) -> None:
        """Reconnect with backoff after the server went away; SinkUnavailable when time is up."""
        backoff = Backoff(self.config.retry)
        with self._stats_lock:
            self.stats.extra["reconnects"] = self.stats.extra.get("reconnects", 0) + 1
        if lane.conn is not None:
            self._close_conn(lane.conn)
            lane.conn = None
        last: BaseException = cause
        while backoff.sleep():
            try:
                lane.conn = self._connect()
                return
            except SinkUnavailable as exc:
                last = exc
        raise SinkUnavailable(
            self.name,
            f"{self.url.masked} went away and did not come back within "
            f"{self.config.retry.for_}: {redact(str(last), self.url.password)}",
        )

    def _err(self, exc: BaseException, doing: str) -> SinkError:
        return SinkError(
            self.name, f"{doing} on {self.url.masked}: {redact(str(exc), self.url.password)}"
        )

    def _ensure(self, lane: Lane) -> bool:
        """Reconnect a closed connection; whether it did (what it committed must be read)."""
        if lane.conn is None or self._closed(lane.conn):
            self._reconnect(lane, ConnectionError("connection closed"))
            return True
        return False

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.driver = self._import()
        try:
            self.url = DbUrl.parse(self.config.url, password_env=self.config.password_env)
        except ValueError as exc:
            raise SinkError(self.name, str(exc)) from None
        self.book = bookkeeping_key(self.config, self.url, self.name)
        self._check_url()
        self._stats_lock = threading.Lock()
        self.stats.extra.update(
            {"reconnects": 0, "resent": 0, "confirmed_after_reconnect": 0, "connections": 0}
        )
        schemas = self.schemas()
        self.targets = set(schemas)
        self.lanes = [Lane(i) for i in range(self.config.connections)]
        self.sent = [0] * len(self.lanes)  # transactions handed to each lane so far
        self.confirmed = [0] * len(self.lanes)  # the last one the server confirmed, per lane
        self.lanes[0].conn = self._connect()
        self._setup(self.lanes[0].conn, schemas)
        for lane in self.lanes[1:]:
            lane.conn = self._connect()
        self.stats.extra["connections"] = len(self.lanes)
        self.pool = (
            ThreadPoolExecutor(len(self.lanes), thread_name_prefix=f"hw-{self.name}")
            if len(self.lanes) > 1
            else None
        )
        self.planner = TxnPlanner(schemas, len(self.lanes))

    def _refuse_or_check(
        self,
        schemas: dict[str, EntitySchema],
        existing: dict[str, str | None],
        where: str,
        check: Any,
    ) -> list[str]:
        """The scenario's tables already there (`existing`: table → its comment); raises for
        if_exists: fail, for replace when headwater did not make one, or attach misfits."""
        present = [e for e in schemas if e in existing]
        mode = self.config.if_exists
        if mode == "fail" and present:
            raise SinkError(
                self.name,
                f"table(s) {', '.join(present)} already exist in {where} "
                "(set if_exists: replace to recreate them, or attach to use them)",
            )
        foreign = [e for e in present if existing[e] != OWNED]
        if mode == "replace" and foreign:
            raise SinkError(
                self.name,
                f"table(s) {', '.join(foreign)} in {where} were not created by headwater, so "
                "if_exists: replace leaves them alone: drop or rename them, use another "
                "database, or set if_exists: attach to write into them (their rows are removed)",
            )
        if mode == "attach":
            problems = [f"table {e} does not exist" for e in schemas if e not in existing]
            for e in present:
                problems += check(schemas[e])
            if problems:
                raise SinkError(
                    self.name,
                    f"cannot attach to {where}: the tables do not match the scenario:\n  - "
                    + "\n  - ".join(problems),
                )
        return present

    def write(self, changes: Changes) -> None:
        tables = {e: t for e, t in changes.tables.items() if e in self.targets and t.num_rows}
        if not tables:
            return
        snapshot = {e: t for e, t in tables.items() if pc.all(pc.equal(t["op"], "r")).as_py()}
        if snapshot:
            self._load(snapshot)
        rest = {e: t for e, t in tables.items() if e not in snapshot}
        if rest:
            self._apply(Changes(changes.step, changes.start_us, changes.end_us, rest))
        self.stats.add(Changes(changes.step, changes.start_us, changes.end_us, tables))

    def flush(self) -> None:
        """Every lane's transactions are still there: a crash can lose the latest ones."""
        for lane in self.lanes:
            with lane.lock:
                while True:
                    try:
                        self._ensure(lane)
                        self._resume(lane)
                        break
                    except self.driver.Error as exc:
                        if not self._lost(lane, exc):
                            raise self._err(exc, f"reading {BOOKKEEPING}") from None
                        self._reconnect(lane, exc)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        for lane in self.lanes:
            if lane.conn is not None:
                self._close_conn(lane.conn)
                lane.conn = None

    # -- bookkeeping -----------------------------------------------------------------------
    def _applied(self, lane: Lane) -> int:
        row = self._read_applied(lane)
        if row is None:
            raise self._no_row(lane)
        return int(row[0])

    def _no_row(self, lane: Lane) -> SinkError:
        return SinkError(
            self.name,
            f"the bookkeeping row of connection {lane.index} in {BOOKKEEPING} disappeared; "
            "another run may be writing to the same tables",
        )

    def _resume(self, lane: Lane) -> int:
        """The lane's last committed ordinal; a SinkError when the server lost confirmed ones."""
        confirmed, row = self.confirmed[lane.index], self._read_applied(lane)
        if row is None and not confirmed:
            raise self._no_row(lane)
        done = 0 if row is None else int(row[0])  # no row: lost with the tables' setup
        if done < confirmed:
            n = confirmed - done
            raise SinkError(
                self.name,
                f"{self.url.masked} lost {n} committed transaction{'s' if n > 1 else ''} of "
                f"connection {lane.index}: it had confirmed number {confirmed} on that "
                f"connection but holds only up to {done}"
                + (f" (its row in {BOOKKEEPING} is gone)" if row is None else "")
                + ". It crashed or was restored and its commits are not durable, so the tables"
                f" miss changes this run published. Make commits durable ({self.durable_commits})"
                " and run again",
            )
        self.confirmed[lane.index] = done
        return done

    # -- initial load ----------------------------------------------------------------------
    def _load(self, tables: dict[str, pa.Table]) -> None:
        """The snapshot in one transaction, counted as one on lane 0."""
        lane = self.lanes[0]
        txn = max(int(pc.max(t["txn"]).as_py()) for t in tables.values())
        self.sent[0] += 1
        marker = PlannedTxn(txn, [], 0, 0, self.sent[0])
        while True:
            try:
                self._ensure(lane)
                if self._resume(lane) >= marker.ordinal:
                    return  # committed before the connection dropped
                self._load_txn(lane, tables, marker)
                self.confirmed[0] = marker.ordinal
                return
            except self.driver.Error as exc:
                if not self._lost(lane, exc):
                    self._load_failed(lane)
                    raise self._err(exc, "loading the initial rows") from None
                self._reconnect(lane, exc)

    # -- transactions ----------------------------------------------------------------------
    def _apply(self, changes: Changes) -> None:
        params = self._params(changes)
        per_step = self.config.commit == "step"
        for phase in self.planner.plan(changes):
            if self.pool is None:
                self._run_lane(
                    self.lanes[0], TxnPlanner.by_lane(phase, self.sent)[0], params, per_step
                )
                continue
            futures = [
                self.pool.submit(self._run_lane, self.lanes[i], txns, params, per_step)
                for i, txns in TxnPlanner.by_lane(phase, self.sent).items()
            ]
            errors = [f.exception() for f in futures]
            for exc in errors:
                if exc is not None:
                    raise exc

    def _run_lane(self, lane: Lane, txns: list[PlannedTxn], params: Any, per_step: bool) -> None:
        """Send this connection's transactions in order; after a disconnect, resume exactly."""
        with lane.lock:
            pending, check, conflicts = txns, False, 0
            while pending:
                try:
                    if self._ensure(lane) or check:  # which unconfirmed ones did commit?
                        done = self._resume(lane)
                        left = [t for t in pending if t.ordinal > done]
                        with self._stats_lock:
                            self.stats.extra["confirmed_after_reconnect"] += len(pending) - len(
                                left
                            )
                            self.stats.extra["resent"] += len(left)
                        pending, check = left, False
                        if not pending:
                            break
                    self._send(lane, pending, params, per_step)
                    self.confirmed[lane.index] = pending[-1].ordinal
                    pending = []
                except self.driver.Error as exc:
                    if self._retryable(lane, exc) and conflicts < 5:
                        conflicts += 1  # deadlock or lock timeout: roll back, resend
                        self._rollback(lane)
                    elif self._lost(lane, exc):
                        self._reconnect(lane, exc)
                    else:
                        raise self._data_error(lane, exc, pending) from None
                    check = True

    def _data_error(self, lane: Lane, exc: BaseException, pending: list[PlannedTxn]) -> SinkError:
        """A statement failed (constraint, type): roll back and say which transaction."""
        done = self._applied_after_error(lane)
        failed = next((t.txn for t in pending if done is not None and t.ordinal > done), None)
        which = f"world transaction {failed}" if failed is not None else "a transaction"
        return SinkError(self.name, which + self._describe(exc))
