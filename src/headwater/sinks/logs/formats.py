"""Log lines from Arrow columns: access logs, JSON application logs, syslog (RFC 5424 / 3164).

Every formatter takes `fields` (a `pa.Table`, or a mapping of column name to Arrow array or
to one Python scalar that stands for every row) and returns a `pa.StringArray` with one
line per row, without a trailing newline. The work is vectorized: strings are assembled
with `pyarrow.compute`, timestamps are rendered as fixed-width bytes with numpy lookup
tables (`pc.strftime` costs about 1 µs a row, ten times more), and Python runs only once
per distinct value (a dictionary entry, a day, a time-zone offset, a rare special
character). Dictionary-encoded columns are formatted once per dictionary entry, so
low-cardinality columns (user agents, loggers, stack traces) cost almost nothing.

Formatters keep every row: drop rows first with `filter_level` (a minimum level).

Column names are shared across formats; `COLUMNS` (per format name) lists them with
their types as data. Required columns in capitals:

    common/combined  TIME CLIENT_IP METHOD PATH STATUS user protocol bytes
                     referrer user_agent (combined) request_time (request_time=True)
    json             TIME LEVEL MESSAGE logger trace_id span_id stack_trace <extras>
    rfc5424          TIME SEVERITY-or-LEVEL facility hostname app_name procid msgid
                     message <structured-data columns>
    rfc3164          TIME SEVERITY-or-LEVEL facility hostname app_name procid message

`time` is a timestamp of any unit (tz-aware, or naive meaning UTC); a scalar may stand
for any other column ("GET", "web-01", None). Columns that are absent, or null in a row,
get the format's placeholder: '-' in access logs and syslog headers, no key in JSON.

The line layouts follow the real software: Apache/nginx `common` and `combined` with
nginx's `\\xHH` escaping, JSON as structured loggers write it, syslog as rsyslog writes it
(control characters as `#ooo`).

```yaml
sinks:
  access: {kind: logs, entities: [page_views], format: combined, path: access, columns: {client_ip: ip, path: url}}
  plain: {kind: logs, entities: [page_views], format: common, path: common, columns: {client_ip: ip, path: url}}
  app: {kind: logs, entities: [orders], format: json, path: app, message: "order {order_id} {_op}"}
  syslog: {kind: logs, entities: [orders], format: rfc5424, path: syslog, facility: local0}
  legacy: {kind: logs, entities: [orders], format: rfc3164, path: legacy}
```
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# ---------------------------------------------------------------------------------------
# Input description
# ---------------------------------------------------------------------------------------

Scalar: TypeAlias = str | int | float | bool | None
Column: TypeAlias = pa.Array | pa.ChunkedArray
LogFields: TypeAlias = pa.Table | Mapping[str, Column | Scalar]
"""What formatters read: a table, or named columns where a scalar stands for every row."""


@dataclass(frozen=True)
class Field:
    """One input column a formatter reads; `required` columns must be present."""

    name: str
    type: str
    required: bool
    doc: str


_TIME = Field("time", "timestamp", True, "when the line was logged; naive means UTC")
_MESSAGE = Field("message", "string", True, "the log message; may span lines")

ACCESS_FIELDS: tuple[Field, ...] = (
    _TIME,
    Field("client_ip", "string | uint32", True, "remote address; a uint32 is an IPv4"),
    Field("user", "string", False, "authenticated user; null or absent gives '-'"),
    Field("method", "string", True, "HTTP method"),
    Field("path", "string", True, "request target, with its query string"),
    Field("protocol", "string", False, "default 'HTTP/1.1'"),
    Field("status", "int", True, "HTTP status code"),
    Field("bytes", "int", False, "response body size; 0 or null gives '-'"),
    Field("referrer", "string", False, "combined only; null gives '-'"),
    Field("user_agent", "string", False, "combined only; null gives '-'"),
    Field("request_time", "float seconds | duration", False, "with request_time=True"),
)
JSON_FIELDS: tuple[Field, ...] = (
    _TIME,
    Field("level", "string", True, "one of LEVELS"),
    _MESSAGE,
    Field("logger", "string", False, "logger name (standard, full)"),
    Field("trace_id", "string", False, "W3C trace id; null omits the key (standard, full)"),
    Field("span_id", "string", False, "W3C span id; null omits the key (standard, full)"),
    Field("stack_trace", "string", False, "written on ERROR lines only (standard, full)"),
    Field("<extra>", "string | number | bool | timestamp | date", False, "full detail only"),
)
SYSLOG_FIELDS: tuple[Field, ...] = (
    _TIME,
    Field("severity", "int 0..7", False, "syslog severity; else mapped from `level`"),
    Field("level", "string", False, "used when `severity` is absent"),
    Field("facility", "int 0..23", False, "else the `facility` argument"),
    Field("hostname", "string", False, "null or absent gives '-'"),
    Field("app_name", "string", False, "APP-NAME (5424) or TAG (3164)"),
    Field("procid", "string | int", False, "PROCID (5424) or [PID] (3164)"),
    Field("msgid", "string", False, "RFC 5424 only"),
    Field("<sd param>", "any", False, "RFC 5424 structured data, named in `structured_data`"),
    _MESSAGE,
)
COLUMNS: dict[str, tuple[Field, ...]] = {
    "common": ACCESS_FIELDS,
    "combined": ACCESS_FIELDS,
    "json": JSON_FIELDS,
    "rfc5424": SYSLOG_FIELDS,
    "rfc3164": SYSLOG_FIELDS,
}

# ---------------------------------------------------------------------------------------
# Levels and syslog severities
# ---------------------------------------------------------------------------------------

LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARN", "ERROR")
"""JSON log levels, least severe first."""

LEVEL_SEVERITY: dict[str, int] = {"DEBUG": 7, "INFO": 6, "WARN": 4, "ERROR": 3}
"""JSON level → syslog severity (debug, informational, warning, error)."""

SEVERITY_LEVEL: tuple[str, ...] = ("ERROR",) * 4 + ("WARN", "INFO", "INFO", "DEBUG")
"""Syslog severity 0..7 → JSON level: emerg..err are ERROR, notice is INFO."""

FACILITIES: dict[str, int] = {
    name: code
    for code, name in enumerate(
        [
            "kern",
            "user",
            "mail",
            "daemon",
            "auth",
            "syslog",
            "lpr",
            "news",
            "uucp",
            "cron",
            "authpriv",
            "ftp",
            "ntp",
            "audit",
            "alert",
            "clock",
            "local0",
            "local1",
            "local2",
            "local3",
            "local4",
            "local5",
            "local6",
            "local7",
        ]
    )
}
"""Syslog facility names (RFC 5424 table 1, as rsyslog names them) → code."""

Detail = Literal["minimal", "standard", "full"]
DETAILS: tuple[Detail, ...] = ("minimal", "standard", "full")


def level_to_severity(levels: Column) -> pa.Int8Array:
    """Map JSON levels to syslog severities; unknown levels raise, so typos are not lost."""
    levels = _plain(_strings(_array(levels)))
    codes = pc.index_in(levels, value_set=pa.array(LEVELS))
    _check_levels(levels, codes)
    table = pa.array([LEVEL_SEVERITY[name] for name in LEVELS], pa.int8())
    return table.take(codes)


def severity_to_level(severities: Column) -> pa.StringArray:
    """Map syslog severities 0..7 to JSON levels (ERROR, WARN, INFO, DEBUG)."""
    sev = pc.cast(_array(severities), pa.int8())
    if pc.any(pc.or_(pc.less(sev, 0), pc.greater(sev, 7))).as_py():
        raise ValueError("syslog severity must be within 0..7")
    return pa.array(SEVERITY_LEVEL).take(sev)


def filter_level(fields: LogFields, min_level: str) -> LogFields:
    """Keep rows at `min_level` or more severe (WARN keeps WARN and ERROR).

    Reads `level`, or `severity` when there is no `level` column. Returns the same kind
    of input it was given, so the kept rows' times remain available for rotation.
    """
    if min_level not in LEVELS:
        raise ValueError(f"unknown level {min_level!r}; expected one of {', '.join(LEVELS)}")
    cols = _Fields(fields, "filter_level")
    if cols.has("level"):
        levels = _plain(_strings(cols.get("level")))
        rank = pc.index_in(levels, value_set=pa.array(LEVELS))
        _check_levels(levels, rank)
        keep = pc.greater_equal(rank, LEVELS.index(min_level))
    else:
        sev = pc.cast(cols.get("severity"), pa.int8())
        keep = pc.less_equal(sev, LEVEL_SEVERITY[min_level])
    keep = pc.fill_null(keep, False)
    if isinstance(fields, pa.Table):
        return fields.filter(keep)
    out: dict[str, Column | Scalar] = {}
    for name, value in fields.items():
        out[name] = value.filter(keep) if isinstance(value, pa.Array | pa.ChunkedArray) else value
    return out


def _check_levels(levels: pa.Array, codes: pa.Array) -> None:
    bad = pc.and_(pc.is_null(codes), pc.is_valid(levels))
    if pc.any(bad).as_py():
        found = sorted(set(pc.unique(levels.filter(bad)).to_pylist()))
        raise ValueError(f"unknown level(s) {found}; expected one of {', '.join(LEVELS)}")


# ---------------------------------------------------------------------------------------
# Trace ids and stack traces
# ---------------------------------------------------------------------------------------

_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), np.uint8).reshape(256, 2)


def _random_hex(rng: np.random.Generator, n: int, nbytes: int) -> pa.StringArray:
    raw = np.frombuffer(rng.bytes(n * nbytes), np.uint8).reshape(n, nbytes).copy()
    raw[~raw.any(axis=1), -1] = 1  # W3C trace context forbids the all-zero id
    text = _HEX_PAIRS[raw].reshape(-1)
    width = 2 * nbytes
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))


def generate_trace_ids(rng: np.random.Generator, n: int) -> pa.StringArray:
    """`n` random W3C trace ids (32 lowercase hex chars, never all zero) from `rng`."""
    return _random_hex(rng, n, 16)


def generate_span_ids(rng: np.random.Generator, n: int) -> pa.StringArray:
    """`n` random W3C span ids (16 lowercase hex chars, never all zero) from `rng`."""
    return _random_hex(rng, n, 8)


STACK_TRACES: tuple[str, ...] = (
    """Traceback (most recent call last):
  File "/app/venv/lib/python3.11/site-packages/flask/app.py", line 1484, in full_dispatch_request
    rv = self.dispatch_request()
  File "/app/venv/lib/python3.11/site-packages/flask/app.py", line 1469, in dispatch_request
    return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)
  File "/app/shop/views/orders.py", line 88, in create_order
    total = sum(line["price"] * line["qty"] for line in payload["lines"])
  File "/app/shop/views/orders.py", line 88, in <genexpr>
    total = sum(line["price"] * line["qty"] for line in payload["lines"])
