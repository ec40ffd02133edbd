"""What every message sink shares: Kafka, NATS JetStream, Redis Streams, RabbitMQ, MQTT.

A stream sink projects each entity's changes into `Records` (rows, flat changes or the
Debezium envelope), encodes them in chunks (`_encode`: JSON, Avro or a text template) and
hands a `Batch` of plain Python lists to its transport, which sends one message per record.
The parts that only differ by name across brokers live here:

    payload / encoding / template    what a message body holds
    key / key_format                 the message key (a field, several fields, the entity key)
    topic, subject, stream, …        where a message goes: a template over fields
    headers                          event id, event time, schema version, content type
    timestamp                        the broker's message timestamp: event, ingestion or wall
    max_in_flight                    the bounded buffer: messages sent but not yet acknowledged
    retry                            backoff while the broker is unreachable, then give up

Delivery is at-least-once. A broker that goes away makes `write()` block (the world waits:
memory stays bounded by `max_in_flight`) while the transport reconnects with exponential
backoff; what was sent but not acknowledged is sent again. `stats.extra` tells what the
broker acknowledged, per route or partition, and how many messages were sent twice.

Time: a record has an event time (when it happened on the simulated clock) and, when faults
delay it, an ingestion time (when the source delivered it, also simulated); wall time is
the machine's clock. `timestamp` chooses what a broker's own message timestamp holds:
`event` (the default), `ingestion` (the event time where nothing delayed the record) or
`wall` (the machine's clock when the message is sent). Kafka sets it as the record's
CreateTime (ms) and RabbitMQ as the AMQP `timestamp` property (s). NATS JetStream and
Redis Streams stamp each message with their own clock (a JetStream message's time, a
stream entry id) and cannot be told otherwise: their option only takes `wall`. MQTT has
no message timestamp. With `headers` on, every broker carries the event time in the
`event_time` header.

Faults: when the sink has faults its records carry an ingestion time, sent as an
`ingest_time` header (ISO 8601 UTC, like `event_time`; `Batch.ingest_times`, in
`header_pairs`). The `malformed` fault's text-level kinds (truncate, type, encoding) break
the marked messages of json and string encodings with `corrupt()` and the run seed, so the
same seed sends the same bytes. Avro messages are sent intact: a broken Avro body cannot
be produced meaningfully (a reader fails on it, or silently reads other values, depending
on where it breaks, and a registry-framed body would name a schema it does not follow);
the ledger records the fault either way. Every other message is byte-identical.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from headwater.core.spec import Spec
from headwater.core.units import Duration
from headwater.errors import MissingExtra, SinkError, SinkUnavailable
from headwater.faults.malformed import corrupt
from headwater.sinks import _encode as enc
from headwater.sinks._project import (
    Projection,
    Records,
    Shape,
    ShapeOptions,
    column_of,
    known_fields,
    project,
    template_problems,
    types_of,
)
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.world.changes import Changes

T = TypeVar("T")
#: What a message's timestamp holds (see the module's docstring).
MessageTime: TypeAlias = Literal["event", "ingestion", "wall"]

CONTENT_TYPES = {
    "json": "application/json",
    "avro": "application/avro",
    "string": "text/plain; charset=utf-8",
}
SCHEMA_VERSION = "1"
CHUNK = 20_000  # records encoded at once: large enough for the kernels, small enough for memory


class RetryConfig(Spec):
    """How long a sink keeps trying an unreachable broker, and how it backs off."""

    timeout: Duration = Field(
        timedelta(minutes=2), description="give up (fail the run) after this long without success"
    )
    backoff: Duration = Field(timedelta(milliseconds=100), description="first wait between tries")
    max_backoff: Duration = Field(timedelta(seconds=5), description="longest wait between tries")


class StreamConfig(SinkConfig, ShapeOptions):
    """Options shared by the message sinks (`fields`/`op`: the body's shape, sinks/_project)."""

    payload: Projection = Field(
        "rows",
        description="rows: the row after the change (+ _op); changes: flat change events; "
        "debezium: the Debezium envelope",
    )
    encoding: Literal["json", "avro", "string"] = Field(
        "json", description="message body: JSON object, Avro record, or text from `template`"
    )
    template: str | None = Field(
        None,
        description="the message text for encoding: string, e.g. '{order_id},{price:.2f}' "
        "(plain text, not JSON-escaped: for JSON bodies use fields:)",
    )
    key: str | list[str] | None = Field(
        None, description="field(s) whose values make the message key; default: the entity key"
    )
    key_format: Literal["string", "json"] = Field(
        "string",
        description="string: the value's text (fields joined by key_separator); "
        'json: an object like {"order_id": 1}',
    )
    key_separator: str = Field(":", description="joins the fields of a composite string key")
    headers: bool = Field(
        True, description="send event_id, event_time, schema_version and content-type headers"
    )
    timestamp: MessageTime = Field(
        "event",
        description="the message timestamp: event (when it happened, simulated), ingestion "
        "(when the source delivered it, simulated) or wall (the clock when it is sent)",
    )
    max_in_flight: int = Field(
        10_000, ge=1, description="messages sent but not yet acknowledged (the bounded buffer)"
    )
    connect_timeout: Duration = Field(
        timedelta(seconds=10), description="how long open() waits for the broker"
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)

    #: The option whose template says where each message goes (topic, subject…).
    route_option: ClassVar[str] = ""
    #: Whether the sink sets the message timestamp (else its `timestamp` is `own_clock`).
    sets_time: ClassVar[bool] = True

    @field_validator("timestamp")
    @classmethod
    def _own_clock(cls, value: MessageTime) -> MessageTime:
        if value != "wall" and not cls.sets_time:
            raise ValueError(str(cls.model_fields["timestamp"].description))
        return value

    @model_validator(mode="after")
    def _templates(self) -> StreamConfig:
        if self.encoding == "string" and not self.template:
            raise ValueError("encoding: string needs a template, e.g. template: '{id},{status}'")
        if self.template is not None and self.encoding != "string":
            raise ValueError("template is only used with encoding: string")
        for text in self.templates().values():
            enc.Template.parse(text)  # raises ValueError with the problem
        return self

    def templates(self) -> dict[str, str]:
        """Option name → template text, for every template option that is set."""
        out = {self.route_option: getattr(self, self.route_option)} if self.route_option else {}
        if self.template is not None:
            out["template"] = self.template
        return out


def own_clock(why: str) -> Any:
    """The `timestamp` option of a broker whose messages carry no time the sink can set
    (with `sets_time = False` on its config)."""
    return Field(
        "wall", description=f"only wall: {why}; the event time is in the event_time header"
    )


# -- batches -----------------------------------------------------------------------------


Column: TypeAlias = pa.Array | list[Any]


def _arrow(col: Column, kind: pa.DataType) -> pa.Array:
    return col.cast(kind) if isinstance(col, pa.Array) else pa.array(col, kind)


def _binary_list(col: Column) -> list[Any]:
    if isinstance(col, list):
        return col
    if pa.types.is_string(col.type):
        col = col.cast(pa.binary())
    return col.to_numpy(zero_copy_only=False).tolist()


def _str_list(col: Column) -> list[Any]:
    return col if isinstance(col, list) else enc.as_str(col)


class Batch:
    """One chunk of encoded records.

    Columns are kept as Arrow arrays (or lists where an encoder made Python values) and
    become the Python values a client library takes on first use: `values`, `keys`, `routes`
    (one per message, or one string for all), `event_ids`, `event_times` and `ingest_times`
    (ISO 8601, for headers; empty when unused), `ops`, `timestamps` (ms since the epoch for
    the broker's message timestamp; empty with `timestamp: wall`). `columns()` hands the
    Arrow form to a producer in another process (kafka/_producer.py) without making Python
    objects here.
    """

    def __init__(
        self,
        stream: str,
        values: Column,
        keys: Column,
        routes: Column | str,
        event_ids: Column,
        event_times: Column,
        ops: Column,
        content_type: str,
        size: int,
        schema_version: str = SCHEMA_VERSION,
        ingest_times: Column | None = None,
        timestamps: Column | None = None,
    ):
        self.stream = stream
        self.content_type = content_type
        self.size = size  # payload bytes
        self.schema_version = schema_version
        self._n = len(values)
        self._columns: dict[str, Column | str] = {
            "values": values,
            "keys": keys,
            "routes": routes,
            "event_ids": event_ids,
            "event_times": event_times,
            "ops": ops,
            "ingest_times": ingest_times if ingest_times is not None else list[str](),
            "timestamps": timestamps if timestamps is not None else list[int](),
        }

    def __len__(self) -> int:
        return self._n

    @cached_property
    def values(self) -> list[bytes]:
        values = self._columns["values"]
        if isinstance(values, pa.Array) and values.null_count:
            values = pc.fill_null(values, "")  # a template over a null field renders nothing
        return _binary_list(values)

    @cached_property
    def keys(self) -> list[bytes | None]:
        return _binary_list(self._columns["keys"])

    @cached_property
    def routes(self) -> list[str] | str:
        routes = self._columns["routes"]
        return routes if isinstance(routes, str) else _str_list(routes)

    @cached_property
    def event_ids(self) -> list[str]:
        return _str_list(self._columns["event_ids"])

    @cached_property
    def event_times(self) -> list[str]:
        return _str_list(self._columns["event_times"])

    @cached_property
    def ingest_times(self) -> list[str]:
        return _str_list(self._columns["ingest_times"])

    @cached_property
    def timestamps(self) -> list[int]:
        col = self._columns["timestamps"]
        return col if isinstance(col, list) else col.to_numpy().tolist()  # type: ignore[union-attr]

    @cached_property
    def ops(self) -> list[str]:
        return _str_list(self._columns["ops"])

    def columns(self) -> dict[str, pa.Array | str]:
        """The columns as Arrow arrays (a constant route stays a string; unused ones are
        left out)."""
        columns = {name: self.column(name) for name in self._columns}
        return {name: col for name, col in columns.items() if col is not None}

    def column(self, name: str) -> pa.Array | str | None:
        """One column as an Arrow array (a constant route: its string; unused: None)."""
        col = self._columns[name]
        if isinstance(col, str):
            return col
        if not len(col):  # an empty column is an unused one (a batch is never empty)
            return None
        return pa.array(col, COLUMN_TYPES.get(name, pa.string())) if isinstance(col, list) else col

    @classmethod
    def from_columns(cls, stream: str, columns: dict[str, Any], **meta: Any) -> Batch:
        """The batch `columns()` described (in the producer's process)."""
        return cls(
            stream,
            columns["values"],
            columns["keys"],
            columns["routes"],
            columns["event_ids"],
            columns.get("event_times", []),
            columns["ops"],
            ingest_times=columns.get("ingest_times", []),
            timestamps=columns.get("timestamps", []),
            **meta,
        )

    def route_list(self) -> list[str]:
        return [self.routes] * len(self) if isinstance(self.routes, str) else self.routes

    def distinct_routes(self) -> list[str]:
        routes = self._columns["routes"]
        if isinstance(routes, str):
            return [routes]
        if isinstance(routes, list):
            return list(dict.fromkeys(routes))
        return pc.unique(routes).to_pylist()


#: Batch columns that are no strings.
COLUMN_TYPES = {"values": pa.binary(), "keys": pa.binary(), "timestamps": pa.int64()}


def slice_records(records: Records, start: int, stop: int) -> Records:
    n = stop - start
    ingest = records.ingest_time
    return Records(
        records.stream,
        records.values.slice(start, n),
        records.key.slice(start, n),
        records.event_time.slice(start, n),
        records.seq.slice(start, n),
        records.op.slice(start, n),
        ingest.slice(start, n) if ingest is not None else None,
        records.fault.slice(start, n) if records.fault is not None else None,
        records.row.slice(start, n) if records.row is not None else None,
        records.message_key.slice(start, n) if records.message_key is not None else None,
        records.route,
    )


def field_column(records: Records, name: str) -> pa.Array:
    """A field of the records (before `fields:` reshaped them): a column, or for Debezium
    envelopes the row's field."""
    return column_of(records.source, name)


# -- acknowledgements ----------------------------------------------------------------------


class Acks:
    """What the broker acknowledged, kept live in `stats.extra` so progress can show it, and
    per message (event id, route, partition, offset) for the ledger (`take()`).

    acknowledged  messages the broker confirmed
    routes        acknowledged messages per topic/subject/stream key (top 20; `distinct_routes`
                  counts them all) so hot keys show
    retries       failed attempts to reach the broker
    resent        messages sent again after a failure (possible duplicates where the broker
                  cannot de-duplicate)
    duplicates    messages the broker reported as duplicates and dropped (de-duplicated)
    """

    TOP = 20

    def __init__(self, extra: dict[str, Any]):
        self.extra = extra
        self.acknowledged = 0
        self.retries = 0
        self.resent = 0
        self.duplicates = 0
        self.routes: Counter[str] = Counter()
        self._log: list[pa.Table] = []
        self._ids: list[str] = []  # one by one acknowledgements, not yet in _log
        self._routes: list[str] = []
        self._offsets: list[int | None] = []
        self._lock = threading.Lock()  # brokers' client threads acknowledge, the runner takes
        self.publish()

    def ack(self, route: str, event_id: str, offset: int | None = None) -> None:
        """One message confirmed; `offset` is where the broker put it (stream sequence…)."""
        with self._lock:
            self.acknowledged += 1
            self.routes[route] += 1
            self._ids.append(event_id)
            self._routes.append(route)
            self._offsets.append(offset)

    def ack_batch(
        self,
        routes: Column | str,
        event_ids: Column,
        partitions: Column | None = None,
        offsets: Column | None = None,
    ) -> None:
        """Messages confirmed together (a pipeline, a Kafka batch); lists or Arrow arrays."""
        n = len(event_ids)
        table = pa.table(
            {
                "event_id": _arrow(event_ids, pa.string()),
                "route": pa.repeat(pa.scalar(routes), n)
                if isinstance(routes, str)
                else _arrow(routes, pa.string()),
                "partition": _arrow(partitions, pa.int32())
                if partitions is not None
                else pa.nulls(n, pa.int32()),
                "offset": _arrow(offsets, pa.int64())
                if offsets is not None
                else pa.nulls(n, pa.int64()),
            },
            schema=ACK_SCHEMA,
        )
        self.count(routes, n)
        with self._lock:
            self._keep()
            self._log.append(table)

    def count(self, routes: Column | str, n: int) -> None:
        """Count messages confirmed (their log rows are the caller's)."""
        if isinstance(routes, pa.Array):
            counts = pc.value_counts(routes).to_pylist()
            per_route = Counter({c["values"]: c["counts"] for c in counts})
        with self._lock:
            self.acknowledged += n
            if isinstance(routes, str):
                self.routes[routes] += n
            elif isinstance(routes, pa.Array):
                self.routes.update(per_route)
            else:
                self.routes.update(routes)

    def _keep(self) -> None:
        """The one by one acknowledgements so far into the log (order kept)."""
        if not self._ids:
            return
        n = len(self._ids)
        self._log.append(
            pa.table(
                {
                    "event_id": pa.array(self._ids, pa.string()),
                    "route": pa.array(self._routes, pa.string()),
                    "partition": pa.nulls(n, ACK_SCHEMA.field("partition").type),
                    "offset": pa.array(self._offsets, pa.int64()),
                },
                schema=ACK_SCHEMA,
            )
        )
        self._ids, self._routes, self._offsets = [], [], []

    def take(self) -> pa.Table | None:
        """The acknowledgements since the last call (see ACK_SCHEMA), or None."""
        with self._lock:
            self._keep()
            log, self._log = self._log, []
        return pa.concat_tables(log) if log else None

    def publish(self) -> None:
        self.extra["acknowledged"] = self.acknowledged
        self.extra["retries"] = self.retries
        self.extra["resent"] = self.resent
        self.extra["duplicates"] = self.duplicates
        self.extra["routes"] = dict(self.routes.most_common(self.TOP))
        self.extra["distinct_routes"] = len(self.routes)


#: One acknowledged message: its event id, where it went, and where the broker put it
#: (Kafka partition and offset, JetStream stream sequence; null where a broker has none).
#: A Kafka tombstone is acknowledged under its delete's event id (which its headers carry):
#: with `tombstones: true` a delete's id has two rows, the delete's and the tombstone's.
ACK_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("route", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
    ]
)


