"""PostgreSQL change capture: logical decoding through a replication slot, read with psycopg 3.

Choice: the wal2json output plugin (format 2: one JSON row per change, B/C rows marking
transactions, commit time and xid on each), read by polling `pg_logical_slot_peek_changes`
over an ordinary psycopg 3 connection, and acknowledged with `pg_replication_slot_advance`.
Why not pgoutput over the streaming replication protocol: psycopg 3 has no client for it, and
psycopg2's would add a second driver and a C dependency for a benefit we do not need here —
peek returns whole committed transactions, in commit order, as text the server already
rendered; the slot only moves when we say the events were delivered, which is exactly
at-least-once; and polling adds a few milliseconds of latency, not a throughput limit (the
server decodes; we parse JSON). wal2json ships with most PostgreSQL packages and managed
services (Debian: postgresql-NN-wal2json).

How it starts: the slot is created over a replication connection with an exported snapshot
(`CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')`); `snapshot()` reads every table inside that
snapshot (COPY … TO STDOUT as CSV, parsed by Arrow), so the snapshot plus the slot's stream
is the database exactly once. Tables get REPLICA IDENTITY FULL so updates and deletes log the
whole old row (the `before` image).

Where it stands: the slot's confirmed LSN (kept by the server) and a checkpoint file (kept by
us, saved first). After a crash of the reader, the next capture with `resume=True` skips what
the slot re-sends up to the file's LSN and continues the `seq` numbering, so event ids stay
stable. Unacknowledged batches are re-read: acknowledge each batch once delivered.

A crash of the server: the slot's position reaches disk only at a server checkpoint, so
after crash recovery `confirmed_flush_lsn` can be far behind what we acknowledged (the WAL
from there is still kept). Every reconnect and every resume compares the slot with the
acknowledged LSN and advances it back there (counted as `slot_rewinds`), so peeks start
after what was delivered; a slot that is gone or ahead of us (moved by another reader) is a
SinkError, as changes are lost. With `committed_by`, the bookkeeping table's rows are decoded
too and chained (base.CommitChain), and `catch_up()` ends only once the log showed every
transaction that sink committed.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv

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
from headwater.errors import SinkError, SinkUnavailable
from headwater.secrets import redact
from headwater.sinks._retry import Backoff, SqlRetry
from headwater.sinks._sql import POSTGRES, DbUrl
from headwater.sinks._sql_sink import (
    BOOKKEEPING,
    BOOKKEEPING_SCHEMA,
    BOOKKEEPING_TABLE,
    bookkeeping_key,
)
from headwater.sinks.postgres import (
    PostgresConfig,
    connect_args,
    explain_connect_error,
    import_psycopg,
    password_hint,
)
from headwater.world.schema import EntitySchema

OPS = {"I": "c", "U": "u", "D": "d"}
# Debezium's PostgreSQL `source` fields after the common ones, in its order. `sequence` is
# the JSON text ["<LSN of the last commit before>","<LSN of this change>"] (decimal LSNs);
# `xmin` stays null, as in Debezium without xmin.fetch.interval.ms.
SOURCE = pa.struct(
    [
        ("sequence", pa.string()),
        ("schema", pa.string()),
        ("table", pa.string()),
        ("txId", pa.int64()),
        ("lsn", pa.int64()),
        ("xmin", pa.int64()),
    ]
)
# Numbers stay text (Arrow casts them to the column's type): numeric keeps every digit.
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str)
IDLE_SLEEP = 0.02  # seconds between empty polls
T = TypeVar("T")


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def wal2json_name(name: str) -> str:
    """A schema or table name for wal2json's add-tables list, where space, quote, comma,
    period and asterisk (and so the backslash itself) are escaped with a backslash."""
    return re.sub(r"([\\ ',.*])", r"\\\1", name)


SLOT = re.compile(r"[a-z0-9_]{1,63}")  # what PostgreSQL takes as a replication slot name


def slot_name(name: str) -> str:
    """A valid replication slot name (lower case letters, digits, underscore; ≤ 63)."""
    return ("headwater_" + re.sub(r"[^a-z0-9_]", "_", name.lower()))[:63]


class PostgresCapture(Capture):
    def __init__(
        self,
        config: PostgresConfig,
        schemas: dict[str, EntitySchema],
        *,
        name: str,
        checkpoint: Checkpoint,
        slot: str | None = None,
        resume: bool = False,
        batch_size: int = 10_000,
        retry: SqlRetry | None = None,
        committed_by: str | None = None,
    ):
        super().__init__()
        self.config, self.schemas, self.name = config, schemas, name
        self.committed_by = committed_by
        self.checkpoint = checkpoint
        self.slot = slot or slot_name(name)
        if not SLOT.fullmatch(self.slot):
            raise SinkError(
                name,
                f"replication slot name {self.slot!r} may hold only lower case letters, digits "
                "and underscores (at most 63)",
            )
        self.resume = resume
        self.batch_size = batch_size
        self.retry = retry or config.retry
        self.ns = config.db_schema
        self.conn: Any = None
        self._repl: Any = None
        self._snapshot_name: str | None = None
        self.seq = 0
        self.read_lsn = 0  # end of the last transaction returned by poll()
        self.acked_lsn = 0  # end of the last transaction acknowledged
        self.slot_lsn = 0  # the slot's confirmed LSN as we last set it
        self._unacked: deque[tuple[int, int]] = deque()  # (end lsn, output rows) returned
        self.source = {"connector": "postgresql", "name": name, "version": "headwater-0.1"}

    # -- connecting ------------------------------------------------------------------------
    def _connect(self, **extra: Any) -> Any:
        try:
            conn = self.pg.connect(
                **connect_args(self.url, self.config.connect_timeout), autocommit=True, **extra
            )
        except self.pg.Error as exc:
            raise SinkUnavailable(
                self.name, explain_connect_error(self.url, exc, password_hint(self.config))
            ) from None
        if not extra:
            conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """`fn()` on the connection, riding out a busy slot and a server that went away; after
        a reconnect the slot is checked first (a crashed server may have moved it back)."""
        deadline = time.monotonic() + 10
        cause: BaseException = ConnectionError("connection closed")
        while True:
            try:
                if self._lost():
                    self._reconnect(cause)
                    self._check_slot()
                return fn()
            except self.pg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise SinkError(
                        self.name, f"replication slot {self.slot} is in use by another reader"
                    ) from None
                time.sleep(0.1)  # a reader that just left keeps its slot for a moment
            except self.pg.Error as exc:
                if not self._lost():
                    raise self._fail(what, exc) from None
                cause = exc

    def _reconnect(self, cause: BaseException) -> None:
        self.stats.reconnects += 1
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        backoff, last = Backoff(self.retry), cause
        while backoff.sleep():
            try:
                self.conn = self._connect()
                return
            except SinkUnavailable as exc:
                last = exc
        raise SinkUnavailable(
            self.name,
            f"{self.url.masked} went away and did not come back within {self.retry.for_}: "
            f"{redact(str(last), self.url.password)}",
        )

    def _lost(self) -> bool:
        return self.conn is None or self.conn.closed or self.conn.broken

    def _fail(self, what: str, exc: BaseException) -> SinkError:
        return SinkError(
            self.name, f"{what} on {self.url.masked}: {redact(str(exc), self.url.password)}"
        )

    # -- opening ---------------------------------------------------------------------------
    def open(self) -> PostgresCapture:
        self.pg = import_psycopg(self.name)
        try:
            self.url = DbUrl.parse(self.config.url, password_env=self.config.password_env)
        except ValueError as exc:
            raise SinkError(self.name, str(exc)) from None
        self.source["db"] = self.url.database or "postgres"
        key = bookkeeping_key(self.config, self.url, self.committed_by or "")
        self.chain = CommitChain(self.name, self.committed_by, self.url.masked, key)
        self.conn = self._connect()
        try:
            self._check_server()
            self._check_tables()
            self._start()
        except self.pg.Error as exc:
            raise self._fail("setting up logical decoding", exc) from None
        return self

    def _check_server(self) -> None:
        conn, where = self.conn, self.url.masked
        level = conn.execute("SHOW wal_level").fetchone()[0]
        if level != "logical":
            raise SinkUnavailable(
                self.name,
                f"{where} has wal_level = {level}; change data capture needs logical: run "
                "ALTER SYSTEM SET wal_level = logical (or set it in postgresql.conf) and "
                "restart the server",
            )
        user, allowed = conn.execute(
            "SELECT current_user, rolreplication OR rolsuper FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()
        if not allowed:
            raise SinkUnavailable(
                self.name,
                f"user '{user}' on {where} may not read the change log: grant it with "
                f"ALTER ROLE {user} WITH REPLICATION (or connect as a superuser)",
            )

    def _check_tables(self) -> None:
        missing = [e for e in self.schemas if not self._full_identity(e)]
        if missing:
            raise SinkError(
                self.name,
                f"table(s) {', '.join(missing)} do not exist in {self.url.masked} schema "
                f"{self.ns}; the capture reads the tables the postgres sink created",
            )
        if self.chain.sink is not None and not self._full_identity(
            BOOKKEEPING_TABLE, BOOKKEEPING_SCHEMA
        ):
            self.chain.sink = None  # no headwater sink writes here: nothing to prove with

    def _full_identity(self, table: str, ns: str | None = None) -> bool:
        """Make updates and deletes log the whole old row (False: no such table)."""
        ns = ns or self.ns
        row = self.conn.execute(
            "SELECT c.relreplident FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (ns, table),
        ).fetchone()
        if row is None:
            return False
        if row[0] != "f":
            name = f"{POSTGRES.q(ns)}.{POSTGRES.q(table)}"
            try:
                self.conn.execute(f"ALTER TABLE {name} REPLICA IDENTITY FULL")
            except self.pg.Error as exc:
                raise SinkError(
                    self.name,
                    f"table {table} logs only its key on update and delete, so CDC would "
                    f"lack before-images, and it cannot be changed here ({exc}): run ALTER "
                    f"TABLE {name} REPLICA IDENTITY FULL as the table's owner",
                ) from None
        return True

    def _slot_lsn(self) -> int | None:
        row = self.conn.execute(
            "SELECT confirmed_flush_lsn::text, plugin FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (self.slot,),
        ).fetchone()
        if row is None:
            return None
        if row[1] != "wal2json":
            raise SinkError(
                self.name,
                f"replication slot {self.slot} uses the {row[1]} plugin, not wal2json: drop it "
                f"(SELECT pg_drop_replication_slot('{self.slot}')) or choose another slot name",
            )
        return lsn_int(row[0]) if row[0] else 0

    def _start(self) -> None:
        state = self.checkpoint.load() if self.resume else None
        current = self._slot_lsn()
        if state is not None and state.get("slot") == self.slot and state.get("snapshot_done"):
            if current is None:
                raise SinkError(
                    self.name,
                    f"replication slot {self.slot} no longer exists on {self.url.masked}, so "
                    f"changes after LSN {lsn_text(state['lsn'])} are lost; delete the checkpoint "
                    f"{self.checkpoint.path} to start over with a new snapshot",
                )
            self.seq = int(state["seq"])
            self.acked_lsn = self.read_lsn = int(state["lsn"])
            self.slot_lsn = current
            self.chain.start(state.get("lanes"))
            # behind the checkpoint after a crash (ours or the server's): put it there
            self._call("resuming at the checkpoint", self._check_slot)
            return
        if current is not None:
            self._drop_slot()
        self.checkpoint.clear()
        self._create_slot()

    def _check_slot(self) -> None:
        """Put the slot back at the acknowledged LSN when a server crash rewound it; a slot
        that is gone or ahead of that LSN lost changes for us: raise."""
        current, acked, where = self._slot_lsn(), lsn_text(self.acked_lsn), self.url.masked
        if current is None:
            raise SinkError(
                self.name,
                f"replication slot {self.slot} disappeared from {where} while capturing "
                f"(dropped, or the server restored from a backup), so changes after LSN {acked} "
                "are lost; start the run again",
            )
        if current > self.acked_lsn:
            raise SinkError(
                self.name,
                f"replication slot {self.slot} on {where} was moved to LSN {lsn_text(current)} "
                f"by another reader, past LSN {acked} this capture acknowledged, so the changes "
                "between are lost; give every capture its own slot and start the run again",
            )
        if current < self.slot_lsn:
            self.stats.slot_rewinds += 1
        self.slot_lsn = current
        if current < self.acked_lsn:
            self._advance_slot(self.acked_lsn)

    def _drop_slot(self) -> None:
        deadline = time.monotonic() + 5
        while True:
            try:
                self.conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                return
            except self.pg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _create_slot(self) -> None:
        try:
            self._repl = self._connect(replication="database")
        except SinkUnavailable as exc:
            raise SinkUnavailable(
                self.name,
                f"{exc.args[0]} (replication connection; pg_hba.conf must allow "
                "'replication' for this user when it is not 'all')",
            ) from None
        command = f"CREATE_REPLICATION_SLOT {self.slot} LOGICAL wal2json (SNAPSHOT 'export')"
        res = self._repl.pgconn.exec_(command.encode())
        if res.status != self.pg.pq.ExecStatus.TUPLES_OK:
            message = (res.error_message or b"").decode(errors="replace").strip()
            self._repl.close()
            raise SinkUnavailable(self.name, self._explain_slot_error(message))
        names = [res.fname(i).decode() for i in range(res.nfields)]
        values = dict(
            zip(names, (res.get_value(0, i).decode() for i in range(res.nfields)), strict=True)
        )
        self.acked_lsn = self.read_lsn = self.slot_lsn = lsn_int(values["consistent_point"])
        self._snapshot_name = values["snapshot_name"]
        if self.chain.sink is not None:
            with self.conn.transaction():
                self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                self.conn.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot_name}'")
                self.chain.start(self._committed())

    def _committed(self) -> dict[int, int]:
        """The bookkeeping table's ordinals of the sink the chain follows, per connection."""
        rows = self.conn.execute(
            f"SELECT lane, ordinal FROM {BOOKKEEPING} WHERE sink = %s",
            (self.chain.key,),
        ).fetchall()
        return CommitChain.ordinals(rows)

    def _explain_slot_error(self, message: str) -> str:
        where = f"cannot create replication slot {self.slot} on {self.url.masked}"
        low = message.lower()
        if "wal2json" in low and ("could not access" in low or "not allowed" in low):
            return (
                f"{where}: the wal2json output plugin is not installed on the server "
                "(Debian: apt install postgresql-NN-wal2json; some builds also need "
                "output_plugin_libraries to list wal2json)"
            )
        if "all replication slots are in use" in low:
            return f"{where}: all replication slots are in use; raise max_replication_slots (restart) or drop unused slots"
        if "permission denied" in low or "must be superuser or replication" in low:
            return (
                f"{where}: the user lacks the REPLICATION attribute (ALTER ROLE … WITH REPLICATION)"
            )
        return f"{where}: {redact(message, self.url.password)}"

    # -- snapshot --------------------------------------------------------------------------
    def snapshot(self) -> Iterator[CaptureBatch]:
        return last_marked(self._snapshot())

    def _snapshot(self) -> Iterator[CaptureBatch]:
        if self._snapshot_name is None:
            return
        conn = self._connect()
        now_us = int(time.time() * 1_000_000)
        # as Debezium: the snapshot's events stand at the slot's start, after no commit
        lsn = self.read_lsn
        where = {"sequence": f'[null,"{lsn}"]', "schema": self.ns, "lsn": lsn}
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot_name}'")
            for entity, schema in self.schemas.items():
                for rows in self._read_table(conn, schema):
                    table = snapshot_table(schema, rows, self.seq, now_us, SOURCE, where)
                    self.seq += table.num_rows
                    self.stats.snapshot_rows += table.num_rows
                    yield CaptureBatch({entity: table}, self._position(snapshot=False))
            conn.execute("COMMIT")
        except self.pg.Error as exc:
            raise self._fail("reading the snapshot", exc) from None
        finally:
            conn.close()
            self._end_snapshot()
        yield CaptureBatch({}, self._position(snapshot=True))

    def _end_snapshot(self) -> None:
        self._snapshot_name = None
        if self._repl is not None:
            self._repl.close()
            self._repl = None

    def _read_table(self, conn: Any, schema: EntitySchema) -> Iterator[pa.Table]:
        names = [f.name for f in schema.row_type]
        cols = ", ".join(POSTGRES.q(n) for n in names)
        table = f"{POSTGRES.q(self.ns)}.{POSTGRES.q(schema.name)}"
        cur = conn.cursor()
        with cur.copy(f"COPY (SELECT {cols} FROM {table}) TO STDOUT (FORMAT csv)") as copy:
            try:
                reader = pacsv.open_csv(
                    io.BufferedReader(_CopyStream(copy), buffer_size=1 << 20),
                    read_options=pacsv.ReadOptions(
                        column_names=names, use_threads=False, block_size=16 << 20
                    ),
                    convert_options=pacsv.ConvertOptions(
                        column_types={n: pa.string() for n in names},
                        strings_can_be_null=True,
                        quoted_strings_can_be_null=False,
                    ),
                )
            except pa.ArrowInvalid as exc:
                if "empty" in str(exc).lower():
                    return  # no rows
                raise
            for batch in reader:
                yield pa.table(
                    {f.name: text_to_arrow(batch.column(f.name), f.type) for f in schema.row_type}
                )

    # -- streaming -------------------------------------------------------------------------
    def _position(self, *, snapshot: bool | None = None) -> dict[str, Any]:
        pos: dict[str, Any] = {"lsn": self.read_lsn, "seq": self.seq, "lanes": self.chain.state()}
        if snapshot is not None:
            pos["snapshot"] = "done" if snapshot else "partial"
        return pos

    def _peek(self, upto_lsn: int | None) -> list[tuple[str, str]]:
        # the business tables escaped for wal2json; the bookkeeping name's dot is its separator
        names = [f"{wal2json_name(self.ns)}.{wal2json_name(e)}" for e in self.schemas]
        tables = ",".join([*names, BOOKKEEPING] if self.chain.active else names)
        limit = self.batch_size + sum(n for _, n in self._unacked)
        return self.conn.execute(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_changes(%s, %s::pg_lsn, %s,"
            " 'format-version', '2', 'include-xids', '1', 'include-timestamp', '1',"
            " 'include-types', '0', 'add-tables', %s)",
            (self.slot, lsn_text(upto_lsn) if upto_lsn else None, limit, tables),
        ).fetchall()

    def _read(self, upto_lsn: int | None = None) -> list[tuple[str, str]]:
        """One peek (up to `upto_lsn`), from where the slot stands."""
        if self._snapshot_name is not None:
            self._end_snapshot()  # polled without reading the snapshot: it is skipped
        self.stats.polls += 1
        return self._call("reading the change log", lambda: self._peek(upto_lsn))

    def _decode(self, rows: list[tuple[str, str]]) -> CaptureBatch:
        builders: dict[str, ChangeBuilder] = {}
        pending: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None, int]] = []
        marks: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
        xid, stamp, txns, count, txn_id = 0, "", 0, 0, ""
        last_commit = self.read_lsn
        for lsn, data in rows:
            msg = _DECODER.decode(data)
            action = msg["action"]
            count += 1
            if action == "B":
                xid, stamp, pending, marks, count = int(msg["xid"]), msg["timestamp"], [], [], 1
                txn_id = f"{xid}:{lsn_int(lsn)}"  # Debezium: <txId>:<LSN>, here of its BEGIN
            elif action in OPS:
                before = _image(msg.get("identity")) if action != "I" else None
                after = _image(msg.get("columns")) if action != "D" else None
                if (msg["schema"], msg["table"]) == (BOOKKEEPING_SCHEMA, BOOKKEEPING_TABLE):
                    marks.append((before, after))
                else:
                    pending.append((msg["table"], OPS[action], before, after, lsn_int(lsn)))
            elif action == "C":
                end = lsn_int(lsn)
                if end <= self.read_lsn:
                    last_commit = end
                    continue  # returned before (or checkpointed before a crash)
                for before, after in marks:
                    self.chain.observe(before, after)
                simulated = self.chain.event_time(marks)
                for entity, op, before, after, at in pending:
                    b = builders.get(entity)
                    if b is None:
                        b = builders[entity] = ChangeBuilder(self.schemas[entity])
                    sequence = f'["{last_commit}","{at}"]'
                    b.add(
                        self.seq,
                        xid,
                        op,
                        stamp,
                        before,
                        after,
                        txn_id,
                        simulated,
                        sequence=sequence,
                        txId=xid,
                        lsn=at,
                    )
                    self.seq += 1
                last_commit = end
                self._unacked.append((end, count))
                self.read_lsn = end
                txns += 1 if pending else 0  # other tables only (bookkeeping): nothing to say
        tables = {e: b.build(SOURCE, {"schema": self.ns, "table": e}) for e, b in builders.items()}
        events = sum(t.num_rows for t in tables.values())
        self.stats.events += events
        self.stats.transactions += txns
        return CaptureBatch(tables, self._position(), txns)

    def poll(self, timeout: float = 1.0) -> CaptureBatch:
        deadline = time.monotonic() + timeout
        while True:
            batch = self._decode(self._read())
            if batch.transactions or time.monotonic() >= deadline:
                return batch
            time.sleep(min(IDLE_SLEEP, max(0.0, deadline - time.monotonic())))

    def catch_up(self, timeout: float = 60.0) -> Iterator[CaptureBatch]:
        committed = (
            self._call("reading the bookkeeping", self._committed) if self.chain.active else {}
        )
        target = self._current_lsn()  # after those commits: the log has them below it
        deadline = time.monotonic() + timeout
        while True:
            before = self.read_lsn
            batch = self._decode(self._read(upto_lsn=target))
            if self.read_lsn != before:
                yield batch  # maybe without changes, but its position moves the slot on
            else:
                missing = self.chain.missing(committed)
                if missing is None:
                    return
                if time.monotonic() > deadline or self._flushed() >= target:
                    raise self.chain.incomplete(missing)  # the log up to the target was read
                time.sleep(IDLE_SLEEP)  # committed without waiting for the flush
            if time.monotonic() > deadline:
                raise SinkError(
                    self.name,
                    f"the change log did not catch up with LSN {lsn_text(target)} "
                    f"within {timeout:.0f} s",
                )

    def _current_lsn(self) -> int:
        """Where the log's writer stands (insert position: past every visible commit)."""
        return self._lsn("pg_current_wal_insert_lsn")

    def _flushed(self) -> int:
        """How far the log is on disk: what decoding can read."""
        return self._lsn("pg_current_wal_flush_lsn")

    def _lsn(self, function: str) -> int:
        sql = f"SELECT {function}()::text"
        return self._call(
            "reading the current LSN", lambda: lsn_int(self.conn.execute(sql).fetchone()[0])
        )

    def ack(self, position: dict[str, Any]) -> None:
        snap = position.get("snapshot")
        if snap == "partial":
            return  # a snapshot is only durable once complete
        lsn = int(position["lsn"])
        if lsn <= self.acked_lsn and snap is None:
            return
        self.checkpoint.save(
            {
                "slot": self.slot,
                "lsn": lsn,
                "lsn_text": lsn_text(lsn),
                "seq": int(position["seq"]),
                "snapshot_done": True,
                "source": self.url.masked,
                "lanes": position.get("lanes"),
            }
        )
        self.acked_lsn = max(self.acked_lsn, lsn)
        while self._unacked and self._unacked[0][0] <= lsn:
            self._unacked.popleft()
        if lsn > self.slot_lsn:
            self._advance(lsn)

    def _advance(self, lsn: int) -> None:
        self._call("acknowledging the change log", lambda: self._advance_slot(lsn))

    def _advance_slot(self, lsn: int) -> None:
        self.conn.execute(
            "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot, lsn_text(lsn))
        )
        self.slot_lsn = lsn

    def close(self) -> None:
        self._end_snapshot()
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def drop(self) -> None:
        """Remove the slot and the checkpoint (the server then keeps no WAL for us)."""
        if self._lost():
            self.conn = self._connect()
        self._end_snapshot()
        if self._slot_lsn() is not None:
            self._drop_slot()
        self.checkpoint.clear()


def _image(columns: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if columns is None:
        return None
    return {c["name"]: c["value"] for c in columns}


class _CopyStream(io.RawIOBase):
    """COPY TO STDOUT chunks as a readable stream, for Arrow's CSV reader."""

    def __init__(self, copy: Any):
        self._chunks = iter(copy)
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not len(self._buf):
            try:
                self._buf = memoryview(bytes(next(self._chunks)))
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n