KeyError: 'price'""",
    """Traceback (most recent call last):
  File "/app/shop/services/payments.py", line 142, in capture
    response = self.session.post(url, json=body, timeout=self.timeout)
  File "/app/venv/lib/python3.11/site-packages/requests/sessions.py", line 637, in post
    return self.request("POST", url, data=data, json=json, **kwargs)
  File "/app/venv/lib/python3.11/site-packages/requests/adapters.py", line 532, in send
    raise ReadTimeout(e, request=request)
requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.payments.example', port=443): Read timed out. (read timeout=5)""",
    """Traceback (most recent call last):
  File "/app/shop/db.py", line 51, in execute
    cur.execute(sql, params)
  File "/app/venv/lib/python3.11/site-packages/psycopg/cursor.py", line 732, in execute
    raise ex.with_traceback(None)
psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "customers_email_key"
DETAIL:  Key (email)=(ana@example.com) already exists.""",
    """java.lang.NullPointerException: Cannot invoke "com.example.shop.Customer.getEmail()" because "customer" is null
\tat com.example.shop.service.NotificationService.sendReceipt(NotificationService.java:57)
\tat com.example.shop.service.OrderService.complete(OrderService.java:203)
\tat com.example.shop.web.OrderController.complete(OrderController.java:91)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:255)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)
\tat java.base/java.lang.Thread.run(Thread.java:1583)""",
    """org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection
\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException(HibernateJpaDialect.java:277)
\tat com.example.shop.repository.OrderRepository.findByCustomerId(OrderRepository.java)
\tat com.example.shop.service.OrderService.history(OrderService.java:118)
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)
\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)
\t... 42 more""",
    """java.lang.IllegalStateException: Order 4711 cannot move from SHIPPED to CANCELLED
\tat com.example.shop.domain.Order.transition(Order.java:142)
\tat com.example.shop.service.OrderService.cancel(OrderService.java:77)
\tat com.example.shop.web.OrderController.cancel(OrderController.java:64)
\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)
\tat org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)
\tat java.base/java.lang.Thread.run(Thread.java:1583)""",
)
"""Realistic Python and Java stack traces, multi-line, picked by index."""


