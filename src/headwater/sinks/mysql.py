"""MariaDB/MySQL as the application database: normalized InnoDB tables, real transactions.

Same behaviour as the postgres sink: the schema comes from the scenario (or, with
`if_exists: attach`, an existing one is checked against it), the initial population loads
with multi-row INSERTs in one transaction, and every later world transaction commits as one
database transaction, on `connections` parallel connections routed by root key, with a
`headwater.headwater_applied` row (its own database, see _sql_sink.BOOKKEEPING) per
connection (the number of the last transaction committed on it, and its world transaction
id) updated inside each transaction, so that a reconnect after the
server went away resumes exactly after the last committed one.

SQL text is built from Arrow columns (literals escaped with vectorized string kernels), and
several transactions travel in one round trip (multi-statement `BEGIN; …; COMMIT; BEGIN; …`),
which PyMySQL, a pure-Python driver, needs to keep up. Timestamps are stored as DATETIME(6)
in UTC. For binlog CDC (headwater.capture.mysql) the server needs binlog_format=ROW,
binlog_row_image=FULL and, on MariaDB, binlog_row_metadata=FULL.

The password comes from the URL (`${MYSQL_PASSWORD}` is expanded at run time) or from
`password_env`, and is never printed: messages show the URL with `***`.

```yaml
sinks:
  app_db:
    kind: mysql
    url: mysql://app@127.0.0.1:3306/shop
    password_env: MYSQL_PASSWORD
    connections: 2
```
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from headwater.errors import SinkError, SinkUnavailable, require
from headwater.secrets import redact
from headwater.sinks._sql import MYSQL, DbUrl, PlannedTxn, create_table
from headwater.sinks._sql_names import MYSQL_NAMES
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
from headwater.world.changes import Changes
from headwater.world.schema import EntitySchema

ROUND_TRIP_BYTES = 1 << 20  # SQL text sent per round trip (transactions are never split)
INSERT_BYTES = 4 << 20  # one multi-row INSERT of the initial load
# Errors after which the connection is gone (reconnect) rather than the data wrong.
DISCONNECTS = {2003, 2006, 2013, 2055, 1053, 1927, 4031}
ACCESS_DENIED_TO_DATABASE = 1044
RETRYABLE = {1205, 1213}  # lock wait timeout, deadlock: the server rolled back; send again


class MysqlConfig(SqlSinkConfig):
    url_schemes = ("mysql", "mariadb")
    url_example = "mysql://user@host:3306/database"

    kind: Literal["mysql"] = "mysql"
    url: str = Field(
        description="mysql://user@host:port/database (also mariadb://); ${VAR} is read from "
        "the environment"
    )


def import_pymysql(sink: str) -> Any:
    return require("pymysql", "mysql", f"sink '{sink}' (mysql)")


def connect_args(url: DbUrl, timeout: timedelta) -> dict[str, Any]:
    args: dict[str, Any] = {
        "host": url.host,
        "port": url.port or 3306,
        "user": url.user or "root",
        "password": url.password or "",
        "charset": "utf8mb4",
        "connect_timeout": max(1, round(timeout.total_seconds())),
        "autocommit": True,
    }
    if url.database:
        args["database"] = url.database
    return args


def explain_connect_error(url: DbUrl, exc: Exception, password_hint: str) -> str:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = redact(str(exc.args[1] if len(exc.args) > 1 else exc), url.password)
    where = f"cannot connect to {url.masked}"
    if code == 1045:
        return f"{where}: the server rejected user '{url.user}' and its password; {password_hint}"
    if code == 1049:
        return f"{where}: database '{url.database}' does not exist (CREATE DATABASE {url.database})"
    if code == 1044:
        return f"{where}: user '{url.user}' may not use database '{url.database}' (GRANT … ON {url.database}.*)"
    if code == 2003 and "timed out" in text.lower():
        return f"{where}: no answer from {url.host}:{url.port or 3306} within the connect timeout"
    if code == 2003:
        return (
            f"{where}: nothing accepts connections at {url.host}:{url.port or 3306} "
            "(is the server running, and are host and port right?)"
        )
    if code == 2005 or "name or service not known" in text.lower():
        return f"{where}: unknown host '{url.host}'"
    return f"{where}: {text}"


def password_hint(config: Any) -> str:
    return _password_hint(config, "MYSQL_PASSWORD")


def error_code(exc: BaseException) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


# -- SQL literals from Arrow columns -----------------------------------------------------------


def _quoted(col: pa.Array) -> pa.Array:
    """'…' with backslash, quote and NUL escaped (the server's default escaping)."""
    for old, new in (("\\", "\\\\"), ("'", "\\'"), ("\x00", "\\0")):
        col = pc.replace_substring(col, old, new)
    return pc.binary_join_element_wise("'", col, "'", "")


def sql_literals(col: pa.Array) -> pa.Array:
    """Every value of a column as a MySQL literal (NULL for nulls), as a string array."""
    t = col.type
    if pa.types.is_boolean(t):
        out = pc.if_else(col, "1", "0")
    elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        out = pc.cast(col, pa.string())
    elif pa.types.is_timestamp(t):
        out = _quoted(pc.strftime(col, MYSQL.timestamp_format))
    elif pa.types.is_date(t):
        out = _quoted(pc.cast(col, pa.string()))
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        out = _quoted(col.cast(pa.string()))
    else:
        dumped = [None if v is None else json.dumps(v, default=str) for v in col.to_pylist()]
        out = _quoted(pa.array(dumped, pa.string()))
    return pc.fill_null(out, "NULL")


@dataclass
class TableSql:
    """Per change row of one entity: the SQL it needs (a VALUES tuple for inserts)."""

    insert_head: str
    rows: list[str]  # "(…)" for r/c rows, a full UPDATE/DELETE statement otherwise
    ops: list[str]

    @classmethod
    def of(cls, s: EntitySchema, changes: pa.Table) -> TableSql:
        q, table = MYSQL.q, MYSQL.q(s.name)
        names = [f.name for f in s.row_type]
        pk = list(s.primary_key)
        after = changes["after"].combine_chunks()
        before = changes["before"].combine_chunks()
        ops = changes["op"].to_pylist()
        n = len(ops)
        lits = {name: sql_literals(after.field(name)) for name in names}
        tuples = pc.binary_join_element_wise(
            "(", pc.binary_join_element_wise(*[lits[c] for c in names], ","), ")", ""
        )
        rows = tuples.to_pylist()
        if "u" in ops:
            sets = [
                pc.binary_join_element_wise(f"{q(c)}=", lits[c], "") for c in names if c not in pk
            ]
            where = [pc.binary_join_element_wise(f"{q(c)}=", lits[c], "") for c in pk]
            update = pc.binary_join_element_wise(
                f"UPDATE {table} SET ",
                pc.binary_join_element_wise(*sets, ","),
                " WHERE ",
                pc.binary_join_element_wise(*where, " AND "),
                "",
            ).to_pylist()
            rows = [update[i] if ops[i] == "u" else rows[i] for i in range(n)]
        if "d" in ops:
            where = [
                pc.binary_join_element_wise(f"{q(c)}=", sql_literals(before.field(c)), "")
                for c in pk
            ]
            delete = pc.binary_join_element_wise(
                f"DELETE FROM {table} WHERE ", pc.binary_join_element_wise(*where, " AND "), ""
            ).to_pylist()
            rows = [delete[i] if ops[i] == "d" else rows[i] for i in range(n)]
        head = f"INSERT INTO {table} ({', '.join(q(c) for c in names)}) VALUES "
        return cls(head, rows, ops)

    def statements(self, start: int, stop: int) -> list[str]:
        """The statements of rows [start, stop): runs of inserts become one multi-row INSERT."""
        out: list[str] = []
        run: list[str] = []
        for i in range(start, stop):
            if self.ops[i] in "rc":
                run.append(self.rows[i])
                continue
            if run:
                out.append(self.insert_head + ",".join(run))
                run = []
            out.append(self.rows[i])
        if run:
            out.append(self.insert_head + ",".join(run))
        return out


# -- the sink ----------------------------------------------------------------------------------


class MysqlSink(SqlSink):
    kind = "mysql"
    Config = MysqlConfig
    durable_commits = "innodb_flush_log_at_trx_commit = 1, sync_binlog = 1"
    config: MysqlConfig
    capabilities = replace(SqlSink.capabilities, log_capture=True)
    capture = "headwater.capture.mysql:MysqlCapture"
    names = MYSQL_NAMES

    def _import(self) -> Any:
        self.my = import_pymysql(self.name)
        return self.my

    def _check_url(self) -> None:
        if not self.url.database:
            raise SinkError(self.name, f"{self.url.masked} names no database (…/shop)")

    def _connect(self) -> Any:
        pymysql = self.my
        try:
            conn = pymysql.connect(
                **connect_args(self.url, self.config.connect_timeout),
                client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
            )
        except pymysql.Error as exc:
            raise SinkUnavailable(
                self.name, explain_connect_error(self.url, exc, password_hint(self.config))
            ) from None
        with conn.cursor() as cur:
            cur.execute(
                "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', ''),"
                " time_zone = '+00:00'"
            )
        return conn

    def _closed(self, conn: Any) -> bool:
        return not conn.open

    def _close_conn(self, conn: Any) -> None:
        with contextlib.suppress(self.my.Error):
            conn.close()

    def _lost(self, lane: Lane, exc: BaseException) -> bool:
        if lane.conn is None or not lane.conn.open:
            return True
        return isinstance(exc, self.my.err.OperationalError) and error_code(exc) in DISCONNECTS

    def _retryable(self, lane: Lane, exc: BaseException) -> bool:
        return error_code(exc) in RETRYABLE

    def _rollback(self, lane: Lane) -> None:
        with contextlib.suppress(self.my.Error):
            lane.conn.rollback()

    # -- lifecycle -------------------------------------------------------------------------
    def _setup(self, conn: Any, schemas: dict[str, EntitySchema]) -> None:
        try:
            self._prepare(conn, schemas)
        except self.my.Error as exc:
            raise self._err(exc, "preparing tables") from None

    def _prepare(self, conn: Any, schemas: dict[str, EntitySchema]) -> None:
        d = MYSQL
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, table_comment FROM information_schema.tables"
                " WHERE table_schema = DATABASE()"
            )
            existing = dict(cur.fetchall())
            present = self._refuse_or_check(
                schemas, existing, self.url.masked, lambda s: check_table(cur, s)
            )
            if self.config.if_exists == "attach":
                cur.execute("SET FOREIGN_KEY_CHECKS = 0")
                for e in schemas:
                    cur.execute(f"TRUNCATE TABLE {d.q(e)}")
                cur.execute("SET FOREIGN_KEY_CHECKS = 1")
            else:
                cur.execute("SET FOREIGN_KEY_CHECKS = 0")
                for e in reversed(present):
                    cur.execute(f"DROP TABLE {d.q(e)}")
                cur.execute("SET FOREIGN_KEY_CHECKS = 1")
                for s in schemas.values():
                    for stmt in create_table(d, s, schemas):
                        table = stmt.startswith("CREATE TABLE")
                        cur.execute(stmt + (f" ENGINE=InnoDB COMMENT='{OWNED}'" if table else ""))
            if not cur.execute(BOOKKEEPING_SCHEMA_FOUND, (BOOKKEEPING_SCHEMA,)):
                try:
                    cur.execute(BOOKKEEPING_SCHEMA_DDL)
                except self.my.Error as exc:
                    if error_code(exc) != ACCESS_DENIED_TO_DATABASE:
                        raise
                    raise SinkError(self.name, no_bookkeeping_schema(self.url)) from None
            cur.execute(bookkeeping_ddl("VARCHAR(255)", "DATETIME(6)", " ENGINE=InnoDB"))
            cur.execute(f"DELETE FROM {BOOKKEEPING} WHERE sink = %s", (self.book,))
            cur.executemany(
                f"INSERT INTO {BOOKKEEPING} VALUES (%s, %s, 0, -1, UTC_TIMESTAMP(6), NULL)",
                [(self.book, lane.index) for lane in self.lanes],
            )

    # -- bookkeeping -----------------------------------------------------------------------
    def _mark_sql(self, lane: Lane, t: PlannedTxn) -> str:
        name = self.my.converters.escape_string(self.book)
        return (
            f"UPDATE {BOOKKEEPING} SET ordinal = {t.ordinal}, txn = {t.txn},"
            f" event_time_us = {t.event_time},"
            f" committed_at = UTC_TIMESTAMP(6) WHERE sink = '{name}' AND lane = {lane.index}"
        )

    def _read_applied(self, lane: Lane) -> Any:
        with lane.conn.cursor() as cur:
            cur.execute(APPLIED, (self.book, lane.index))
            return cur.fetchone()

    def _execute(self, conn: Any, sql: str) -> None:
        """Run a multi-statement text and read every result (errors surface here)."""
        with conn.cursor() as cur:
            cur.execute(sql)
            while cur.nextset():
                pass

    # -- initial load ----------------------------------------------------------------------
    def _load_txn(self, lane: Lane, tables: dict[str, pa.Table], marker: PlannedTxn) -> None:
        lane.conn.begin()
        for entity, t in tables.items():
            for sql in insert_statements(self.context.schemas[entity], t):
                self._execute(lane.conn, sql)
        self._execute(lane.conn, self._mark_sql(lane, marker))
        lane.conn.commit()

    def _load_failed(self, lane: Lane) -> None:
        self._rollback(lane)

    # -- transactions ----------------------------------------------------------------------
    def _params(self, changes: Changes) -> dict[str, TableSql]:
        return {e: TableSql.of(self.context.schemas[e], t) for e, t in changes.tables.items()}

    def _texts(
        self, lane: Lane, txns: list[PlannedTxn], sql: dict[str, TableSql], per_step: bool
    ) -> list[tuple[str, int]]:
        """Round trips: (SQL text, index of the last transaction it commits)."""
        out: list[tuple[str, int]] = []
        parts: list[str] = []
        size = 0
        for i, t in enumerate(txns):
            body = [s for e, a, b in t.ranges for s in sql[e].statements(a, b)]
            if per_step:
                parts += body
                continue
            text = ";".join(["BEGIN", *body, self._mark_sql(lane, t), "COMMIT"])
            parts.append(text)
            size += len(text)
            if size >= ROUND_TRIP_BYTES:
                out.append((";".join(parts), i))
                parts, size = [], 0
        if per_step and txns:
            parts = ["BEGIN", *parts, self._mark_sql(lane, txns[-1]), "COMMIT"]
            out.append((";".join(parts), len(txns) - 1))
        elif parts:
            out.append((";".join(parts), len(txns) - 1))
        return out

    def _send(
        self, lane: Lane, txns: list[PlannedTxn], sql: dict[str, TableSql], per_step: bool
    ) -> None:
        for text, _last in self._texts(lane, txns, sql, per_step):
            self._execute(lane.conn, text)

    def _applied_after_error(self, lane: Lane) -> int | None:
        self._rollback(lane)
        try:
            return self._applied(lane)
        except self.my.Error:
            return None


