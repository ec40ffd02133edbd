"""MariaDB/MySQL change capture: the row-based binlog, read with mysql-replication.

The reader registers as a replica (`server_id`, derived from the capture's name unless
given) and reads row events (write/update/delete, with full before and after images and
column names, which need binlog_format=ROW, binlog_row_image=FULL and
binlog_row_metadata=FULL), grouped into transactions by their GTID event and closed by
their XID event. It polls in non-blocking mode: at the end of the log the server closes the
dump and the next poll reopens it from where the last whole transaction ended.

Snapshot: `START TRANSACTION WITH CONSISTENT SNAPSHOT` then MariaDB's
`binlog_snapshot_file/position` status give the rows and the binlog position of the same
instant without locking tables (on MySQL, which lacks them, a brief FLUSH TABLES WITH READ
LOCK is taken instead).

Checkpoint: binlog file and position after the last acknowledged transaction, plus its GTID
(recorded for operators; resuming uses file and position, because mysql-replication's GTID
mode and position mode must not be mixed). The server keeps no state for us: a checkpoint
whose binlog file was purged cannot resume, and the error says so; the same holds for a
position the server can no longer serve mid-run (purged while it was down: error 1236).
With `committed_by`, the sink's bookkeeping rows are read from the binlog too and chained
(base.CommitChain): a gap raises, and `catch_up()` checks that the log showed every
transaction that sink committed.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from headwater.capture.base import (
    Capture,
    CaptureBatch,
    ChangeBuilder,
    CommitChain,
    last_marked,
    snapshot_table,
    text_to_arrow,
)
from headwater.capture.checkpoint import Checkpoint
from headwater.errors import SinkError, SinkUnavailable, require
from headwater.secrets import redact
from headwater.sinks._retry import Backoff, SqlRetry
from headwater.sinks._sql import MYSQL, DbUrl
from headwater.sinks._sql_sink import (
    BOOKKEEPING,
    BOOKKEEPING_SCHEMA,
    BOOKKEEPING_TABLE,
    bookkeeping_key,
)
from headwater.sinks.mysql import (
    MysqlConfig,
    connect_args,
    error_code,
    explain_connect_error,
    import_pymysql,
    password_hint,
)
from headwater.world.schema import EntitySchema

SNAPSHOT_ROWS = 50_000
IDLE_SLEEP = 0.02
FATAL_READING_BINLOG = 1236  # the server cannot serve the position (purged, past the end)
COMMITTED = f"SELECT lane, ordinal FROM {BOOKKEEPING} WHERE sink = %s"
# Debezium's MySQL/MariaDB `source` fields after the common ones, in its order: the server
# that wrote the event, the transaction's GTID, the binlog file and position of the row
# event, the row's index in it, the writing thread (from the transaction's BEGIN; MariaDB
# marks transactions with a GTID event instead, so null there) and the query (null, as in
# Debezium without include.query).
SOURCE = pa.struct(
    [
        ("table", pa.string()),
        ("server_id", pa.int64()),
        ("gtid", pa.string()),
        ("file", pa.string()),
        ("pos", pa.int64()),
        ("row", pa.int32()),
        ("thread", pa.int64()),
        ("query", pa.string()),
    ]
)


def default_server_id(name: str) -> int:
    """A replica id that is stable per capture name and far from typical server ids."""
    return 100_000 + zlib.crc32(name.encode()) % 2_000_000_000


class MysqlCapture(Capture):
    def __init__(
        self,
        config: MysqlConfig,
        schemas: dict[str, EntitySchema],
        *,
        name: str,
        checkpoint: Checkpoint,
        resume: bool = False,
        server_id: int | None = None,
        batch_size: int = 10_000,
        retry: SqlRetry | None = None,
        committed_by: str | None = None,
    ):
        super().__init__()
        self.config, self.schemas, self.name = config, schemas, name
        self.committed_by = committed_by
        self.checkpoint = checkpoint
        self.resume = resume
        self.server_id = server_id or default_server_id(name)
        self.batch_size = batch_size
        self.retry = retry or config.retry
        self.conn: Any = None
        self.stream: Any = None
        self.seq = 0
        self.position: tuple[str, int] | None = None  # after the last whole transaction read
        self.gtid = ""
        self.acked: tuple[str, int] | None = None
        self._snapshot_pending = False
        self.source = {"connector": "mysql", "name": name, "version": "headwater-0.1"}

    # -- connecting ------------------------------------------------------------------------
    def _connect(self) -> Any:
        try:
            return self.my.connect(**connect_args(self.url, self.config.connect_timeout))
        except self.my.Error as exc:
            raise SinkUnavailable(
                self.name, explain_connect_error(self.url, exc, password_hint(self.config))
            ) from None

    def _query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        backoff = Backoff(self.retry)
        while True:
            try:
                if self.conn is None or not self.conn.open:
                    self.conn = self._connect()
                with self.conn.cursor() as cur:
                    cur.execute(sql, args)
                    return list(cur.fetchall())
            except SinkUnavailable:
                if not backoff.sleep():
                    raise
            except self.my.err.OperationalError as exc:
                if self.conn is not None and self.conn.open:
                    raise self._fail(sql.split()[0].lower(), exc) from None
                self.conn = None
                self.stats.reconnects += 1
                if not backoff.sleep():
                    raise self._fail("querying", exc) from None

    def _fail(self, what: str, exc: BaseException) -> SinkError:
        return SinkError(
            self.name, f"{what} on {self.url.masked}: {redact(str(exc), self.url.password)}"
        )

    def _variables(self) -> dict[str, str]:
        rows = self._query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format',"
            " 'binlog_row_image', 'binlog_row_metadata', 'version')"
        )
        return {str(k).lower(): str(v) for k, v in rows}

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> MysqlCapture:
        self.my = import_pymysql(self.name)
        require(
            "pymysqlreplication",
            "mysql",
            f"sink '{self.name}' (binlog capture)",
            "mysql-replication",
        )
        try:
            self.url = DbUrl.parse(self.config.url, password_env=self.config.password_env)
        except ValueError as exc:
            raise SinkError(self.name, str(exc)) from None
        self.source["db"] = self.url.database or ""
        key = bookkeeping_key(self.config, self.url, self.committed_by or "")
        self.chain = CommitChain(self.name, self.committed_by, self.url.masked, key)
        self.conn = self._connect()
        self._check_server()
        self._check_tables()
        self._start()
        return self

    def _check_server(self) -> None:
        v, where = self._variables(), self.url.masked
        self.mariadb = "mariadb" in v.get("version", "").lower()
        self.source["connector"] = "mariadb" if self.mariadb else "mysql"  # as Debezium 2.7+
        wanted = [
            ("log_bin", "ON", "start the server with --log-bin"),
            ("binlog_format", "ROW", "SET GLOBAL binlog_format = ROW (and in the server config)"),
            ("binlog_row_image", "FULL", "SET GLOBAL binlog_row_image = FULL"),
            ("binlog_row_metadata", "FULL", "SET GLOBAL binlog_row_metadata = FULL"),
        ]
        for var, value, fix in wanted:
            have = v.get(var)
            if have is not None and have.upper() != value:
                raise SinkUnavailable(
                    self.name,
                    f"{where} has {var} = {have}; binlog CDC needs {value}: {fix}",
                )
        user = self.url.user or "root"
        grants = " ".join(str(r[0]).upper() for r in self._query("SHOW GRANTS"))
        if not any(
            g in grants
            for g in ("ALL PRIVILEGES ON *.*", "REPLICATION SLAVE", "REPLICATION REPLICA")
        ):
            raise SinkUnavailable(
                self.name,
                f"user '{user}' on {where} may not read the binlog: GRANT REPLICATION SLAVE, "
                f"{'BINLOG MONITOR' if self.mariadb else 'REPLICATION CLIENT'} ON *.* TO "
                f"'{user}'@'<host>'",
            )

    def _check_tables(self) -> None:
        names = {
            r[0]
            for r in self._query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            )
        }
        missing = [e for e in self.schemas if e not in names]
        if missing:
            raise SinkError(
                self.name,
                f"table(s) {', '.join(missing)} do not exist in {self.url.masked}; the capture "
                "reads the tables the mysql sink created",
            )
        if not self._query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (BOOKKEEPING_SCHEMA, BOOKKEEPING_TABLE),
        ):
            self.chain.sink = None  # no headwater sink writes here: nothing to prove with

    def _logs(self) -> set[str]:
        return {str(r[0]) for r in self._query("SHOW BINARY LOGS")}

    def _start(self) -> None:
        state = self.checkpoint.load() if self.resume else None
        if state is not None and state.get("snapshot_done") and "log_file" in state:
            if state["log_file"] not in self._logs():
                raise SinkError(
                    self.name,
                    f"binlog {state['log_file']} is no longer on {self.url.masked} (purged), so "
                    f"changes after the checkpoint are lost; delete {self.checkpoint.path} to "
                    "start over with a new snapshot",
                )
            self.position = self.acked = (state["log_file"], int(state["log_pos"]))
            self.seq = int(state["seq"])
            self.gtid = state.get("gtid", "")
            self.chain.start(state.get("lanes"))
            return
        self.checkpoint.clear()
        self._snapshot_pending = True
        self.chain.start(None)  # until the snapshot says where the sink's chains stand

    def _master_status(self) -> tuple[str, int]:
        try:
            rows = self._query("SHOW MASTER STATUS")
        except SinkError as exc:
            if "1227" in str(exc) or "denied" in str(exc).lower():
                user = self.url.user or "root"
                raise SinkUnavailable(
                    self.name,
                    f"user '{user}' may not read the binlog position: GRANT "
                    f"{'BINLOG MONITOR' if self.mariadb else 'REPLICATION CLIENT'} ON *.* TO "
                    f"'{user}'@'<host>'",
                ) from None
            raise
        if not rows:
            raise SinkUnavailable(
                self.name, f"{self.url.masked} writes no binlog: start it with --log-bin"
            )
        return str(rows[0][0]), int(rows[0][1])

    # -- snapshot --------------------------------------------------------------------------
    def snapshot(self) -> Iterator[CaptureBatch]:
        return last_marked(self._snapshot())

    def _snapshot(self) -> Iterator[CaptureBatch]:
        if not self._snapshot_pending:
            return
        self._snapshot_pending = False
        conn = self._connect()
        now_us = int(time.time() * 1_000_000)
        try:
            with conn.cursor() as cur:
                self.position = self._consistent_snapshot(cur)
                self.acked = None
                if self.chain.sink is not None:
                    cur.execute(COMMITTED, (self.chain.key,))
                    self.chain.start(CommitChain.ordinals(cur.fetchall()))
            for entity, schema in self.schemas.items():
                for rows in self._read_table(conn, schema):
                    file, pos = self.position
                    where = {"server_id": 0, "file": file, "pos": pos, "row": 0}
                    table = snapshot_table(schema, rows, self.seq, now_us, SOURCE, where)
                    self.seq += table.num_rows
                    self.stats.snapshot_rows += table.num_rows
                    yield CaptureBatch({entity: table}, self._pos("partial"))
            conn.commit()
        except self.my.Error as exc:
            raise self._fail("reading the snapshot", exc) from None
        finally:
            conn.close()
        yield CaptureBatch({}, self._pos("done"))

    def _consistent_snapshot(self, cur: Any) -> tuple[str, int]:
        if self.mariadb:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
            status = {str(k).lower(): str(v) for k, v in cur.fetchall()}
            return status["binlog_snapshot_file"], int(status["binlog_snapshot_position"])
        cur.execute("FLUSH TABLES WITH READ LOCK")
        try:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
        finally:
            cur.execute("UNLOCK TABLES")
        return str(row[0]), int(row[1])

    def _read_table(self, conn: Any, schema: EntitySchema) -> Iterator[pa.Table]:
        names = [f.name for f in schema.row_type]
        cols = ", ".join(MYSQL.q(n) for n in names)
        with conn.cursor(self.my.cursors.SSCursor) as cur:
            cur.execute(f"SELECT {cols} FROM {MYSQL.q(schema.name)}")
            while rows := cur.fetchmany(SNAPSHOT_ROWS):
                columns = list(zip(*rows, strict=True))
                yield pa.table(
                    {
                        f.name: text_to_arrow(list(columns[i]), f.type)
                        for i, f in enumerate(schema.row_type)
                    }
                )

    # -- streaming -------------------------------------------------------------------------
    def _pos(self, snapshot: str | None = None) -> dict[str, Any]:
        assert self.position is not None
        pos: dict[str, Any] = {
            "log_file": self.position[0],
            "log_pos": self.position[1],
            "gtid": self.gtid,
            "seq": self.seq,
            "lanes": self.chain.state(),
        }
        if snapshot is not None:
            pos["snapshot"] = snapshot
        return pos

    def _open_stream(self) -> Any:
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, XidEvent
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        if self.position is None:
            self.position = self._master_status()
        settings = connect_args(self.url, self.config.connect_timeout)
        settings.pop("autocommit", None)
        settings.pop("database", None)
        events = [QueryEvent, XidEvent, WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent]
        events.append(MariadbGtidEvent)
        try:
            from pymysqlreplication.event import GtidEvent

            events.append(GtidEvent)
        except ImportError:  # pragma: no cover - every supported version has it
            pass
        return BinLogStreamReader(
            connection_settings=settings,
            server_id=self.server_id,
            resume_stream=True,
            blocking=False,
            log_file=self.position[0],
            log_pos=self.position[1],
            only_events=events,
            only_schemas=(
                [self.url.database, *([BOOKKEEPING_SCHEMA] if self.chain.active else [])]
                if self.url.database
                else None
            ),
            only_tables=(
                [*self.schemas, BOOKKEEPING_TABLE] if self.chain.active else list(self.schemas)
            ),
            enable_logging=False,
        )

    def _close_stream(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def _read(self, until: tuple[str, int] | None = None) -> CaptureBatch:
        """Whole transactions from the stream, up to batch_size changes or the end of the log."""
        from pymysqlreplication.event import QueryEvent, XidEvent
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        self._snapshot_pending = False
        builders: dict[str, ChangeBuilder] = {}
        rows: list[tuple[Any, ...]] = []
        marks: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
        txn_id, txn_gtid, txns, count = 0, "", 0, 0
        thread: int | None = None
        in_txn = False
        backoff = Backoff(self.retry)
        while True:
            try:
                with warnings.catch_warnings():
                    # mysql-replication still passes PyMySQL's deprecated 'db' argument
                    warnings.filterwarnings("ignore", "'db' is deprecated", DeprecationWarning)
                    if self.stream is None:
                        self.stream = self._open_stream()
                    event = self.stream.fetchone()
            except self.my.err.OperationalError as exc:
                self._close_stream()
                if error_code(exc) == FATAL_READING_BINLOG:
                    raise self._unreadable(exc) from None
                if error_code(exc) in (1227, 1045):
                    user = self.url.user or "root"
                    raise SinkUnavailable(
                        self.name,
                        f"user '{user}' may not read the binlog of {self.url.masked}: GRANT "
                        f"REPLICATION SLAVE ON *.* TO '{user}'@'<host>' "
                        f"({redact(str(exc), self.url.password)})",
                    ) from None
                self.stats.reconnects += 1
                if not backoff.sleep():
                    raise SinkUnavailable(
                        self.name,
                        f"{self.url.masked} went away and did not come back within "
                        f"{self.retry.for_}: {redact(str(exc), self.url.password)}",
                    ) from None
                rows, marks, in_txn = [], [], False  # it restarts after the last whole one
                continue
            if event is None:  # end of the log: the server closed the dump
                self._close_stream()
                break
            kind = type(event).__name__
            if kind in ("MariadbGtidEvent", "GtidEvent"):
                in_txn, rows, marks, thread = True, [], [], None
                txn_gtid = str(getattr(event, "gtid", ""))
                txn_id = int(
                    getattr(event, "gtid_seq_no", 0) or getattr(event, "sequence_number", 0) or 0
                )
                if getattr(event, "flags", 0) & 1:  # standalone (DDL): no XID follows
                    in_txn = False
                    self.position = (self.stream.log_file, self.stream.log_pos)
                continue
            if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                changes = [_change(event, r) for r in event.rows]
                if (event.schema, event.table) == (BOOKKEEPING_SCHEMA, BOOKKEEPING_TABLE):
                    marks += [(before, after) for _, before, after in changes]
                else:
                    head = event.packet  # Debezium's pos: where the row event starts
                    at = (head.server_id, self.stream.log_file, head.log_pos - head.event_size)
                    rows += [(event.table, *c, *at, i, thread) for i, c in enumerate(changes)]
                continue
            ends = isinstance(event, XidEvent) or (
                isinstance(event, QueryEvent) and _query_text(event) == "COMMIT"
            )
            if isinstance(event, QueryEvent) and _query_text(event) == "BEGIN":
                in_txn, rows, marks = True, [], []
                thread = int(event.slave_proxy_id)
                continue
            if not ends:
                if isinstance(event, QueryEvent) and not in_txn:  # DDL outside a transaction
                    self.position = (self.stream.log_file, self.stream.log_pos)
                continue
            self.position = (self.stream.log_file, self.stream.log_pos)
            self.gtid = txn_gtid
            in_txn = False
            for before, after in marks:
                self.chain.observe(before, after)
            simulated = self.chain.event_time(marks)
            marks = []
            if rows:
                stamp = int(event.timestamp) * 1_000_000
                # Debezium's transaction.id: the GTID; without GTIDs, where the transaction began
                tid = txn_gtid or f"{rows[0][5]}:{rows[0][6]}"
                for table, op, before, after, server, file, pos, row, thr in rows:
                    b = builders.get(table)
                    if b is None:
                        b = builders[table] = ChangeBuilder(self.schemas[table])
                    b.add(
                        self.seq,
                        txn_id,
                        op,
                        stamp,
                        before,
                        after,
                        tid,
                        simulated,
                        server_id=server,
                        gtid=txn_gtid or None,
                        file=file,
                        pos=pos,
                        row=row,
                        thread=thr,
                    )
                    self.seq += 1
                count += len(rows)
                txns += 1
                rows = []
            if count >= self.batch_size or (until is not None and self.position >= until):
                break
        if in_txn:  # the log ended inside a transaction: read it again next time
            self._close_stream()
        tables = {e: b.build(SOURCE, {"table": e}) for e, b in builders.items()}
        self.stats.events += sum(t.num_rows for t in tables.values())
        self.stats.transactions += txns
        self.stats.polls += 1
        return CaptureBatch(tables, self._pos(), txns)

    def poll(self, timeout: float = 1.0) -> CaptureBatch:
        deadline = time.monotonic() + timeout
        while True:
            batch = self._read()
            if batch.transactions or time.monotonic() >= deadline:
                return batch
            time.sleep(min(IDLE_SLEEP, max(0.0, deadline - time.monotonic())))

    def catch_up(self, timeout: float = 60.0) -> Iterator[CaptureBatch]:
        committed = (
            CommitChain.ordinals(self._query(COMMITTED, (self.chain.key,)))
            if self.chain.active
            else {}
        )
        target = self._master_status()  # after those commits: the binlog has them before it
        deadline = time.monotonic() + timeout
        while True:
            batch = self._read(until=target)
            if batch.transactions:
                yield batch
            assert self.position is not None
            if self.position >= target:
                missing = self.chain.missing(committed)
                if missing is not None:
                    raise self.chain.incomplete(missing)
                return
            if not batch.transactions:
                if time.monotonic() > deadline:
                    raise SinkError(
                        self.name,
                        f"the binlog did not catch up with {target[0]}:{target[1]} within "
                        f"{timeout:.0f} s",
                    )
                time.sleep(IDLE_SLEEP)

    def _unreadable(self, exc: BaseException) -> SinkError:
        assert self.position is not None
        file, pos = self.position
        return SinkError(
            self.name,
            f"binlog {file} position {pos} can no longer be read from {self.url.masked} "
            f"(purged, or rotated away and removed while the capture was away: "
            f"{redact(str(exc), self.url.password)}), so changes after it may be lost; keep binlogs "
            "longer (binlog_expire_logs_seconds) and start the run again",
        )

    def ack(self, position: dict[str, Any]) -> None:
        snap = position.get("snapshot")
        if snap == "partial":
            return
        pos = (str(position["log_file"]), int(position["log_pos"]))
        if self.acked is not None and pos <= self.acked and snap is None:
            return
        self.checkpoint.save(
            {
                "log_file": pos[0],
                "log_pos": pos[1],
                "gtid": position.get("gtid", ""),
                "seq": int(position["seq"]),
                "server_id": self.server_id,
                "snapshot_done": True,
                "source": self.url.masked,
                "lanes": position.get("lanes"),
            }
        )
        self.acked = pos

    def drop(self) -> None:
        """Remove the checkpoint (the server keeps nothing for a binlog reader)."""
        self.checkpoint.clear()

    def close(self) -> None:
        self._close_stream()
        if self.conn is not None:
            if self.conn.open:
                self.conn.close()
            self.conn = None


def _change(event: Any, row: dict[str, Any]) -> tuple[str, Any, Any]:
    """A row event's row as (op, before image, after image)."""
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent

    if isinstance(event, UpdateRowsEvent):
        return "u", row["before_values"], row["after_values"]
    if isinstance(event, DeleteRowsEvent):
        return "d", row["values"], None
    return "c", None, row["values"]


def _query_text(event: Any) -> str:
    q = event.query
    if isinstance(q, bytes):
        q = q.decode(errors="replace")
    return str(q).strip().upper()