def stack_traces(index: Column | np.ndarray | Sequence[int]) -> pa.DictionaryArray:
    """The traces at `index` (taken modulo the pool size; null index → null trace).

    Dictionary-encoded with the whole pool as dictionary, so formatters escape each
    trace once rather than once per row.
    """
    arr = pc.cast(_array(index), pa.int64())
    mask = np.asarray(arr.is_null())
    values = np.asarray(pc.fill_null(arr, 0)) % len(STACK_TRACES)
    indices = pa.array(values.astype(np.int32), mask=mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(indices, pa.array(STACK_TRACES))


# ---------------------------------------------------------------------------------------
# Formatters
# ---------------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NULL_STR = pa.scalar(None, pa.string())


def format_access(
    fields: LogFields,
    *,
    style: Literal["common", "combined"] = "combined",
    tz: str | dt.timedelta = "UTC",
    request_time: bool = False,
) -> pa.StringArray:
    """Apache/nginx access-log lines, `common` or `combined` (see `ACCESS_FIELDS`).

    `10.0.0.1 - alice [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "ref" "ua"`,
    local time in `tz` (an IANA name, a "+HH:MM" offset, or a timedelta). Strings are
    escaped as nginx does: `"`, `\\`, control and non-ASCII bytes become `\\xHH`.
    `request_time=True` appends nginx's `$request_time` (seconds, millisecond resolution).
    """
    if style not in ("common", "combined"):
        raise ValueError(f"unknown access-log style {style!r}; expected 'common' or 'combined'")
    cols = _Fields(fields, style)
    cols.require("time", "client_ip", "method", "path", "status")
    when = _render_time(
        _no_nulls(cols.get("time"), "time"),
        _zone(tz),
        date=lambda d: f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year:04d}:",
        frac=0,
        offset=lambda m: f" {'-' if m < 0 else '+'}{abs(m) // 60:02d}{abs(m) % 60:02d}",
        prefix=" [",
        suffix='] "',
    )
    size: Column | str = "-"
    if cols.has("bytes"):
        nbytes = cols.get("bytes")
        size = pc.fill_null(pc.if_else(pc.equal(nbytes, 0), "-", pc.cast(nbytes, pa.string())), "-")
    parts: list[Column | str] = [
        _client_ip(cols.get("client_ip")),
        " - ",
        _dash(cols, "user"),
        when,
        _dash(cols, "method"),
        " ",
        _dash(cols, "path"),
        " ",
        _dash(cols, "protocol") if cols.has("protocol") else "HTTP/1.1",
        '" ',
        _map(_strings(_encode(cols.get("status"))), lambda s: pc.fill_null(s, "-")),
        " ",
        size,
    ]
    if style == "combined":
        referrer, agent = _dash(cols, "referrer", _NGINX), _dash(cols, "user_agent", _NGINX)
        parts += [' "', referrer, '" "', agent, '"']
    if request_time:
        cols.require("request_time")
        parts += [" ", _seconds_ms(cols.get("request_time"))]
    return _join(parts, cols.n)


JSON_KEYS: dict[str, str] = {
    "time": "timestamp",
    "level": "level",
    "logger": "logger",
    "message": "message",
    "trace_id": "trace_id",
    "span_id": "span_id",
    "stack_trace": "stack_trace",
}
"""Input column → JSON key; override some with `format_json(keys=...)` (e.g. ECS `@timestamp`)."""


def format_json(
    fields: LogFields,
    *,
    detail: Detail = "standard",
    extras: Sequence[str] | None = None,
    keys: Mapping[str, str] | None = None,
) -> pa.StringArray:
    """One JSON object per line, as structured application loggers write them.

    Keys in order: timestamp (ISO-8601, milliseconds, Z), level, logger, message,
    trace_id, span_id, extras, stack_trace. `detail` chooses how much is written:
    `minimal` timestamp, level and message; `standard` adds logger, trace and span ids,
    and the stack trace on ERROR lines; `full` adds the extra columns (`extras`, by
    default every column that is not a known one). Null optional values omit their key.
    Strings are JSON-escaped (quotes, backslashes, control characters); non-ASCII is
    kept as UTF-8.
    """
    if detail not in DETAILS:
        raise ValueError(f"unknown detail {detail!r}; expected one of {', '.join(DETAILS)}")
    cols = _Fields(fields, "json")
    cols.require("time", "level", "message")
    names = {**JSON_KEYS, **(keys or {})}
    unknown = set(names) - set(JSON_KEYS)
    if unknown:
        raise ValueError(
            f"keys renames unknown column(s) {sorted(unknown)}; known: {list(JSON_KEYS)}"
        )
    if extras is not None and detail != "full":
        raise ValueError("extras are written with detail='full' only")
    if extras is None:
        extras = [n for n in cols.names if n not in JSON_KEYS] if detail == "full" else []
    else:
        cols.require(*extras)
    clash = set(extras) & set(names.values())
    if clash:
        raise ValueError(f"extra column(s) {sorted(clash)} would repeat a standard JSON key")

    def key(name: str) -> str:
        return json.dumps(names.get(name, name), ensure_ascii=False) + ":"

    when = _render_time(
        _no_nulls(cols.get("time"), "time"),
        None,
        date=_iso_date,
        frac=3,
        offset=None,
        prefix="{" + key("time") + '"',
        suffix='Z"',
    )
    parts: list[Column | str] = [when]
    parts += _json_field("," + key("level"), cols.get("level"), null="null")
    if detail != "minimal" and cols.has("logger"):
        parts += _json_field("," + key("logger"), cols.get("logger"))
    parts += _json_field("," + key("message"), cols.get("message"), null="null")
    if detail != "minimal":
        for name in ("trace_id", "span_id"):
            if cols.has(name):
                parts += _json_field("," + key(name), cols.get(name))
    if detail == "full":
        for name in extras:
            parts += _json_field("," + key(name), cols.get(name))
    if detail != "minimal" and cols.has("stack_trace"):
        is_error = pc.equal(_plain(_strings(cols.get("level"))), "ERROR")
        traces = _null_unless(cols.get("stack_trace"), is_error)
        parts += _json_field("," + key("stack_trace"), traces)
    parts.append("}")
    return _join(parts, cols.n)