def insert_statements(s: EntitySchema, changes: pa.Table) -> list[str]:
    """Multi-row INSERTs of the rows after the changes, each at most INSERT_BYTES long."""
    after = changes["after"].combine_chunks()
    names = [f.name for f in s.row_type]
    tuples = pc.binary_join_element_wise(
        "(",
        pc.binary_join_element_wise(*[sql_literals(after.field(c)) for c in names], ","),
        ")",
        "",
    )
    head = f"INSERT INTO {MYSQL.q(s.name)} ({', '.join(MYSQL.q(c) for c in names)}) VALUES "
    sizes = pc.add(pc.binary_length(tuples), 1).to_numpy()
    out = []
    start, size = 0, 0
    for i, n in enumerate(sizes.tolist()):
        if size + n > INSERT_BYTES and i > start:
            out.append(head + _join(tuples.slice(start, i - start)))
            start, size = i, 0
        size += n
    if start < len(tuples):
        out.append(head + _join(tuples.slice(start)))
    return out


def _join(values: pa.Array) -> str:
    """The strings joined with commas, in Arrow (one list of all of them, then binary_join)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    lists = pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)
    return str(pc.binary_join(lists, ",")[0].as_py())


# -- attaching to an existing schema -----------------------------------------------------------

_COMPATIBLE = {
    "int": {"tinyint", "smallint", "mediumint", "int", "bigint"},
    "float": {"float", "double"},
    "bool": {"tinyint", "bit"},
    "timestamp": {"datetime", "timestamp"},
    "date": {"date"},
    "decimal": {"decimal"},
    "string": {"varchar", "char", "text", "tinytext", "mediumtext", "longtext"},
    "json": {"json", "longtext", "text", "mediumtext"},
}


def check_table(cur: Any, s: EntitySchema) -> list[str]:
    """What differs between an existing table and the scenario's entity (empty when it fits)."""
    cur.execute(
        "SELECT column_name, data_type, column_type, is_nullable, column_default, extra"
        " FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = %s",
        (s.name,),
    )
    have = {r[0]: r for r in cur.fetchall()}
    problems = []
    for f in s.row_type:
        if f.name not in have:
            problems.append(
                f"{s.name}.{f.name} is missing (expected {MYSQL.sql_type(f.type).lower()})"
            )
            continue
        _, data_type, column_type, *_ = have[f.name]
        if data_type.lower() not in _COMPATIBLE[type_family(f.type)]:
            problems.append(
                f"{s.name}.{f.name} is {column_type}, the scenario needs "
                f"{MYSQL.sql_type(f.type).lower()}"
            )
    wanted = {f.name for f in s.row_type}
    for name, (_, _, column_type, nullable, default, extra) in have.items():
        if (
            name not in wanted
            and nullable == "NO"
            and default is None
            and "auto_increment" not in extra
        ):
            problems.append(
                f"{s.name}.{name} ({column_type}) is NOT NULL without a default and not in the "
                "scenario: inserts would fail"
            )
    cur.execute(
        "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema ="
        " DATABASE() AND table_name = %s AND constraint_name = 'PRIMARY'",
        (s.name,),
    )
    pk = [r[0] for r in cur.fetchall()]
    if sorted(pk) != sorted(s.primary_key):
        shown = f"({', '.join(pk)})" if pk else "missing"
        problems.append(
            f"{s.name}: primary key is {shown}, the scenario's key is ({', '.join(s.primary_key)})"
        )
    return problems
