"""The `logs` sink: the world's events as web access logs, JSON application logs or syslog.

Each change of the sink's entities becomes one line (by default creates, updates and
deletes; the snapshot is not activity). Log columns come from the entity's fields by name,
or from a mapping: a field name, a template (`"/products/{product_id}"`) or any generator
(`{choice: {200: 97, 404: 2.5, 500: 0.5}}`), so status codes and latencies follow the
scenario's distributions. `incidents` raise the share of 5xx/ERROR lines during windows.
Lines go to rotating files, and optionally to a syslog receiver.

```yaml
sinks:
  access: {kind: logs, entities: [page_views], format: combined, path: logs, rotate: {every: 1h}}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater.core.random import stream
from headwater.core.spec import Spec
from headwater.core.units import Duration, Timestamp
from headwater.errors import PluginError
from headwater.generators import parse_field
from headwater.generators.base import FieldGen, GenContext
from headwater.generators.text import Format
from headwater.sinks._project import project
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import Capabilities
from headwater.sinks.logs import formats
from headwater.sinks.logs.rotation import RotatingWriter

if TYPE_CHECKING:
    from headwater.sinks.logs.syslog_transport import SyslogSender
from headwater.core.micros import epoch_us
from headwater.world.changes import Changes

# log column → entity field names tried in order when no mapping is given
ALIASES = {
    "client_ip": ("client_ip", "ip", "ip_address", "remote_addr"),
    "user": ("user", "user_name", "customer_id", "user_id"),
    "method": ("method", "http_method"),
    "path": ("path", "url", "uri", "uri_path", "endpoint"),
    "status": ("status", "status_code", "http_status"),
    "bytes": ("bytes", "size", "response_bytes"),
    "referrer": ("referrer", "referer"),
    "user_agent": ("user_agent", "ua"),
    "request_time": ("request_time", "latency", "latency_s"),
    "level": ("level", "severity_name"),
    "logger": ("logger", "service"),
    "message": ("message", "msg"),
    "hostname": ("hostname", "host"),
    "app_name": ("app_name", "app", "service"),
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "method": {"choice": {"GET": 85, "POST": 10, "PUT": 3, "DELETE": 2}},
    "status": {
        "choice": {200: 92, 304: 3, 301: 1, 404: 2.5, 403: 0.5, 500: 0.6, 502: 0.2, 503: 0.2}
    },
    "bytes": {"lognormal": {"mu": 8, "sigma": 1.2}},
    "request_time": {"lognormal": {"mu": -3, "sigma": 0.9}, "round": 3},
    "client_ip": {"fake": "ipv4"},
    "path": {"fake": "uri_path"},
    "user_agent": {"fake": "user_agent"},
    "hostname": {"choice": ["web-1", "web-2", "web-3"]},
}


class Rotate(Spec):
    every: Duration | None = Field(None, description="rotate at boundaries of simulated time")
    max_bytes: int | None = Field(
        None, gt=0, description="rotate before a file would exceed this size"
    )
    compress: Literal["gzip"] | None = None


class Incident(Spec):
    """A window of simulated time when a share of lines become server errors."""

    at: Timestamp
    length: Duration
    error_rate: float = Field(0.3, ge=0, le=1)


class SyslogTarget(Spec):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    protocol: Literal["udp", "tcp"] = "udp"


_FORMAT_NAMES: list[Any] = formats.FORMATS.names()  # for the JSON schema: a list of JSON values


class LogsConfig(SinkConfig):
    kind: Literal["logs"] = "logs"
    format: str = Field(
        "combined",
        description="log format: " + ", ".join(_FORMAT_NAMES),
        json_schema_extra={"enum": _FORMAT_NAMES},
    )
    path: str = Field(
        "logs", description="folder of the log files; relative to the run's output folder"
    )
    file: str | None = Field(None, description="active file name; default <entity>.log")
    rotate: Rotate = Rotate()
    ops: list[Literal["r", "c", "u", "d"]] = Field(
        ["c", "u", "d"], description="which changes become lines"
    )
    columns: dict[str, str | dict[str, Any]] = Field(
        default_factory=dict, description="log column → field name, template or generator"
    )
    message: str | None = Field(
        None, description="template of the message (json, syslog), e.g. 'order {order_id} {_op}'"
    )
    min_level: Literal["DEBUG", "INFO", "WARN", "ERROR"] = "DEBUG"
    detail: Literal["minimal", "standard", "full"] = "standard"
    tz: str = Field("UTC", description="time zone of the timestamps: IANA name or +HH:MM")
    facility: str = "user"
    incidents: list[Incident] = []
    syslog: SyslogTarget | None = Field(
        None, description="also send every line to this syslog receiver"
    )

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        try:
            formats.FORMATS.get(v)
        except PluginError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _parse(self) -> LogsConfig:
        for spec in self.columns.values():
            if isinstance(spec, dict):
                parse_field(spec)
        if self.message is not None:
            Format(format=self.message)
            if "message" in self.columns:
                raise ValueError("give the message once: `message:` or `columns.message`")
        return self


class LogsSink(Sink):
    kind = "logs"
    Config = LogsConfig
    capabilities = Capabilities(
        updates=True, deletes=True, exactly_once=True, lines=True, files=True
    )
    config: LogsConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.writers: dict[str, RotatingWriter] = {}  # set by open(), closed by close()
        self.sender: SyslogSender | None = None
        self.log_format = formats.FORMATS.get(self.config.format)
        # the format's options that the sink's configuration sets (tz, facility, detail)
        options = self.log_format.options
        self.log_options = options.model_validate(
            {
                k: getattr(self.config, k)
                for k in options.model_fields
                if k in LogsConfig.model_fields
            }
        )

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Column mappings must name fields that every entity of the sink has."""
        assert isinstance(config, LogsConfig)
        from headwater._plugins import suggest

        problems: list[tuple[tuple[str | int, ...], str]] = []
        for entity in context.entities(config):
            fields = [*(f.name for f in context.schemas[entity].row_type), "_op", "_entity"]
            mapped: list[tuple[tuple[str | int, ...], Any]] = [
                (("columns", column), spec) for column, spec in config.columns.items()
            ]
            if config.message:
                mapped.append((("message",), config.message))
            for loc, spec in mapped:
                if not isinstance(spec, str):
                    continue
                wanted = Format(format=spec).depends() if "{" in spec else {spec}
                for f in sorted(set(wanted) - set(fields)):
                    problems.append(
                        (loc, f"entity '{entity}' has no field '{f}'{suggest(f, fields)}")
                    )
        return problems

    def open(self) -> None:
        root = self.resolve(self.config.path)
        root.mkdir(parents=True, exist_ok=True)
        r = self.config.rotate
        self.writers = {
            e: RotatingWriter(
                root,
                self.config.file or f"{e}.log",
                max_bytes=r.max_bytes,
                every=r.every,
                compress=r.compress,
            )
            for e in self.entities
        }
        self.generated = {
            name: parse_field(spec)
            for name, spec in self.config.columns.items()
            if isinstance(spec, dict)
        }
        self.defaults = {name: parse_field(spec) for name, spec in DEFAULTS.items()}
        if self.config.syslog is not None:
            from headwater.sinks.logs.syslog_transport import SyslogSender

            t = self.config.syslog
            self.sender = SyslogSender(t.host, t.port, protocol=t.protocol, sink=self.name)
            self.sender.open()

    def _column(self, name: str, rows: pa.Table, ctx: GenContext, step: Part) -> pa.Array | None:
        spec = self.config.columns.get(name)
        if isinstance(spec, str):
            if "{" in spec:
                return Format(format=spec).generate(ctx)
            return rows[spec].combine_chunks()
        if name in self.generated:
            gen: FieldGen = self.generated[name]
            return gen.column(replace(ctx, rng=stream(self.context.seed, self.name, name, step)))
        for alias in ALIASES.get(name, (name,)):
            if alias in rows.column_names:
                return rows[alias].combine_chunks()
        if name in DEFAULTS and name in self.log_format.defaults:
            gen = self.defaults[name]
            return gen.column(
                replace(ctx, rng=stream(self.context.seed, self.name, name, "default", step))
            )
        return None

    def _fields(self, entity: str, table: pa.Table, step: Part) -> dict[str, Any]:
        rows = project(table, self.context.schemas[entity], "rows").values
        n = rows.num_rows
        times = table["event_time"].combine_chunks()
        cols = {c: rows[c].combine_chunks() for c in rows.column_names}
        cols["_entity"] = pa.repeat(pa.scalar(entity), n)
        ctx = GenContext(
            n,
            stream(self.context.seed, self.name, "ctx", step),
            times,
            cols,
            None,
            self.context.seed,
        )
        fields: dict[str, Any] = {"time": times}
        wanted = {f.name for f in self.log_format.fields if not f.name.startswith("<")}
        wanted |= set(self.config.columns) | {
            "status"
        }  # an entity's status drives levels and incidents
        if self.config.message is not None:  # the template, not a `message`/`msg` field
            wanted.discard("message")
        for name in sorted(wanted - {"time"}):
            col = self._column(name, rows, ctx, step)
            if col is not None:
                fields[name] = col
        if "status" in fields:
            fields["status"] = pc.cast(fields["status"], pa.int64())
        self._incidents(fields, times, step)
        if self.log_format.application:
            self._app_fields(fields, ctx, entity, n, step)
        if "bytes" in fields:
            fields["bytes"] = pc.cast(pc.round(pc.cast(fields["bytes"], pa.float64())), pa.int64())
        if "path" in fields:  # a request target: origin form gets its slash (RFC 9112 3.2)
            path = pc.cast(fields["path"], pa.string())
            formed = pc.match_substring_regex(path, _TARGET_FORMED)
            fields["path"] = pc.if_else(formed, path, pc.binary_join_element_wise("/", path, ""))
        if "user" in fields:
            fields["user"] = pc.cast(fields["user"], pa.string())
        return fields

    def _incidents(self, fields: dict[str, Any], times: pa.Array, step: Part) -> None:
        if not self.config.incidents or "status" not in fields:
            return
        us = pc.cast(times, pa.int64()).to_numpy()
        rng = stream(self.context.seed, self.name, "incident", step)
        hit = np.zeros(len(us), dtype=bool)
        for inc in self.config.incidents:
            start = epoch_us(inc.at)
            end = start + int(inc.length / timedelta(microseconds=1))
            inside = (us >= start) & (us < end)
            hit |= inside & (rng.random(len(us)) < inc.error_rate)
        if hit.any():
            errors = pa.array(rng.choice([500, 502, 503, 504], len(us)))
            fields["status"] = pc.if_else(pa.array(hit), errors, fields["status"])

    def _app_fields(
        self, fields: dict[str, Any], ctx: GenContext, entity: str, n: int, step: Part
    ) -> None:
        rng = stream(self.context.seed, self.name, "app", step)
        if "level" not in fields:
            if "status" in fields:
                s = fields["status"]
                fields["level"] = pc.if_else(
                    pc.greater_equal(s, 500),
                    "ERROR",
                    pc.if_else(pc.greater_equal(s, 400), "WARN", "INFO"),
                )
            else:
                fields["level"] = pa.repeat(pa.scalar("INFO"), n)
        if "message" not in fields:
            template = self.config.message or f"{entity} {{_op}}"
            cols = dict(ctx.columns)
            cols["_op"] = _OP_WORDS.take(pc.index_in(cols["_op"], value_set=_OPS))
            fields["message"] = Format(format=template).generate(
                GenContext(n, rng, ctx.event_time, cols)
            )
        fields.setdefault(
            "logger", pa.repeat(pa.scalar(f"{self.context.scenario_name}.{entity}"), n)
        )
        fields.setdefault("app_name", pa.repeat(pa.scalar(self.context.scenario_name), n))
        fields["trace_id"] = formats.generate_trace_ids(rng, n)
        fields["span_id"] = formats.generate_span_ids(rng, n)
        is_error = pc.equal(fields["level"], "ERROR")
        traces = formats.stack_traces(rng.integers(0, 1 << 30, n))
        fields["stack_trace"] = pc.if_else(
            is_error, pc.cast(traces, pa.string()), pa.scalar(None, pa.string())
        )

    @property
    def ops(self) -> frozenset[str]:
        return frozenset(self.config.ops)

    def write(self, changes: Changes) -> None:
        for entity, table in changes.tables.items():
            if table.num_rows == 0:
                continue
            # random streams per delivered part, not per step: a step delivered in several
            # parts (paced windows, drift, outages) never repeats trace ids and the like
            fields: Mapping[str, Any] = self._fields(
                entity, table, (changes.step, table["seq"][0].as_py())
            )
            if self.config.min_level != "DEBUG" and "level" in fields:
                fields = formats.filter_level(fields, self.config.min_level)
            lines = self.log_format.format(fields, self.log_options)
            times = fields["time"]
            self.writers[entity].write_lines(lines, times)
            if self.sender is not None:
                self.sender.send(lines)
            self.stats.extra["lines"] = self.stats.extra.get("lines", 0) + len(lines)
        self.stats.add(changes)  # only the ops it logs: the runner hands it no others

    def flush(self) -> None:
        for w in self.writers.values():
            w.close(rotate=False)
        self.stats.bytes = sum(w.bytes_written for w in self.writers.values())

    def close(self) -> None:
        for w in self.writers.values():
            w.close(rotate=False)
        if self.sender is not None:
            self.sender.close()


# request targets that need no slash: origin form (/a), absolute form (https://h/a), asterisk (*)
_TARGET_FORMED = r"^(?:/|\*$|[A-Za-z][A-Za-z0-9+.-]*://)"
Part = tuple[int, int]  # (step, first seq) of a delivered table: names its random streams
_OPS = pa.array(["r", "c", "u", "d"])
_OP_WORDS = pa.array(["read", "created", "updated", "deleted"])