def format_rfc5424(
    fields: LogFields,
    *,
    facility: int | str = "user",
    tz: str | dt.timedelta = "UTC",
    structured_data: Mapping[str, Sequence[str] | Mapping[str, str]] | None = None,
    escape_control: bool = True,
    bom: bool = False,
) -> pa.StringArray:
    """RFC 5424 syslog lines: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.

    PRI is facility*8+severity (`severity`, else mapped from `level`; `facility` column,
    else the argument, a code or a name such as "local0"). TIMESTAMP is RFC 3339 with
    microseconds, `Z` for UTC or the `tz` offset. Header fields keep printable ASCII
    only (others become `_`), are cut to their RFC length, and null gives the NILVALUE
    `-`. `structured_data` maps an SD-ID to the columns written as its parameters (a
    list of column names, or a mapping param-name → column); values are escaped
    (`"`, `\\`, `]`) and null values omitted. `escape_control` writes control characters
    as rsyslog does (`#012` for a newline), so a line stays one line; `bom` prefixes MSG
    with the UTF-8 BOM the RFC asks for.
    """
    cols = _Fields(fields, "rfc5424")
    cols.require("time")
    zone = _zone(tz)
    when = _render_time(
        cols.get("time"),
        zone,
        date=lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}T",
        frac=6,
        offset=(lambda m: "Z") if zone is None else _colon_offset,
    )
    parts: list[Column | str] = [
        _pri(cols, facility),
        "1 ",
        pc.fill_null(when, "-"),
        " ",
        _header(cols, "hostname", 255),
        " ",
        _header(cols, "app_name", 48),
        " ",
        _header(cols, "procid", 128),
        " ",
        _header(cols, "msgid", 32),
        " ",
    ]
    parts += _structured_data(cols, structured_data or {})
    if cols.has("message"):
        parts.append(
            _join([" \ufeff" if bom else " ", _strings(cols.get("message"))], cols.n, nulls="emit")
        )
    line = _join(parts, cols.n)
    return _SYSLOG_CONTROL(line) if escape_control else line


def format_rfc3164(
    fields: LogFields,
    *,
    facility: int | str = "user",
    tz: str | dt.timedelta = "UTC",
    escape_control: bool = True,
) -> pa.StringArray:
    """BSD syslog lines (RFC 3164): `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`.

    The time is local to `tz` with no zone and no year (as the RFC has it), the day
    padded with a space (`Jan  1`). TAG is `app_name` reduced to `[A-Za-z0-9._/-]`, at
    most 32 characters; `[PID]` appears when `procid` is set.
    """
    cols = _Fields(fields, "rfc3164")
    cols.require("time")
    when = _render_time(
        _no_nulls(cols.get("time"), "time"),
        _zone(tz),
        date=lambda d: f"{_MONTHS[d.month - 1]} {d.day:2d} ",
        frac=0,
        offset=None,
    )
    tag: Column | str = "-"
    if cols.has("app_name"):
        tag = _map(_strings(cols.get("app_name")), _tag)
    pid: Column | str = ""
    if cols.has("procid"):
        pid = _join(["[", _header(cols, "procid", 128, nil=None), "]"], cols.n, nulls="emit")
    message: Column | str = ""
    if cols.has("message"):
        message = _strings(cols.get("message"))
    parts: list[Column | str] = [
        _pri(cols, facility),
        when,
        " ",
        _header(cols, "hostname", 255),
        " ",
        tag,
        pid,
        ": ",
        message,
    ]
    line = _join(parts, cols.n)
    return _SYSLOG_CONTROL(line) if escape_control else line


FORMATTERS: dict[str, Callable[..., pa.StringArray]] = {
    "common": functools.partial(format_access, style="common"),
    "combined": functools.partial(format_access, style="combined"),
    "json": format_json,
    "rfc5424": format_rfc5424,
    "rfc3164": format_rfc3164,
}
"""Format name (as a scenario writes it) → formatter; `COLUMNS` lists what each reads."""


# ---------------------------------------------------------------------------------------
# Columns in, plain strings out
# ---------------------------------------------------------------------------------------


class _Fields:
    """Named columns of one batch: combines chunks, broadcasts scalars, names what is missing."""

    def __init__(self, fields: LogFields, fmt: str):
        self.fmt = fmt
        if isinstance(fields, pa.Table):
            self._cols: dict[str, Column | Scalar] = {
                n: fields.column(n) for n in fields.column_names
            }
            self.n: int = fields.num_rows
            return
        self._cols = dict(fields)
        lengths = {len(v) for v in self._cols.values() if isinstance(v, pa.Array | pa.ChunkedArray)}
        if len(lengths) > 1:
            raise ValueError(f"{fmt}: columns have different lengths {sorted(lengths)}")
        if not lengths:
            raise ValueError(f"{fmt}: at least one column must be an array, not every one a scalar")
        self.n = lengths.pop()

    @property
    def names(self) -> list[str]:
        return list(self._cols)

    def has(self, name: str) -> bool:
        return name in self._cols

    def require(self, *names: str) -> None:
        missing = [n for n in names if n not in self._cols]
        if missing:
            raise ValueError(
                f"format {self.fmt!r} needs column(s) {missing}; got {sorted(self._cols)}"
            )

    def get(self, name: str) -> pa.Array:
        self.require(name)
        value = self._cols[name]
        if isinstance(value, pa.Array | pa.ChunkedArray):
            return _array(value)
        if value is None or isinstance(value, str):
            return pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(self.n, np.int32)), pa.array([value], pa.string())
            )
        return pa.repeat(pa.scalar(value), self.n)