class Backoff:
    """Exponential backoff under a deadline; `delay()` raises SinkUnavailable when it passes."""

    def __init__(self, sink: str, where: str, config: RetryConfig, acks: Acks | None = None):
        self.sink, self.where, self.config, self.acks = sink, where, config, acks
        self.reset()

    def reset(self) -> None:
        self._deadline: float | None = None
        self._next = self.config.backoff.total_seconds()

    def check(self, exc: BaseException | str) -> float:
        """Start the clock on the first failure; raise once it has run for `timeout`."""
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.config.timeout.total_seconds()
        if now >= self._deadline:
            raise SinkUnavailable(
                self.sink,
                f"{self.where} unreachable for {self.config.timeout.total_seconds():g} s, "
                f"giving up: {describe(exc)}",
            ) from (exc if isinstance(exc, BaseException) else None)
        return self._deadline - now

    def delay(self, exc: BaseException | str) -> float:
        """The next wait; counts a retry, or raises when the broker has been gone too long."""
        left = self.check(exc)
        if self.acks is not None:
            self.acks.retries += 1
        wait = min(self._next, left)
        self._next = min(self._next * 2, self.config.max_backoff.total_seconds())
        return wait

    def wait(self, exc: BaseException | str) -> None:
        time.sleep(self.delay(exc))

    async def async_wait(self, exc: BaseException | str) -> None:
        await asyncio.sleep(self.delay(exc))


def describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def require(module: str, extra: str, what: str) -> Any:
    """Import a client library, or raise MissingExtra naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(what, extra, module.split(".")[0]) from None


# -- a private asyncio loop for asyncio clients -----------------------------------------------


class AsyncLoop:
    """An asyncio event loop on a private thread; the synchronous runner submits coroutines.

    The runner is synchronous; clients such as nats-py need a loop that keeps running
    between calls (heartbeats, reconnects, acknowledgements arriving), so it lives here.
    """

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"headwater-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (its exception is re-raised)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
        if self.loop.is_closed():
            return
        if cleanup is not None and self._thread.is_alive():
            # Closing after a failure: the first error is the one to report.
            with contextlib.suppress(Exception):
                self.run(cleanup(), timeout=10)  # type: ignore[arg-type]
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


# -- the sink ------------------------------------------------------------------------------


class StreamSink(Sink):
    """Base of the message sinks: projection, encoding, keys, routes, headers, accounting.

    Subclasses set `Config` (whose `route_option` names the route template), implement
    `connect()`, `send(batch)`, `drain()` and `disconnect()`, and may override
    `avro_prefix()` (schema registry).
    """

    # carries_records: the CDC sink may send its Debezium records through write_records().
    capabilities = Capabilities(
        updates=True,
        deletes=True,
        ordering=Ordering.PER_KEY,
        at_least_once=True,
        acks=True,
        carries_records=True,
        keys=True,
        headers=True,
    )
    Config: ClassVar[type[StreamConfig]]
    config: StreamConfig
    #: The broker's address for messages (`location()`, no password), set by open().
    where: str = ""

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.acks = Acks(self.stats.extra)  # take_acks() and close() work before open()

    # -- pure checks ---------------------------------------------------------------------

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Every field a template or the key names exists in every entity the sink receives,
        and takes the template's format spec."""
        assert isinstance(config, StreamConfig)
        entities = context.entities(config)
        problems = config.check_fields(context.schemas, entities, config.payload)
        keys: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(config.key, str):
            keys.append((("key",), config.key))
        elif config.key is not None:
            keys += [(("key", i), k) for i, k in enumerate(config.key)]
        templates = {o: enc.Template.parse(text) for o, text in config.templates().items()}
        for entity in entities:
            schema = context.schemas[entity]
            known = known_fields(schema, config.payload)
            for option, template in templates.items():
                for message in template_problems(template, entity, known, types_of(schema)):
                    problems.append(((option,), message))
            for path, f in keys:
                if f not in known:
                    problems.append(
                        (path, f"entity '{entity}' has no field '{f}' (fields: {', '.join(known)})")
                    )
        return problems

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        self.shape = Shape.of(self.name, self.config)
        self.route = enc.Template.parse(getattr(self.config, self.config.route_option))
        self.text = (
            enc.Template.parse(self.config.template) if self.config.template is not None else None
        )
        self._avro: dict[str, enc.AvroEncoder] = {}
        self._schema_version = SCHEMA_VERSION
        self.content_type = CONTENT_TYPES[self.config.encoding]
        self.where = self.location()
        self.backoff = Backoff(self.name, self.where, self.config.retry, self.acks)
        self.connect()

    def write(self, changes: Changes) -> None:
        schemas = self.context.schemas
        # Deliveries (faults/pipeline.py) say which schema version each table has.
        versions: dict[str, int] = getattr(changes, "versions", None) or {}
        for entity, table in changes.tables.items():
            if table.num_rows:
                self._schema_version = str(versions.get(entity, SCHEMA_VERSION))
                self.write_records(project(table, schemas[entity], self.config.payload))
        self._schema_version = SCHEMA_VERSION

    def write_records(self, records: Records) -> None:
        """Deliver records (the CDC sink sends Debezium envelopes through here)."""
        if not len(records):
            return
        records = self.shape.records(records)
        counts = self.stats.counts[records.stream]
        for item in pc.value_counts(records.op).to_pylist():
            counts[item["values"]] += item["counts"]
        for start in range(0, len(records), CHUNK):
            chunk = slice_records(records, start, min(start + CHUNK, len(records)))
            batch = self.encode(chunk)
            self.stats.bytes += batch.size
            self.send(batch)
        self.acks.publish()

    def flush(self) -> None:
        self.drain()
        self.acks.publish()

    def close(self) -> None:
        try:
            self.disconnect()
        finally:
            self.acks.publish()

    def take_acks(self) -> pa.Table | None:
        return self.acks.take()

    # -- for subclasses ----------------------------------------------------------------------

    def location(self) -> str:
        """The broker and its address, for messages (never a password)."""
        raise NotImplementedError

    def connect(self) -> None:
        """Connect and create what is missing; raise SinkUnavailable naming `self.where`."""
        raise NotImplementedError

    def send(self, batch: Batch) -> None:
        """Send every message of the batch; may return before all are acknowledged."""
        raise NotImplementedError

    def drain(self) -> None:
        """Wait until every message sent is acknowledged (or raise)."""
        raise NotImplementedError

    def disconnect(self) -> None:
        """Release the connection; called once, also after errors."""

    def avro_prefix(self, stream: str, schema: dict[str, Any]) -> bytes:
        """Bytes before each Avro body (Kafka's schema registry wire format)."""
        return b""

    def unavailable(self, exc: BaseException | str) -> SinkUnavailable:
        """The error for a broker that cannot be reached at open()."""
        return SinkUnavailable(self.name, f"cannot reach {self.where}: {describe(exc)}")

    # -- encoding ------------------------------------------------------------------------------

    def encode(self, records: Records) -> Batch:
        n = len(records)

        def column(name: str) -> pa.Array:
            try:
                return field_column(records, name)
            except KeyError:
                raise SinkError(
                    self.name, f"records of '{records.stream}' have no field '{name}'"
                ) from None

        if self.config.encoding == "json":
            values = enc.json_objects(records.values)
            size = _data_size(values)
        elif self.config.encoding == "avro":
            values = self._avro_encoder(records).encode(records.values)
            size = sum(map(len, values))
        else:
            assert self.text is not None
            rendered = self._render(self.text, "template", records.stream, column, n)
            if isinstance(rendered, str):
                rendered = pa.repeat(pa.scalar(rendered), n)
            values = rendered
            size = _data_size(rendered)
        kinds = records.malformed if self.config.encoding != "avro" else None
        if kinds is not None:
            values = corrupt(
                _binary_list(values),
                kinds,
                records.seq,
                seed=self.context.seed,
                format=self._text_format(),
            )
            size = sum(map(len, values))
        headers = self.config.headers
        routes = (
            records.route
            if records.route is not None
            else self._render(self.route, self.config.route_option, records.stream, column, n)
        )
        return Batch(
            stream=records.stream,
            values=values,
            keys=self._keys(records, column),
            routes=routes,
            event_ids=records.event_ids,
            event_times=enc.iso_timestamps(records.event_time) if headers else [],
            ops=records.op,
            content_type=self.content_type,
            size=size,
            schema_version=self._schema_version,
            ingest_times=(
                enc.iso_timestamps(records.ingest_time)
                if headers and records.ingest_time is not None
                else []
            ),
            timestamps=self._timestamps(records),
        )

    def _timestamps(self, records: Records) -> pa.Array | list[int]:
        """The message timestamps (ms) the `timestamp` option asks for; none for wall."""
        chosen = self.config.timestamp
        if chosen == "wall":
            return []
        return enc.epoch_millis(records.event_time if chosen == "event" else records.delivery_time)

    def _render(
        self,
        template: enc.Template,
        option: str,
        stream: str,
        column: Callable[[str], pa.Array],
        n: int,
    ) -> pa.Array | str:
        """A template's text per record; a spec its field cannot take is the sink's error."""
        try:
            return template.render(stream, column, n)
        except ValueError as exc:
            raise SinkError(self.name, f"{option}: {exc}") from None

    def _text_format(self) -> str:
        """How `corrupt()` reads a message body: json, delimited (a template with commas or
        tabs between fields) or plain text (truncate and encoding only)."""
        if self.config.encoding == "json":
            return "json"
        literals = self.text.literals if self.text is not None else ""
        return "delimited" if "," in literals or "\t" in literals else "text"

    def _keys(self, records: Records, column: Callable[[str], pa.Array]) -> pa.Array:
        key = self.config.key
        if key is None and records.message_key is not None:
            return records.message_key
        if key is None:
            schema = self.context.schemas.get(records.stream)
            names = [schema.key if schema is not None else "key"]
            columns = [records.key]
        else:
            names = [key] if isinstance(key, str) else list(key)
            columns = [column(k) for k in names]
        if self.config.key_format == "json":
            table = pa.table(dict(zip(names, columns, strict=True)))
            return enc.json_objects(table)
        texts = [enc.text(c) for c in columns]
        if len(texts) == 1:
            keys = texts[0]
        else:
            keys = pc.binary_join_element_wise(
                *[pc.fill_null(t, "") for t in texts], self.config.key_separator
            )
        return keys

    def _avro_encoder(self, records: Records) -> enc.AvroEncoder:
        encoder = self._avro.get(records.stream)
        if encoder is None or encoder.arrow_schema != records.values.schema:
            name = records.stream if self.config.payload != "debezium" else "Envelope"
            schema = enc.avro_schema(name, records.values.schema, f"headwater.{records.stream}")
            self.write_schema(records.stream, schema)
            encoder = enc.AvroEncoder(
                schema, self.avro_prefix(records.stream, schema), records.values.schema
            )
            self._avro[records.stream] = encoder
        return encoder

    def write_schema(self, stream: str, schema: dict[str, Any]) -> Path:
        """The Avro schema of a stream, beside the run's outputs: <out>/<sink>/<stream>.avsc."""
        import json

        path = self.resolve(Path(self.name) / f"{stream}.avsc")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=2) + "\n")
        return path


def header_pairs(batch: Batch) -> Iterator[list[tuple[str, str]]]:
    """Per message: [(event_id, …), (event_time, …), (schema_version, …), (content-type, …)],
    then (ingest_time, …) when the records carry one (the sink has faults).

    One message at a time: a list of them all would be many live objects for the garbage
    collector to walk again and again (it halved Kafka's throughput)."""
    ct = ("content-type", batch.content_type)
    sv = ("schema_version", batch.schema_version)
    pairs = zip(batch.event_ids, batch.event_times, strict=True)
    if not batch.ingest_times:
        for event_id, event_time in pairs:
            yield [("event_id", event_id), ("event_time", event_time), sv, ct]
        return
    for (event_id, event_time), ingest in zip(pairs, batch.ingest_times, strict=True):
        yield [("event_id", event_id), ("event_time", event_time), sv, ct, ("ingest_time", ingest)]


def _data_size(arr: pa.Array) -> int:
    """Bytes of all values of a string array (what its offsets span)."""
    return int(pc.sum(pc.binary_length(arr)).as_py() or 0)
