"""`StreamSink`: the base of the message sinks (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from headwater.errors import SinkError, SinkUnavailable
from headwater.faults.malformed import corrupt
from headwater.sinks import _encode as enc
from headwater.sinks._project import (
    Records,
    Shape,
    known_fields,
    project,
    template_problems,
    types_of,
)
from headwater.sinks._stream.acks import Acks
from headwater.sinks._stream.backoff import BrokerBackoff, describe
from headwater.sinks._stream.batch import Batch, _binary_list, field_column, slice_records
from headwater.sinks._stream.config import CONTENT_TYPES, SCHEMA_VERSION, StreamConfig
from headwater.sinks._text import json_objects
from headwater.sinks.base import CheckContext, Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.world.changes import Changes

CHUNK = 20_000  # records encoded at once: large enough for the kernels, small enough for memory


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
    publishes_acked = True
    Config: ClassVar[type[StreamConfig]]
    config: StreamConfig
    #: The broker's address for messages (`location()`, no password), set by open().
    where: str = ""

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.acks = Acks(self.stats.extra)  # take_acks() and close() work before open()
        self.lost: list[dict[str, Any]] = []  # ledger/lost.py records not yet taken

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
        self.backoff = BrokerBackoff(self.name, self.where, self.config.retry, self.acks)
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

    def take_lost(self) -> list[dict[str, Any]] | None:
        lost, self.lost = self.lost, []
        return lost or None

    def lose(
        self,
        route: str,
        why: str,
        *,
        partition: int | None = None,
        after: str | None = None,
        known: bool = True,
    ) -> None:
        """The broker no longer has messages it acknowledged on `route` (and `partition`):
        those after event id `after`, or all (ledger/lost.py);
        `known: False` when which ones cannot be told. Call before raising the error."""
        self.lost.append(
            {
                "route": route,
                "partition": partition,
                "after": after,
                "known": known,
                "why": why,
            }
        )

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
            values = json_objects(records.values)
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
            return json_objects(table)
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


def _data_size(arr: pa.Array) -> int:
    """Bytes of all values of a string array (what its offsets span)."""
    return int(pc.sum(pc.binary_length(arr)).as_py() or 0)