def _array(value: Column | np.ndarray | Sequence[object]) -> pa.Array:
    if isinstance(value, pa.ChunkedArray):
        return value.chunk(0) if value.num_chunks == 1 else value.combine_chunks()
    if isinstance(value, pa.Array):
        return value
    return pa.array(value)


def _strings(arr: pa.Array) -> pa.Array:
    """`arr` as utf8 strings, keeping a dictionary encoding (its entries become strings)."""
    if pa.types.is_dictionary(arr.type):
        if pa.types.is_string(arr.type.value_type):
            return arr
        return pa.DictionaryArray.from_arrays(arr.indices, _strings(arr.dictionary))
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_timestamp(arr.type):
        return _rfc3339(arr)
    return pc.cast(arr, pa.string())


def _encode(arr: pa.Array) -> pa.Array:
    """Dictionary-encode a column of few distinct values (such as HTTP statuses)."""
    return arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)


def _plain(arr: pa.Array) -> pa.Array:
    return arr.dictionary.take(arr.indices) if pa.types.is_dictionary(arr.type) else arr


def _map(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """`fn(arr)`, computed once per dictionary entry when `arr` is dictionary-encoded.

    The result stays dictionary-encoded; a null row becomes a null dictionary entry
    first, so `fn` decides what it turns into (a '-' for instance).
    """
    if not pa.types.is_dictionary(arr.type):
        return fn(arr)
    indices, dictionary = arr.indices, arr.dictionary
    if indices.null_count:
        indices = pc.fill_null(indices, pa.scalar(len(dictionary), indices.type))
        dictionary = pa.concat_arrays([dictionary, pa.nulls(1, dictionary.type)])
    return pa.DictionaryArray.from_arrays(indices, fn(dictionary))


def _join(
    parts: Sequence[Column | str], n: int, *, nulls: Literal["skip", "emit"] = "skip"
) -> pa.StringArray:
    """Concatenate row-wise; a null part is left out (`skip`) or nulls the row (`emit`)."""
    arrays = [_plain(p) if isinstance(p, pa.Array) else p for p in _merge_literals(parts, nulls)]
    if not any(isinstance(p, pa.Array) for p in arrays):
        return pa.array(["".join(arrays)] * n, pa.string())
    if nulls == "skip":
        options = pc.JoinOptions(null_handling="replace", null_replacement="")
    else:
        options = pc.JoinOptions(null_handling="emit_null")
    out = pc.binary_join_element_wise(*arrays, "", options=options)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _merge_literals(
    parts: Sequence[Column | str], nulls: Literal["skip", "emit"]
) -> list[Column | str]:
    """Fold literals into neighbouring dictionary-encoded parts.

    The row-wise join costs about 15 ns per part and row, literal or not; a literal
    joined into a dictionary's entries costs nothing per row.
    """
    runs: list[Column | str] = []
    for part in parts:
        if isinstance(part, str) and runs and isinstance(runs[-1], str):
            runs[-1] += part
        elif not (isinstance(part, str) and not part):
            runs.append(part)
    out: list[Column | str] = []
    i = 0
    while i < len(runs):
        part = runs[i]
        if not (isinstance(part, pa.Array) and _foldable(part, nulls)):
            out.append(part)
            i += 1
            continue
        before = out.pop() if out and isinstance(out[-1], str) else ""
        after = runs[i + 1] if i + 1 < len(runs) and isinstance(runs[i + 1], str) else ""
        entries = pc.binary_join_element_wise(before, part.dictionary, after, "")
        out.append(pa.DictionaryArray.from_arrays(part.indices, entries))
        i += 2 if after else 1
    return out


def _foldable(part: pa.Array, nulls: Literal["skip", "emit"]) -> bool:
    """A dictionary of strings whose entries can absorb literals without changing nulls."""
    return bool(
        pa.types.is_dictionary(part.type)
        and pa.types.is_string(part.type.value_type)
        and (nulls == "emit" or (part.null_count == 0 and part.dictionary.null_count == 0))
    )


def _no_nulls(arr: pa.Array, name: str) -> pa.Array:
    if arr.null_count:
        raise ValueError(
            f"column {name!r} has {arr.null_count} null value(s); this format needs one per line"
        )
    return arr


# ---------------------------------------------------------------------------------------
# Escaping
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Escaper:
    """Escape strings in two vectorized steps.

    First the `fixed` literal replacements (one pass each, backslash first), then the
    characters in `ranges`, which are rare: the distinct ones present are found with one
    regex pass over the rows that have any, then replaced one literal pass each; past
    `max_passes` distinct characters it falls back to Python once per distinct row.
    """

    fixed: tuple[tuple[str, str], ...]
    ranges: tuple[tuple[int, int], ...]
    escape_char: Callable[[str], str]
    max_passes: int = 24

    def __post_init__(self) -> None:
        if any(lo <= 0x7E and hi >= 0x20 for lo, hi in self.ranges):
            raise ValueError("escaped ranges must lie outside printable ASCII")

    @functools.cached_property
    def _re2_class(self) -> str:
        return "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in self.ranges)

    @functools.cached_property
    def _py_special(self) -> re.Pattern[str]:
        body = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in self.ranges)
        return re.compile(f"[{body}]")

    def python(self, text: str) -> str:
        """The same escaping for one string: the reference the vectorized path matches."""
        for old, new in self.fixed:
            text = text.replace(old, new)
        if self.ranges:
            text = self._py_special.sub(lambda m: self.escape_char(m.group()), text)
        return text

    def __call__(self, arr: pa.Array) -> pa.Array:
        return _map(arr, self._escape)

    def _escape(self, arr: pa.Array) -> pa.Array:
        for old, new in self.fixed:
            if _may_contain(arr, old):
                arr = pc.replace_substring(arr, old, new)
        if not self.ranges or len(arr) == 0:
            return arr
        # The ranges lie outside printable ASCII, so a cheap whole-string test (10x faster
        # than a regex) finds the candidates and the regex runs on those only.
        candidates = pc.invert(pc.fill_null(pc.ascii_is_printable(arr), True))
        if not pc.any(candidates).as_py():
            return arr
        rows = np.flatnonzero(np.asarray(candidates))
        sub = arr.take(rows)
        special = np.asarray(pc.match_substring_regex(sub, f"[{self._re2_class}]"))
        if not special.any():
            return arr
        rows, sub = rows[special], sub.filter(pa.array(special))
        residue = pc.unique(pc.replace_substring_regex(sub, f"[^{self._re2_class}]+", ""))
        chars = set("".join(residue.to_pylist()))
        if len(chars) <= self.max_passes:
            for ch in sorted(chars):
                sub = pc.replace_substring(sub, ch, self.escape_char(ch))
        else:
            enc = sub.dictionary_encode()
            escaped = [
                self._py_special.sub(lambda m: self.escape_char(m.group()), s)
                for s in enc.dictionary.to_pylist()
            ]
            sub = pa.array(escaped, pa.string()).take(enc.indices)
        mask = np.zeros(len(arr), bool)
        mask[rows] = True
        return pc.replace_with_mask(arr, pa.array(mask), sub)


