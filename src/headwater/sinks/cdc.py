"""Change data capture: the change stream of an application database, as Debezium events.

`from:` names the OLTP sink whose commits are captured; `to:` is the transport the events go
to (files now, a broker when configured). For SQLite, which has no replication log, the
events are derived from the very transactions the sqlite sink commits (simulated CDC: same
rows, same transaction boundaries and order). For postgres and mysql sinks the events come
from the database's own log (headwater.capture: logical decoding with wal2json, the row
binlog): the capture starts after the initial load, whose rows arrive as a snapshot, and
the log is read up to its end when the run flushes. One stream per table, the initial
snapshot as op `r` first. The source sink's own bookkeeping rows travel in the same log, so
the capture knows whether it saw every transaction that sink committed: a server crash is
ridden out exactly, and what cannot be (a slot or binlog lost) fails the run naming this sink.
They live in the schema (MariaDB: database) `headwater`, which this capture reads besides
the application's tables and never publishes; a capture of the application's schema alone
does not see them (sinks/_sql_sink.BOOKKEEPING). Events are Debezium's envelope per
connector (sinks/_project.debezium; README "The CDC envelope"). Options follow Kafka
Connect and Debezium: `converter: json_schemas` (JsonConverter's schema wrapper,
sinks/_connect.py), `key: struct` (the primary key struct as message key) and
`transaction_metadata` (BEGIN/END events on the stream `transaction`, which the ledger and
the report leave out: they are no world changes).

Time: simulated CDC carries each change's simulated event time. A database's log stamps
its own (wall) clock: that commit time stays in `source.ts_ms`, as in Debezium, and each
captured change also carries the simulated time the capture read it at (the end of the
step in which it read the commit, the run's clock, not the database's) as its event and
ingestion time, in the top-level `ts_ms`. Either way a files transport cuts its drops
by that simulated time (`dt=…/hour=…`) and a broker's message timestamp follows it, never
the machine's clock.

```yaml
sinks:
  app_db: {kind: sqlite, path: shop.db}
  changes: {kind: cdc, from: app_db, to: {kind: files, format: jsonl, path: cdc}}
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, ValidationError

from headwater._plugins import either, load, suggest
from headwater.errors import HeadwaterError
from headwater.sinks._connect import (
    envelope_schema,
    key_schema,
    metadata_schema,
    with_schema,
    wrap,
)
from headwater.sinks._project import (
    TRANSACTION_STREAM,
    Records,
    column_of,
    project,
    transaction_events,
    transaction_order,
)
from headwater.sinks._text import json_objects
from headwater.sinks.base import CheckContext, Sink, SinkConfig
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.world.changes import Changes


class CdcConfig(SinkConfig):
    kind: Literal["cdc"] = "cdc"
    from_: str = Field(alias="from", description="the OLTP sink whose changes are captured")
    to: dict[str, Any] = Field(
        description="the transport sink the events are written to (kind: files, kafka…)"
    )
    server_name: str | None = Field(
        None, description="Debezium source.name / topic prefix; default: the scenario name"
    )
    key: Literal["text", "struct"] = Field(
        "text",
        description="the message key: text, the entity key's value (the transport's default); "
        'struct: the primary key as Debezium writes it, {"id": 42} (with its schema under '
        "converter json_schemas); for transports with keys (kafka…)",
    )
    transaction_metadata: bool = Field(
        False,
        description="also send Debezium's BEGIN and END event of every transaction to the "
        "stream 'transaction' (topic <server_name>.transaction); not world changes: the "
        "ledger and the report leave them out",
    )
    converter: Literal["json", "json_schemas"] = Field(
        "json",
        description="json: each event is the envelope alone; json_schemas: "
        '{"schema": …, "payload": <envelope>} as Kafka Connect\'s JsonConverter writes '
        "with schemas.enable=true (needs a JSON transport)",
    )


JSON_FILES = ("jsonl", "json")


def _converter_problems(
    config: CdcConfig, transport: Capabilities
) -> list[tuple[tuple[str | int, ...], str]]:
    """json_schemas wraps whole envelopes in JSON: the transport must write them as JSON."""
    if config.converter != "json_schemas":
        return []
    to = config.to
    if to.get("fields") is not None:
        return [(("to", "fields"), "converter json_schemas sends whole envelopes; drop 'fields'")]
    if transport.files and to.get("format", "jsonl") not in JSON_FILES:
        return [(("to", "format"), "converter json_schemas writes JSON: use format jsonl or json")]
    if not transport.files and to.get("encoding", "json") != "json":
        return [(("to", "encoding"), "converter json_schemas writes JSON: use encoding json")]
    return []


class CdcSink(Sink):
    kind = "cdc"
    Config = CdcConfig
    # The transport's acks are this sink's (take_acks); a log capture may deliver twice.
    capabilities = Capabilities(
        updates=True,
        deletes=True,
        ordering=Ordering.PER_KEY,
        at_least_once=True,
        acks=True,
        cdc=True,
    )
    config: CdcConfig

    @classmethod
    def check(
        cls, config: SinkConfig, context: CheckContext
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """The source is a transactional sink (its log captured when it declares
        log_capture, else simulated); the transport carries records and takes the options."""
        from headwater.sinks import SINKS, kinds

        assert isinstance(config, CdcConfig)
        problems: list[tuple[tuple[str | int, ...], str]] = []
        sinks = context.sinks
        others = [s for s in sinks if s != context.name]
        source = sinks.get(config.from_)  # None too when its own configuration is invalid
        if config.from_ not in sinks:
            problems.append(
                (("from",), f"unknown sink '{config.from_}'{suggest(config.from_, others)}")
            )
        elif source is not None and not _has_change_log(source.capabilities):
            problems.append(
                (
                    ("from",),
                    f"sink '{config.from_}' is a {source.config.kind} sink; CDC captures "
                    + either(kinds(_has_change_log)),
                )
            )
        if source is not None and source.capabilities.log_capture and config.faults is not None:
            problems.append(
                (
                    ("faults",),
                    "faults apply to simulated CDC only; for log-based capture from "
                    f"'{config.from_}', declare them on the transport sink under 'to'",
                )
            )
        kind = str(config.to.get("kind"))
        if kind not in SINKS:
            problems.append(
                (("to", "kind"), f"unknown sink kind '{kind}'{suggest(str(kind), SINKS.names())}")
            )
            return problems
        target = SINKS.get(str(kind))
        problems += _converter_problems(config, target.capabilities)
        if config.transaction_metadata and TRANSACTION_STREAM in context.schemas:
            problems.append(
                (
                    ("transaction_metadata",),
                    f"the metadata stream '{TRANSACTION_STREAM}' is also an entity's name; "
                    "rename the entity or drop transaction_metadata",
                )
            )
        if config.key == "struct" and not target.capabilities.keys:
            problems.append((("key",), f"a {kind} transport carries no message keys; drop 'key'"))
        elif config.key == "struct" and config.to.get("key") is not None:
            problems.append(
                (("to", "key"), "key: struct makes the keys; drop the transport's own 'key'")
            )
        if not target.capabilities.carries_records:
            problems.append(
                (
                    ("to", "kind"),
                    f"a {kind} sink cannot carry CDC events; use "
                    + either(kinds(lambda c: c.carries_records)),
                )
            )
            return problems
        try:
            target.Config.model_validate(config.to)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                problems.append((("to", *err["loc"]), err["msg"].removeprefix("Value error, ")))
        return problems

    def __init__(self, name: str, config: SinkConfig, context: Any):
        super().__init__(name, config, context)
        from headwater.sinks import SINKS

        source = context.sinks.get(self.config.from_)
        if self.config.entities is None and source is not None and source.entities is not None:
            self.config = self.config.model_copy(update={"entities": source.entities})
        to = dict(self.config.to)
        to.setdefault("entities", self.config.entities)
        cls = SINKS.get(str(to["kind"]))
        self.transport = cls(f"{name}.to", cls.Config.model_validate(to), context)
        self.source = {
            "name": self.config.server_name or context.scenario_name,
            "connector": getattr(source, "kind", None) or "sqlite",
        }
        # a sink with log_capture: read the database's own log (its `capture`), not the world
        logged = source is not None and SINKS.get(source.kind).capabilities.log_capture
        self.log_source = source if logged else None
        self.reader: Any = None  # the open Capture of a log_source
        self.reached_us = 0  # the simulated time the run has reached
        self.metadata_sent = self.metadata_acked = 0  # transaction metadata events
        self.held: tuple[str, pa.Table] | None = None  # the newest snapshot event (_hold_last)
        self.handed: dict[str, int] = {}  # events per table handed to the transport
        self.connect_schemas: dict[tuple[str, pa.Schema], dict[str, Any]] = {}  # Connect, per table

    def open(self) -> None:
        self.transport.announcer = self._announce  # its files are this sink's publications
        self.transport.open()

    def _announce(self, proof: dict[str, Any]) -> None:
        """The transport's proofs, of the world's changes only (no transaction metadata)."""
        rows = {e: n for e, n in proof.get("rows", {}).items() if e != TRANSACTION_STREAM}
        if "rows" in proof and not rows:
            return
        self.announce({**proof, "rows": rows} if "rows" in proof else proof)

    def published(self) -> dict[str, int] | None:
        """Simulated CDC: what the transport published, per table, is a prefix of the events
        of each entity. A log's events are not the world's rows one for one: None."""
        if self.log_source is not None:
            return None
        rows = self.transport.published()
        if rows is None:  # all it took: not the event held back (_hold_last)
            return dict(self.handed)
        return {e: n for e, n in rows.items() if e != TRANSACTION_STREAM}

    def _start_capture(self) -> None:
        """Open the log capture once the source holds its initial rows; deliver the snapshot."""
        from headwater.sinks import SINKS

        assert self.log_source is not None
        target = SINKS.get(self.log_source.kind).capture
        assert target is not None, f"{self.log_source.kind} declares log_capture, names no capture"
        self.reader = load(target).start(
            self.log_source,
            {e: self.context.schemas[e] for e in self.entities},
            name=self.name,
            checkpoint=self.resolve(f"{self.name}.checkpoint.json"),
            committed_by=self.config.from_,
        )
        self.source = {**self.reader.source, "name": self.source["name"]}
        self.stats.extra["capture"] = "log"
        for batch in self.reader.snapshot():
            self._deliver(batch)

    def _deliver(self, batch: Any) -> None:
        self._emit_all(transaction_order(batch.tables), self._captured)
        self.reader.ack(batch.position)
        self.stats.add(batch.changes())
        self.stats.extra.update(self.reader.stats.as_dict())

    def _captured(self, entity: str, table: pa.Table) -> Records:
        """Captured changes as Debezium records on the simulated timeline (module docstring)."""
        now = pa.repeat(pa.scalar(self.reached_us, pa.timestamp("us", "UTC")), table.num_rows)
        table = table.append_column("ingest_time", now)
        records = project(table, self.context.schemas[entity], "debezium", source=self.source)
        return replace(records, event_time=now)

    def _envelopes(self, entity: str, table: pa.Table) -> Records:
        return project(table, self.context.schemas[entity], "debezium", source=self.source)

    def _hold_last(self, tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
        """Simulated CDC: keep the snapshot's newest event back until the next write tells
        whether it is the snapshot's last (the snapshot comes in chunks, all step 0)."""
        entity = next((e for e, t in reversed(tables.items()) if t.num_rows), None)
        if entity is None:
            return tables
        table = tables[entity]
        n = table.num_rows
        if table["op"][n - 1].as_py() != "r":
            return tables
        self.held = (entity, table.slice(n - 1))
        return {**tables, entity: table.slice(0, n - 1)}

    def _release(self, last: bool) -> None:
        """Write the held snapshot event: `snapshot: "last"` once the changes began."""
        if self.held is None:
            return
        entity, table = self.held
        self.held = None
        mark = pa.array(["last" if last else "true"])
        self._emit(self._envelopes(entity, table.append_column("snapshot", mark)))

    def _emit_all(
        self, tables: dict[str, pa.Table], envelopes: Callable[[str, pa.Table], Records]
    ) -> None:
        """Whole transactions' events, table by table, then their BEGIN/END metadata."""
        for entity, table in tables.items():
            self._emit(envelopes(entity, table))
        meta = transaction_events(tables) if self.config.transaction_metadata else None
        if meta is not None:
            self.metadata_sent += len(meta)
            self._emit(replace(meta, route=f"{self.source['name']}.{TRANSACTION_STREAM}"))

    def _emit(self, records: Records) -> None:
        """Hand one table's envelopes to the transport, in the configured converter's form."""
        if not len(records):
            return
        if records.stream != TRANSACTION_STREAM:
            self.handed[records.stream] = self.handed.get(records.stream, 0) + len(records)
        schemas = self.config.converter == "json_schemas"
        if self.config.key == "struct":
            records = replace(records, message_key=self._keys(records, schemas))
        if schemas:
            records = wrap(records, self._schema(records))
        self.transport.write_records(records)

    def _keys(self, records: Records, schemas: bool) -> pa.Array:
        """Debezium's message key: the primary key's columns as a JSON struct (a transaction
        metadata event's: its id)."""
        if records.stream == TRANSACTION_STREAM:
            names: tuple[str, ...] = ("id",)
            name = "io.debezium.connector.common.TransactionMetadataKey"
        else:
            names = self.context.schemas[records.stream].primary_key
            name = f"{self.source['name']}.{records.stream}.Key"
        # the envelope: the row after, or before for deletes
        keys = pa.table({k: column_of(records.values, k) for k in names})
        if not schemas:
            return json_objects(keys)
        return json_objects(with_schema(keys, key_schema(keys.schema, name)))

    def _schema(self, records: Records) -> dict[str, Any]:
        """The envelope's Connect schema, computed once per table (and Arrow schema)."""
        cached = (records.stream, records.values.schema)
        if records.stream == TRANSACTION_STREAM:
            return metadata_schema(records.values.schema)
        if cached not in self.connect_schemas:
            entity = self.context.schemas[records.stream]
            self.connect_schemas[cached] = envelope_schema(
                records.values.schema, records.stream, entity.primary_key, self.source
            )
        return self.connect_schemas[cached]

    def write(self, changes: Changes) -> None:
        self.reached_us = changes.end_us
        if self.log_source is not None:
            if self.reader is None and changes.step >= 1:
                self._start_capture()
            if self.reader is not None:
                self._deliver(self.reader.poll(timeout=0))
            self.transport.advance(changes.end_us)
            self._sync_stats()
            return
        self._release(last=changes.step > 0)
        tables = transaction_order(changes.tables)
        if changes.step == 0:
            tables = self._hold_last(tables)
        self._emit_all(tables, self._envelopes)
        self.transport.advance(changes.end_us)
        self.stats.add(changes)
        self._sync_stats()

    def flush(self) -> None:
        self._release(last=True)
        if self.log_source is not None:
            if self.reader is None:
                self._start_capture()
            for batch in self.reader.catch_up():
                self._deliver(batch)
        self.transport.flush()
        self._sync_stats()

    def take_acks(self) -> Any:
        """The broker's acks of world changes; those of transaction metadata are counted
        apart (`transaction_metadata_acknowledged`), not in `acknowledged` or the ledger."""
        acks = self.transport.take_acks()
        if acks is not None and self.config.transaction_metadata:
            meta = pc.starts_with(acks["event_id"], f"{TRANSACTION_STREAM}-")
            self.metadata_acked += pc.sum(meta).as_py() or 0
            acks = acks.filter(pc.invert(meta))
        self._sync_stats()
        return acks

    def _sync_stats(self) -> None:
        """The transport's bytes and detail, less what transaction metadata adds."""
        self.stats.bytes = self.transport.stats.bytes
        self.stats.extra.update(self.transport.stats.extra)
        if self.config.transaction_metadata:
            extra = self.stats.extra
            if "acknowledged" in extra:
                extra["acknowledged"] -= self.metadata_acked
                extra["transaction_metadata_acknowledged"] = self.metadata_acked
            extra["transaction_metadata_events"] = self.metadata_sent

    def close(self) -> None:
        if self.reader is not None:
            try:  # runs start over: a slot left behind would hold the server's WAL forever
                self.reader.drop()
            except HeadwaterError as exc:  # e.g. the server is gone: say so, keep the real error
                self.stats.extra["capture_cleanup"] = str(exc)
            finally:
                self.reader.close()
                self.reader = None  # closed once: a second close() has nothing to drop
        self.transport.close()


def _has_change_log(c: Capabilities) -> bool:
    """A sink CDC can capture: it applies the world's transactions and is a database with a
    change log, not a key-value store (whose keyspace notifications carry no rows)."""
    return c.transactions and (c.sql or not c.store)
