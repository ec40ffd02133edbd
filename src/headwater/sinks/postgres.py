"""PostgreSQL as the application database: normalized tables, changes as real transactions.

The schema comes from the scenario (types, primary keys, foreign keys, indexes, NOT NULL on
keys) or, with `if_exists: attach`, is an existing one that must match it (every mismatch
is listed in one error). The initial population loads with binary COPY, encoded from Arrow
columns without per-row Python. Every later world transaction (an order with its items, an
update, a delete) commits as one database transaction, pipelined on `connections` parallel
connections.

Parallel connections keep the meaning of the serial stream: steps are barriers, and inside
a step the world touches every row at most once, so transactions of one step are
independent except through foreign keys. A transaction is routed to a connection by the
hash of its root key (an order and its items go together); deletes of rows other rows point
to run in a later phase of the step than the deletes of the rows pointing to them.

Exactly once: a bookkeeping table `headwater.headwater_applied` (its own schema, out of a
capture of the application's schema, see _sql_sink.BOOKKEEPING) holds, per sink and
connection, the number of the last transaction committed on that connection (and its world
transaction id), updated inside that same transaction. When the database goes away, the sink
reconnects with backoff (for up to `retry.for`), reads that number and resumes after it,
so an ambiguous commit is neither lost nor applied twice; `stats.extra` reports reconnects
and transactions resent. Tables get REPLICA IDENTITY FULL so logical decoding (the `cdc`
sink, headwater.capture.postgres) sees before-images.

The password comes from the URL (`${PG_PASSWORD}` is expanded at run time) or from
`password_env`; it is passed to the driver as an argument and never printed: messages show
the URL with `***`.

```yaml
sinks:
  app_db:
    kind: postgres
    url: postgresql://app@127.0.0.1:5432/shop
    password_env: PG_PASSWORD
    connections: 4
```
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from headwater.errors import SinkError, SinkUnavailable, require
from headwater.secrets import redact
from headwater.sinks._sql import (
    POSTGRES,
    DbUrl,
    PlannedTxn,
    Statements,
    change_params,
    create_table,
)
from headwater.sinks._sql_names import POSTGRES_NAMES, ident_problem
from headwater.sinks._sql_sink import (
    APPLIED,
    BOOKKEEPING,
    BOOKKEEPING_SCHEMA,
    BOOKKEEPING_SCHEMA_DDL,
    BOOKKEEPING_SCHEMA_FOUND,
    OWNED,
    Lane,
    SqlSink,
    SqlSinkConfig,
    bookkeeping_ddl,
    no_bookkeeping_schema,
    type_family,
)
from headwater.sinks._sql_sink import password_hint as _password_hint
from headwater.sinks._text import to_text
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema

MARK = (
    f"UPDATE {BOOKKEEPING} SET ordinal = %s, txn = %s, committed_at = now(), event_time_us = %s"
    " WHERE sink = %s AND lane = %s"
)
PIPELINE_DEPTH = 200  # transactions sent before waiting for their results
COPY_CHUNK = 65_536  # rows per binary COPY buffer


class PostgresConfig(SqlSinkConfig):
    url_schemes = ("postgresql", "postgres")
    url_example = "postgresql://user@host:5432/database"

    kind: Literal["postgres"] = "postgres"
    url: str = Field(
        description="postgresql://user@host:port/database; ${VAR} is read from the environment"
    )
    db_schema: str = Field("public", alias="schema", description="the PostgreSQL schema")
    replica_identity: Literal["full", "default"] = Field(
        "full", description="full: UPDATE/DELETE log the whole old row (CDC before-images)"
    )

    @field_validator("db_schema")
    @classmethod
    def _schema_name(cls, v: str) -> str:
        why = ident_problem(POSTGRES_NAMES, v)
        if why:
            raise ValueError(f"the schema name {v!r} {why}")
        return v


def import_psycopg(sink: str) -> Any:
    return require("psycopg", "postgres", f"sink '{sink}' (postgres)")


def connect_args(url: DbUrl, timeout: timedelta) -> dict[str, Any]:
    """psycopg.connect keyword arguments; the password never goes into a conninfo string."""
    args: dict[str, Any] = {
        "host": url.host,
        "port": url.port or 5432,
        "dbname": url.database or "postgres",
        "connect_timeout": max(1, round(timeout.total_seconds())),
        "application_name": "headwater",
        **url.params,
    }
    if url.user:
        args["user"] = url.user
    if url.password is not None:
        args["password"] = url.password
    return args


def explain_connect_error(url: DbUrl, exc: Exception, password_hint: str) -> str:
    """A connection failure as what to change, with the password scrubbed."""
    text = redact(str(exc), url.password).strip()
    where = f"cannot connect to {url.masked}"
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return f"{where}: the server rejected the password of user '{url.user}'; {password_hint}"
    if "role" in low and "does not exist" in low:
        return f"{where}: user '{url.user}' does not exist on the server (CREATE ROLE … LOGIN)"
    if "database" in low and "does not exist" in low:
        return f"{where}: database '{url.database}' does not exist (CREATE DATABASE {url.database})"
    if "connection refused" in low:
        return (
            f"{where}: nothing accepts connections at {url.host}:{url.port or 5432} "
            "(is the server running, and are host and port right?)"
        )
    if "could not translate host name" in low or "name or service not known" in low:
        return f"{where}: unknown host '{url.host}'"
    if "timeout" in low or "timed out" in low:
        return f"{where}: no answer from {url.host}:{url.port or 5432} within the connect timeout"
    if "pg_hba.conf" in low:
        return f"{where}: the server's pg_hba.conf does not allow this user/host ({text})"
    return f"{where}: {text}"


def search_path(config: PostgresConfig) -> str:
    """The sink's schema as a search_path: quoted, so that any name is one entry of the list
    (pg_catalog stays implicitly first, so functions are the server's own)."""
    return POSTGRES.q(config.db_schema)


def password_hint(config: PostgresConfig) -> str:
    return _password_hint(config, "PG_PASSWORD")


# -- binary COPY, encoded from Arrow columns ---------------------------------------------------

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's epoch, in µs since 1970
PG_EPOCH_DAYS = 10_957
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
_FIXED = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float4": ">f4", "float8": ">f8"}


def _valid(col: pa.Array) -> np.ndarray:
    if col.null_count == 0:
        return np.ones(len(col), dtype=bool)
    return np.asarray(pc.is_valid(col))


def _binary(data: np.ndarray, sizes: np.ndarray) -> pa.Array:
    """A binary array over `data` cut into pieces of `sizes` bytes (zero copy)."""
    offsets = np.zeros(len(sizes) + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.binary(), len(sizes), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _fixed(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Fields of a fixed-width type: 4-byte length (-1 for null), then the value's bytes."""
    n = len(values)
    width = values.dtype.itemsize
    lengths = np.where(valid, width, -1).astype(">i4").view(np.uint8).reshape(n, 4)
    matrix = np.concatenate(
        [lengths, np.ascontiguousarray(values).view(np.uint8).reshape(n, width)], axis=1
    )
    if valid.all():
        return _binary(matrix.reshape(-1), np.full(n, 4 + width, dtype=np.int32))
    keep = np.ones(matrix.shape, dtype=bool)
    keep[~valid, 4:] = False
    return _binary(matrix[keep], np.where(valid, 4 + width, 4).astype(np.int32))


def _text(col: pa.Array) -> pa.Array:
    """Fields of a text-like type: 4-byte length (-1 for null), then the UTF-8 bytes."""
    valid = _valid(col)
    lengths = pc.binary_length(col).to_numpy(zero_copy_only=False)
    lengths = np.where(valid, np.nan_to_num(lengths), -1).astype(">i4")
    prefix = _binary(lengths.view(np.uint8), np.full(len(col), 4, dtype=np.int32))
    body = pc.fill_null(col, "").cast(pa.binary())
    return pc.binary_join_element_wise(prefix, body, pa.scalar(b"", pa.binary()))


def _numeric(col: pa.Array) -> pa.Array:
    """NUMERIC's binary form (base-10000 digits), vectorized from decimal128 ≤ 18 digits."""
    t = col.type
    scale = t.scale
    words = np.frombuffer(col.buffers()[1], dtype=np.int64).reshape(-1, 2)
    unscaled = words[col.offset : col.offset + len(col), 0]
    mag = np.abs(unscaled).astype(np.uint64)
    int_part, frac_part = mag // np.uint64(10**scale), mag % np.uint64(10**scale)
    frac_groups = -(-scale // 4)
    frac = frac_part * np.uint64(10 ** (4 * frac_groups - scale))
    groups = []
    for _ in range(5):  # 10000**5 > 10**18: the integer part in 5 base-10000 digits
        groups.append(int_part % np.uint64(10000))
        int_part //= np.uint64(10000)
    digits = groups[::-1]
    frac_digits = []
    for _ in range(frac_groups):
        frac_digits.append(frac % np.uint64(10000))
        frac //= np.uint64(10000)
    digits += frac_digits[::-1]
    n = len(col)
    head = np.empty((n, 4), dtype=np.int16)
    head[:, 0] = len(digits)
    head[:, 1] = 4  # weight of the first digit: 10000**4
    head[:, 2] = np.where(unscaled < 0, 0x4000, 0)
    head[:, 3] = scale
    body = np.stack(digits, axis=1).astype(np.int16)
    words16 = np.concatenate([head, body], axis=1).astype(">i2")  # big-endian last
    record = np.dtype((np.void, words16.shape[1] * 2))
    return _fixed(np.ascontiguousarray(words16).view(record).reshape(n), _valid(col))


def encode_field(col: pa.Array, pg_type: str) -> pa.Array:
    """One Arrow column as binary COPY fields of `pg_type` (a pg_type.typname), one per row."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    valid = _valid(col)
    if pg_type in _FIXED:
        target = np.dtype(_FIXED[pg_type])
        filled = pc.fill_null(col, 0) if col.null_count else col
        values = np.asarray(filled.to_numpy(zero_copy_only=False)).astype(target)
        return _fixed(values, valid)
    if pg_type == "bool":
        filled = pc.fill_null(col, False) if col.null_count else col
        return _fixed(np.asarray(filled.to_numpy(zero_copy_only=False)).astype(np.uint8), valid)
    if pg_type in ("timestamptz", "timestamp"):
        us = pc.cast(col.cast(pa.timestamp("us", tz=getattr(col.type, "tz", None))), pa.int64())
        us = pc.fill_null(us, 0) if us.null_count else us
        return _fixed((us.to_numpy() - PG_EPOCH_US).astype(">i8"), valid)
    if pg_type == "date":
        days = pc.cast(col.cast(pa.date32()), pa.int32())
        days = pc.fill_null(days, 0) if days.null_count else days
        return _fixed((days.to_numpy() - PG_EPOCH_DAYS).astype(">i4"), valid)
    if pg_type == "numeric":
        if not pa.types.is_decimal(col.type) or col.type.precision > 18:
            col = pc.cast(col, pa.decimal128(18, getattr(col.type, "scale", 6)))
        return _numeric(col)
    if pa.types.is_struct(col.type) or pa.types.is_list(col.type):
        col = to_text(col)  # JSON text, encoded column-wise
    elif not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    if pg_type == "jsonb":  # binary jsonb is a version byte, then the text
        col = pc.binary_join_element_wise("\x01", col, "")
    return _text(col)


def copy_buffer(
    table: pa.Table, pg_types: list[str], *, header: bool = True, trailer: bool = True
) -> bytes:
    """The table's rows in binary COPY form, with the stream's header and trailer if asked.

    Each field is a binary array (length, bytes); Arrow's binary_join_element_wise lays the
    rows out one after the other, so the joined array's data buffer is the COPY body.
    """
    n = table.num_rows
    head = COPY_HEADER if header else b""
    tail = COPY_TRAILER if trailer else b""
    if n == 0:
        return head + tail
    fields = [encode_field(c, t) for c, t in zip(table.columns, pg_types, strict=True)]
    ncols = np.tile(np.array([len(fields)], dtype=">i2").view(np.uint8), n)
    rows = pc.binary_join_element_wise(
        _binary(ncols, np.full(n, 2, dtype=np.int32)), *fields, pa.scalar(b"", pa.binary())
    )
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset : rows.offset + n + 1]
    body = memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]
    return b"".join((head, body, tail))


# -- the sink ----------------------------------------------------------------------------------


class PostgresSink(SqlSink):
    kind = "postgres"
    Config = PostgresConfig
    durable_commits = "synchronous_commit = on"
    config: PostgresConfig
    capabilities = replace(SqlSink.capabilities, log_capture=True)
    capture = "headwater.capture.postgres:PostgresCapture"
    names = POSTGRES_NAMES

    # -- connecting ------------------------------------------------------------------------
    def _import(self) -> Any:
        self.pg = import_psycopg(self.name)
        return self.pg

    def _connect(self) -> Any:
        try:
            conn = self.pg.connect(
                **connect_args(self.url, self.config.connect_timeout), autocommit=True
            )
        except self.pg.Error as exc:
            raise SinkUnavailable(
                self.name, explain_connect_error(self.url, exc, password_hint(self.config))
            ) from None
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute("SELECT set_config('search_path', %s, false)", (search_path(self.config),))
        return conn

    def _closed(self, conn: Any) -> bool:
        return bool(conn.closed)

    def _lost(self, lane: Lane, exc: BaseException) -> bool:
        conn = lane.conn
        return conn is None or conn.closed or conn.broken

    def _retryable(self, lane: Lane, exc: BaseException) -> bool:
        return not self._lost(lane, exc) and isinstance(exc, self.pg.errors.TransactionRollback)

    def _rollback(self, lane: Lane) -> None:
        lane.conn.execute("ROLLBACK")

    # -- lifecycle -------------------------------------------------------------------------
    def _setup(self, conn: Any, schemas: dict[str, EntitySchema]) -> None:
        self.stmts = {e: Statements.of(POSTGRES, s) for e, s in schemas.items()}
        try:
            with conn.transaction():
                self._prepare(conn, schemas)
        except self.pg.OperationalError as exc:
            raise SinkUnavailable(self.name, self._err(exc, "preparing tables").args[0]) from None
        except self.pg.Error as exc:
            raise self._err(exc, "preparing tables") from None
        self.copy_types = {e: self._column_types(conn, e) for e in schemas}

    def _prepare(self, conn: Any, schemas: dict[str, EntitySchema]) -> None:
        d, ns = POSTGRES, self.config.db_schema
        if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (ns,)).fetchone():
            conn.execute(f"CREATE SCHEMA {d.q(ns)}")
        existing = dict(
            conn.execute(
                "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c JOIN"
                " pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s"
                " AND c.relkind IN ('r', 'p')",
                (ns,),
            ).fetchall()
        )
        present = self._refuse_or_check(
            schemas,
            existing,
            f"{self.url.masked} schema {ns}",
            lambda s: check_table(conn, ns, s, schemas),
        )
        if self.config.if_exists == "attach":
            tables = ", ".join(d.q(e) for e in schemas)
            conn.execute(f"TRUNCATE {tables}")
        else:
            if present:
                self._drop(conn, present, f"{self.url.masked} schema {ns}")
            for s in schemas.values():
                for stmt in create_table(d, s, schemas):
                    conn.execute(stmt)
                conn.execute(f"COMMENT ON TABLE {d.q(s.name)} IS '{OWNED}'")
        if self.config.replica_identity == "full":
            for e in schemas:
                conn.execute(f"ALTER TABLE {d.q(e)} REPLICA IDENTITY FULL")
        if conn.execute(BOOKKEEPING_SCHEMA_FOUND, (BOOKKEEPING_SCHEMA,)).fetchone() is None:
            try:
                conn.execute(BOOKKEEPING_SCHEMA_DDL)
            except self.pg.errors.InsufficientPrivilege:
                raise SinkError(self.name, no_bookkeeping_schema(self.url)) from None
        conn.execute(bookkeeping_ddl("TEXT", "TIMESTAMPTZ"))
        conn.execute(f"DELETE FROM {BOOKKEEPING} WHERE sink = %s", (self.book,))
        cur = conn.cursor()
        cur.executemany(
            f"INSERT INTO {BOOKKEEPING} VALUES (%s, %s, 0, -1, now(), NULL)",
            [(self.book, lane.index) for lane in self.lanes],
        )

    def _drop(self, conn: Any, tables: list[str], where: str) -> None:
        """Drop the tables of an earlier run, but nothing else: no CASCADE to a user's views."""
        try:
            conn.execute(f"DROP TABLE {', '.join(POSTGRES.q(e) for e in tables)}")
        except self.pg.errors.DependentObjectsStillExist as exc:
            raise SinkError(
                self.name,
                f"cannot replace table(s) {', '.join(tables)} in {where}: "
                f"{exc.diag.message_detail or exc}; drop or change those objects first, or set "
                "if_exists: attach to keep the tables (their rows are removed)",
            ) from None

    def _column_types(self, conn: Any, entity: str) -> list[str]:
        """pg_type names of the table's columns in the scenario's field order."""
        rows = conn.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (f"{POSTGRES.q(self.config.db_schema)}.{POSTGRES.q(entity)}",),
        ).fetchall()
        types = dict(rows)
        return [types[f.name] for f in self.context.schemas[entity].row_type]

    # -- initial load: binary COPY ---------------------------------------------------------
    def _load_txn(self, lane: Lane, tables: dict[str, pa.Table], marker: PlannedTxn) -> None:
        with lane.conn.transaction():
            cur = lane.conn.cursor()
            for entity, t in tables.items():
                self._copy(cur, entity, t)
            self._mark(cur, lane, marker)

    def _copy(self, cur: Any, entity: str, changes: pa.Table) -> None:
        after = changes["after"].combine_chunks()
        rows = pa.Table.from_arrays(after.flatten(), names=[f.name for f in after.type])
        cols = ", ".join(POSTGRES.q(f.name) for f in after.type)
        types = self.copy_types[entity]
        with cur.copy(f"COPY {POSTGRES.q(entity)} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            starts = range(0, max(rows.num_rows, 1), COPY_CHUNK)
            for start in starts:
                chunk = rows.slice(start, COPY_CHUNK)
                last = start == starts[-1]
                copy.write(copy_buffer(chunk, types, header=start == 0, trailer=last))

    # -- transactions ----------------------------------------------------------------------
    def _mark(self, cur: Any, lane: Lane, t: PlannedTxn) -> None:
        cur.execute(MARK, (t.ordinal, t.txn, t.event_time, self.book, lane.index))

    def _read_applied(self, lane: Lane) -> Any:
        return lane.conn.execute(APPLIED, (self.book, lane.index)).fetchone()

    def _params(self, changes: Changes) -> _Params:
        return {e: change_params(self.stmts[e], t) for e, t in changes.tables.items()}

    def _send(self, lane: Lane, txns: list[PlannedTxn], params: _Params, per_step: bool) -> None:
        if per_step:
            self._send_step(lane, txns, params)
        else:
            self._send_pipelined(lane, txns, params)

    def _send_pipelined(self, lane: Lane, txns: list[PlannedTxn], params: _Params) -> None:
        for start in range(0, len(txns), PIPELINE_DEPTH):
            self._pipelined(lane, txns[start : start + PIPELINE_DEPTH], params, as_one=False)

    def _send_step(self, lane: Lane, txns: list[PlannedTxn], params: _Params) -> None:
        self._pipelined(lane, txns, params, as_one=True)

    def _pipelined(self, lane: Lane, txns: list[PlannedTxn], params: _Params, as_one: bool) -> None:
        """Transactions in one pipeline, each committed or all `as_one`, and the pipeline
        ended here on every path: an error while sending (a lost connection, Ctrl-C) is held
        while the pipeline ends and raised after it. Unwinding psycopg's pipeline with the
        error in flight made psycopg log `error ignored terminating <psycopg.Pipeline [BAD]>`
        on stderr after every reconnect."""
        conn = lane.conn
        failure: BaseException | None = None
        try:
            with conn.pipeline():
                try:
                    cur = conn.cursor()
                    for i, t in enumerate(txns):
                        if i == 0 or not as_one:
                            cur.execute("BEGIN")
                        for sql, rows in statements(t, params):
                            cur.executemany(sql, rows)
                        if i == len(txns) - 1 or not as_one:
                            self._mark(cur, lane, t)
                            cur.execute("COMMIT")
                except BaseException as exc:
                    failure = exc
        except self.pg.Error:
            if failure is None:
                raise
        if failure is not None:
            raise failure

    def _applied_after_error(self, lane: Lane) -> int | None:
        conn = lane.conn
        if conn is None or conn.closed:
            return None
        try:
            conn.execute("ROLLBACK")
            return self._applied(lane)
        except self.pg.Error:
            return None

    def _describe(self, exc: BaseException) -> str:
        diag = getattr(exc, "diag", None)
        table = f" (table {diag.table_name})" if diag is not None and diag.table_name else ""
        return (
            f"{table} failed on {self.url.masked} and was rolled back: "
            f"{redact(str(exc), self.url.password).strip()}"
        )


_Params = dict[str, list[tuple[str, tuple[object, ...]]]]


def statements(t: PlannedTxn, params: _Params) -> Iterator[tuple[str, list[tuple[object, ...]]]]:
    """A transaction's statements: runs of the same statement with their parameter rows."""
    for e, a, b in t.ranges:
        for sql, group in itertools.groupby(params[e][a:b], key=lambda p: p[0]):
            yield sql, [p for _, p in group]


# -- attaching to an existing schema -----------------------------------------------------------

_COMPATIBLE = {
    "int": {"int2", "int4", "int8"},
    "float": {"float4", "float8"},
    "bool": {"bool"},
    "timestamp": {"timestamptz", "timestamp"},
    "date": {"date"},
    "decimal": {"numeric"},
    "string": {"text", "varchar", "bpchar"},
    "json": {"jsonb", "json"},
}


def check_table(conn: Any, ns: str, s: EntitySchema, schemas: dict[str, EntitySchema]) -> list[str]:
    """What differs between an existing table and the scenario's entity (empty when it fits)."""
    rows = conn.execute(
        "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        " a.atthasdef FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (ns, s.name),
    ).fetchall()
    have = {r[0]: r for r in rows}
    problems = []
    for f in s.row_type:
        if f.name not in have:
            problems.append(
                f"{s.name}.{f.name} is missing (expected {POSTGRES.sql_type(f.type).lower()})"
            )
            continue
        _, typname, shown, _, _ = have[f.name]
        family = type_family(f.type)
        if typname not in _COMPATIBLE[family]:
            problems.append(
                f"{s.name}.{f.name} is {shown}, the scenario needs "
                f"{POSTGRES.sql_type(f.type).lower()}"
            )
    wanted = {f.name for f in s.row_type}
    for name, (_, _, shown, notnull, hasdef) in have.items():
        if name not in wanted and notnull and not hasdef:
            problems.append(
                f"{s.name}.{name} ({shown}) is NOT NULL without a default and not in the "
                "scenario: inserts would fail"
            )
    pk = [
        r[0]
        for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary",
            (ns, s.name),
        ).fetchall()
    ]
    if sorted(pk) != sorted(s.primary_key):
        shown_pk = f"({', '.join(pk)})" if pk else "missing"
        problems.append(
            f"{s.name}: primary key is {shown_pk}, the scenario's key is "
            f"({', '.join(s.primary_key)})"
        )
    return problems