@functools.cache
def _literal(text: str) -> re.Pattern[bytes]:
    return re.compile(re.escape(text.encode()))


def _may_contain(arr: pa.Array, text: str) -> bool:
    """Whether `text` occurs in the string data (sliced arrays may say yes wrongly).

    A literal `re` search over the raw buffer runs at memchr speed, twice as fast as
    the replace pass it lets us skip.
    """
    data = arr.buffers()[2]
    return data is not None and _literal(text).search(memoryview(data)) is not None


_JSON_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}

_JSON_STRING = _Escaper(
    fixed=(("\\", "\\\\"), ('"', '\\"')),
    ranges=((0x00, 0x1F),),
    escape_char=lambda ch: _JSON_SHORT.get(ch) or f"\\u{ord(ch):04x}",
)
_NGINX = _Escaper(
    fixed=(("\\", "\\x5C"), ('"', "\\x22")),
    ranges=((0x00, 0x1F), (0x7F, 0x10FFFF)),
    escape_char=lambda ch: "".join(f"\\x{b:02X}" for b in ch.encode()),
)
_NGINX_TOKEN = _Escaper(
    fixed=(*_NGINX.fixed, (" ", "\\x20")),
    ranges=_NGINX.ranges,
    escape_char=_NGINX.escape_char,
)
"""For fields outside quotes (user, method, path): a space would shift every field after
it, so it is escaped too, as a client would have percent-encoded it."""
_SD_PARAM = _Escaper(fixed=(("\\", "\\\\"), ('"', '\\"'), ("]", "\\]")), ranges=(), escape_char=str)
_SYSLOG_CONTROL = _Escaper(
    fixed=(),
    ranges=((0x00, 0x1F), (0x7F, 0x7F)),
    escape_char=lambda ch: f"#{ord(ch):03o}",
)


def _json_field(prefix: str, arr: pa.Array, *, null: str | None = None) -> list[Column | str]:
    """Parts writing `prefix` then each row's JSON value; a null value writes `null`
    when given, else leaves the whole field out. Columns without nulls skip the
    intermediate join (a copy of the column) that null handling needs."""
    if pa.types.is_dictionary(arr.type):
        return [
            _map(
                arr,
                lambda entries: _join(
                    _json_field(prefix, entries, null=null), len(entries), nulls="emit"
                ),
            )
        ]
    if _is_text(arr.type) and arr.null_count == 0:
        return [prefix + '"', _JSON_STRING(pc.cast(arr, pa.string())), '"']
    value = _json_value(arr)
    if value.null_count == 0:
        return [prefix, value]
    if null is not None:
        return [prefix, pc.fill_null(value, null)]
    return [_join([prefix, value], len(arr), nulls="emit")]


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _null_unless(arr: pa.Array, keep: pa.Array) -> pa.Array:
    """`arr` with rows outside `keep` nulled; on a dictionary only the indices change."""
    if pa.types.is_dictionary(arr.type):
        indices = pc.if_else(keep, arr.indices, pa.scalar(None, arr.indices.type))
        return pa.DictionaryArray.from_arrays(indices, arr.dictionary)
    return pc.if_else(keep, arr, pa.scalar(None, arr.type))


def _json_value(arr: pa.Array) -> pa.Array:
    """Each value as JSON text; null (and NaN, ±inf, which JSON lacks) stay null."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return _json_value(arr.dictionary).take(arr.indices)
    if _is_text(t):
        return _join(['"', _JSON_STRING(pc.cast(arr, pa.string())), '"'], len(arr), nulls="emit")
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        return pc.if_else(pc.is_finite(arr), pc.cast(arr, pa.string()), _NULL_STR)
    if pa.types.is_timestamp(t):
        iso = _render_time(arr, None, date=_iso_date, frac=3, offset=lambda m: "Z")
        return _join(['"', iso, '"'], len(arr), nulls="emit")
    if pa.types.is_date(t):
        return _join(['"', pc.cast(arr, pa.string()), '"'], len(arr), nulls="emit")
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    raise TypeError(f"cannot write a column of type {t} as a JSON value")


def _dash(cols: _Fields, name: str, escaper: _Escaper = _NGINX_TOKEN) -> Column | str:
    """An nginx-escaped access-log field; absent, null or empty gives '-'."""
    if not cols.has(name):
        return "-"

    def escape(values: pa.Array) -> pa.Array:
        values = pc.if_else(pc.equal(values, ""), _NULL_STR, values)
        return pc.fill_null(escaper(values), "-")

    return _map(_strings(cols.get(name)), escape)


def _client_ip(arr: pa.Array) -> pa.Array:
    if pa.types.is_integer(arr.type):
        v = pc.cast(arr, pa.uint32())
        octets = [
            pc.cast(pc.bit_wise_and(pc.shift_right(v, s), 255), pa.string()) for s in (24, 16, 8, 0)
        ]
        return pc.fill_null(pc.binary_join_element_wise(*octets, "."), "-")
    return _map(_strings(arr), lambda s: pc.fill_null(_NGINX_TOKEN(s), "-"))


def _seconds_ms(arr: pa.Array) -> pa.Array:
    """Seconds with millisecond resolution, as nginx writes `$request_time` (`0.123`)."""
    if pa.types.is_duration(arr.type):
        seconds = pc.divide(pc.cast(pc.cast(arr, pa.duration("us")), pa.int64()), 1e6)
    else:
        seconds = pc.cast(arr, pa.float64())
    ms = pc.cast(pc.round(pc.multiply(seconds, 1000)), pa.int64())
    ms = pc.if_else(pc.less(ms, 0), 0, ms)
    whole = pc.divide(ms, 1000)
    frac = pc.utf8_lpad(pc.cast(pc.subtract(ms, pc.multiply(whole, 1000)), pa.string()), 3, "0")
    return pc.fill_null(pc.binary_join_element_wise(pc.cast(whole, pa.string()), frac, "."), "-")


# ---------------------------------------------------------------------------------------
# Syslog pieces
# ---------------------------------------------------------------------------------------


def _facility_code(facility: int | str) -> int:
    code = FACILITIES.get(facility) if isinstance(facility, str) else facility
    if code is None or not 0 <= code <= 23:
        raise ValueError(
            f"unknown syslog facility {facility!r}; use 0..23 or one of {', '.join(FACILITIES)}"
        )
    return code


def _pri(cols: _Fields, facility: int | str) -> pa.Array:
    if cols.has("severity"):
        sev = pc.cast(cols.get("severity"), pa.int16())
        if pc.any(pc.or_(pc.less(sev, 0), pc.greater(sev, 7))).as_py():
            raise ValueError("column 'severity' must be within 0..7")
    elif cols.has("level"):
        sev = pc.cast(_plain(_map(_strings(cols.get("level")), level_to_severity)), pa.int16())
    else:
        raise ValueError(f"format {cols.fmt!r} needs a 'severity' or a 'level' column")
    if cols.has("facility"):
        fac = pc.cast(cols.get("facility"), pa.int16())
        if pc.any(pc.or_(pc.less(fac, 0), pc.greater(fac, 23))).as_py():
            raise ValueError("column 'facility' must be within 0..23")
    else:
        fac = pa.scalar(_facility_code(facility), pa.int16())
    pri = pc.fill_null(
        pc.cast(pc.add(pc.multiply(fac, 8), sev), pa.string()), str(_facility_code("user") * 8 + 5)
    )
    return pc.binary_join_element_wise("<", pri, ">", "")


def _header(cols: _Fields, name: str, max_len: int, nil: str | None = "-") -> Column | str:
    """A header field: printable ASCII only (others become `_`), cut to `max_len`."""
    if not cols.has(name):
        return "-" if nil is not None else _NULL_STR

    def clean(values: pa.Array) -> pa.Array:
        if pc.any(pc.match_substring_regex(values, r"[^\x21-\x7e]")).as_py():
            values = pc.replace_substring_regex(values, r"[^\x21-\x7e]", "_")
        values = pc.utf8_slice_codeunits(values, 0, max_len)
        values = pc.if_else(pc.equal(values, ""), _NULL_STR, values)
        return pc.fill_null(values, nil) if nil is not None else values

    return _map(_strings(cols.get(name)), clean)


def _tag(values: pa.Array) -> pa.Array:
    values = pc.replace_substring_regex(values, r"[^A-Za-z0-9._/-]", "_")
    values = pc.utf8_slice_codeunits(values, 0, 32)
    return pc.fill_null(pc.if_else(pc.equal(values, ""), _NULL_STR, values), "-")


_SD_NAME = re.compile(r"[!#-<>-\\^-~]{1,32}")


def _structured_data(
    cols: _Fields, spec: Mapping[str, Sequence[str] | Mapping[str, str]]
) -> list[Column | str]:
    if not spec:
        return ["-"]
    parts: list[Column | str] = []
    for sd_id, params in spec.items():
        pairs = params.items() if isinstance(params, Mapping) else [(p, p) for p in params]
        for what, name in [("SD-ID", sd_id), *(("PARAM-NAME", p) for p, _ in pairs)]:
            if not _SD_NAME.fullmatch(name):
                raise ValueError(
                    f"invalid RFC 5424 {what} {name!r}: 1 to 32 printable ASCII characters, "
                    "none of '=', ']', '\"' or space"
                )
        parts.append("[" + sd_id)
        for param, column in pairs:
            value = _SD_PARAM(_strings(cols.get(column)))
            parts.append(_join([f' {param}="', value, '"'], cols.n, nulls="emit"))
        parts.append("]")
    return parts


# ---------------------------------------------------------------------------------------
# Timestamps as fixed-width text
# ---------------------------------------------------------------------------------------

_EPOCH = dt.date(1970, 1, 1)
_US_PER_DAY = 86_400_000_000
_DAY_RANGE = ((dt.date(1000, 1, 1) - _EPOCH).days, (dt.date(9999, 12, 31) - _EPOCH).days)


def _iso_date(d: dt.date) -> str:
    return f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"


def _colon_offset(minutes: int) -> str:
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _rfc3339(arr: pa.Array) -> pa.Array:
    return _render_time(arr, None, date=_iso_date, frac=6, offset=lambda m: "Z")


@functools.cache
def _zone(tz: str | dt.timedelta | None) -> dt.tzinfo | None:
    """The zone to write local times in, or None for UTC (which formats may write as `Z`).

    Python's zoneinfo rather than Arrow's: Arrow ignores daylight-saving rules after
    2037 (it reads only the transition table of the tz files).
    """
    if tz is None or (isinstance(tz, str) and tz.upper() in ("UTC", "Z")):
        return None
    if isinstance(tz, dt.timedelta):
        minutes, rest = divmod(tz, dt.timedelta(minutes=1))
        if rest or abs(minutes) >= 24 * 60:
            raise ValueError(f"time-zone offset {tz} must be whole minutes within ±24h")
        return dt.timezone(tz)
    fixed = re.fullmatch(r"([+-])(\d\d):?(\d\d)", tz)
    if fixed:
        sign = -1 if fixed[1] == "-" else 1
        return _zone(sign * dt.timedelta(hours=int(fixed[2]), minutes=int(fixed[3])))
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {tz!r}: use an IANA name or an offset like '+02:00'"
        ) from exc


_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BUCKET_US = 15 * 60 * 1_000_000


def _utc_offsets(utc: np.ndarray, zone: dt.tzinfo) -> np.ndarray:
    """Seconds east of UTC at each instant, asking `zone` once per 15-minute bucket.

    Transitions fall on bucket edges in every zone since the 1970s; rows of a bucket
    whose two ends disagree (old local-mean-time changes) are looked up one by one.
    """

    def offset(us: int) -> int:
        when = (_UTC_EPOCH + dt.timedelta(microseconds=us)).astimezone(zone)
        return int(when.utcoffset().total_seconds())  # type: ignore[union-attr]

    keys, idx = _unique_inverse(utc // _BUCKET_US)
    starts = [offset(k * _BUCKET_US) for k in keys]
    ends = [offset((k + 1) * _BUCKET_US - 1) for k in keys]
    table = np.array(starts, np.int64)
    out = np.take(table, idx)
    mixed = [i for i, (a, b) in enumerate(zip(starts, ends, strict=True)) if a != b]
    if mixed:
        rows = np.flatnonzero(np.isin(idx, mixed))
        out[rows] = [offset(int(us)) for us in utc[rows]]
    return out


def _unique_inverse(values: np.ndarray) -> tuple[Sequence[int], np.ndarray]:
    """Distinct values and each row's index into them; a dense range when that is cheaper."""
    if len(values) == 0:
        return [], np.empty(0, np.int64)
    lo, hi = int(values.min()), int(values.max())
    if hi - lo <= 4 * len(values) + 1024:
        return range(lo, hi + 1), values - lo
    uniq, idx = np.unique(values, return_inverse=True)
    return uniq.tolist(), idx


@functools.cache
def _digits(width: int) -> np.ndarray:
    """Rows 0..10**width-1 as zero-padded ASCII digits."""
    count = 10**width
    return np.frombuffer(
        "".join(f"{i:0{width}d}" for i in range(count)).encode(), np.uint8
    ).reshape(count, width)


@functools.cache
def _hms() -> np.ndarray:
    """Rows 0..86399 (second of day) as `HH:MM:SS`."""
    s = np.arange(86_400)
    two = _digits(2)
    out = np.empty((86_400, 8), np.uint8)
    out[:, 0:2], out[:, 3:5], out[:, 6:8] = two[s // 3600], two[s // 60 % 60], two[s % 60]
    out[:, 2] = out[:, 5] = ord(":")
    return out


def _lookup(values: np.ndarray, render: Callable[[int], str]) -> np.ndarray:
    """Rows of `render(v)` as bytes, calling `render` once per distinct value."""
    if len(values) == 0:
        return np.empty((0, len(render(0).encode())), np.uint8)
    keys, idx = _unique_inverse(values)
    texts = [render(int(k)).encode() for k in keys]
    width = len(texts[0])
    if any(len(t) != width for t in texts):
        raise AssertionError("time parts must render at a fixed width")
    table = np.frombuffer(b"".join(texts), np.uint8).reshape(len(texts), width)
    return np.take(table, idx, axis=0)


def _render_time(
    ts: pa.Array,
    zone: dt.tzinfo | None,
    *,
    date: Callable[[dt.date], str],
    frac: Literal[0, 3, 6],
    offset: Callable[[int], str] | None,
    prefix: str = "",
    suffix: str = "",
) -> pa.StringArray:
    """`date` + `HH:MM:SS` [+ `.` and `frac` digits] [+ `offset(minutes east of UTC)`].

    Local time in `zone` (None is UTC), between the literals `prefix` and `suffix`
    (cheaper here than as parts of a join). Built as a fixed-width byte matrix from
    lookup tables: per distinct day and offset in Python, per row only numpy gathers.
    """
    if not pa.types.is_timestamp(ts.type):
        raise TypeError(f"expected a timestamp column, got {ts.type}")
    micros = pc.cast(ts, pa.timestamp("us", ts.type.tz), safe=False).view(pa.int64())
    utc = np.asarray(pc.fill_null(micros, 0))
    if len(utc) and (
        utc.min() < _DAY_RANGE[0] * _US_PER_DAY or utc.max() >= (_DAY_RANGE[1] + 1) * _US_PER_DAY
    ):
        raise ValueError("timestamps must fall within the years 1000..9999")
    offsets = np.zeros(len(utc), np.int64) if zone is None else _utc_offsets(utc, zone)
    local = utc + offsets * 1_000_000
    days, in_day = np.divmod(local, _US_PER_DAY)
    if len(days) and (days.min() < _DAY_RANGE[0] or days.max() > _DAY_RANGE[1]):
        raise ValueError("timestamps must fall within the years 1000..9999")
    blocks: list[np.ndarray | bytes] = [
        prefix.encode(),
        _lookup(days, lambda d: date(_EPOCH + dt.timedelta(days=d))),
        np.take(_hms(), in_day // 1_000_000, axis=0),
    ]
    if frac:
        sub = in_day % 1_000_000
        three = _digits(3)
        blocks += [b"."] + (
            [np.take(three, sub // 1000, axis=0)]
            if frac == 3
            else [np.take(three, sub // 1000, axis=0), np.take(three, sub % 1000, axis=0)]
        )
    if offset is not None:
        # Whole minutes, as %z and RFC 3339 write them (only pre-1900 zones had seconds).
        minutes = np.trunc(offsets / 60).astype(np.int64)
        blocks.append(_lookup(minutes, offset))
    blocks.append(suffix.encode())
    out = _fixed_width(blocks, len(utc))
    return pc.if_else(pc.is_valid(ts), out, _NULL_STR) if ts.null_count else out


def _fixed_width(blocks: Sequence[np.ndarray | bytes], n: int) -> pa.StringArray:
    """Concatenate per-row byte blocks (or a literal shared by all rows) into strings."""
    widths = [len(b) if isinstance(b, bytes) else b.shape[1] for b in blocks]
    width = sum(widths)
    if n * width >= 2**31:
        raise ValueError("batch too large for one string array; write it in smaller batches")
    out = np.empty((n, width), np.uint8)
    pos = 0
    for block, w in zip(blocks, widths, strict=True):
        out[:, pos : pos + w] = (
            np.frombuffer(block, np.uint8) if isinstance(block, bytes) else block
        )
        pos += w
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.reshape(-1)))
