"""Kafka: events on topics, partitioned by key the way Kafka's default partitioner does.

Topics are created when missing (`partitions`, `replication_factor`, `topic_config`). The
message key is the entity key, or fields named by `key`; the sink hashes it with murmur2
exactly like the Java client's default partitioner (kafka/_partition.py; librdkafka's
`murmur2_random` when the producer is not idempotent or `producer: {partitioner: …}` is
set), so a key always lands in the same partition and per-key order holds. Each message carries headers (event_id, event_time,
schema_version, content-type); the record timestamp (CreateTime) is the event time on the
simulated clock, or with `timestamp: ingestion | wall` when the source delivered it
(simulated) or when it was produced (the machine's clock). Kafka applies retention and
timestamp checks to the record time: topics the sink creates keep their messages
(`retention.ms: -1`, unless `topic_config` says otherwise) however far back the simulated
clock is; a broker that bounds how far a record time may be from its own clock
(`log.message.timestamp.before.max.ms` / `after.max.ms`) rejects messages beyond it and the
run fails with its "Invalid timestamp": set `timestamp: wall` or widen the bound. The producer is idempotent by default: librdkafka retries with backoff while a
broker is down, holds at most `max_in_flight` messages, and never writes one twice.
Delivery reports say where each message landed: the ledger keeps its partition and
offset (<out>/ledger/<sink>/_acks), and `headwater run` shows per topic and partition
the acknowledged count and the last offset, so hot partitions show. More messages
acknowledged on a partition than offsets up to the last one mean the broker handed out
offsets again (it lost its log, e.g. a restart without durable storage): the run fails.
When the run fails or ends, the sink asks the broker whether it
still has what it acknowledged: per partition, that the topic and partition exist and that
the last acknowledged message is at its offset (read back with a consumer; its event_id
header with `headers` on). What is gone fails the run and is written to the ledger as lost
(ledger/lost.py), so the ledger does not count it published: all of a partition that is
gone, or, when only its last message is, all of it as "unknown" (which earlier ones
survived is not read). End offsets are not compared: Tansu's ListOffsets does not give
the log's end.
The producer runs in a process of its own on machines with enough CPUs
(`producer_process`, kafka/_producer.py).

Avro bodies come with their schema written to <out>/<sink>/<entity>.avsc; with
`schema_registry` the schema is registered under `<topic>-value` and every body starts with
Confluent's wire-format prefix (magic byte 0 and the schema id). `tombstones: true` sends a
null-valued message with the same key and timestamp after each delete, for compacted
topics; the ledger's acknowledgements hold it under the delete's event id. The CDC
sink (`to: {kind: kafka}`) sends Debezium envelopes through this sink.

```yaml
sinks:
  events:
    kind: kafka
    bootstrap_servers: 127.0.0.1:9092
    entities: [orders]
    topic: shop.{entity}
    key: customer_id
    partitions: 6
    compression: lz4
```
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from headwater.errors import SinkError, SinkUnavailable, require
from headwater.sinks._stream import Batch, StreamConfig, StreamSink, describe
from headwater.sinks.base import SinkConfig, SinkContext
from headwater.sinks.kafka import _partition
from headwater.sinks.kafka._producer import InProcessProducer, ProducerProcess

log = logging.getLogger(__name__)

# How long a broker's answer may take before close() stops waiting for the producer.
CLOSE_WAIT = 10.0
# How long a failed run waits for the broker's metadata (_audit), then for it to hand back
# the last message acknowledged on each partition: one it does not have by then is gone.
AUDIT_WAIT = 2.0
READ_BACK_WAIT = 5.0
# producer_process: auto puts the producer in its own process from this many CPUs: on 2,
# with the broker on the same machine, benchmarks/streams.py measured 0.57-0.63 of the
# plain loop in two processes against 0.68-0.71 in one.
PROCESS_FROM_CPUS = 4


class KafkaConfig(StreamConfig):
    kind: Literal["kafka"] = "kafka"
    bootstrap_servers: str = Field(
        "localhost:9092", description="comma-separated host:port list of brokers"
    )
    topic: str = Field(
        "{entity}", description="topic name; a template over fields, e.g. 'orders.{country}'"
    )
    partitions: int = Field(3, ge=1, description="partitions of topics created by the sink")
    replication_factor: int = Field(1, ge=1, description="replicas of topics created by the sink")
    topic_config: dict[str, str] = Field(
        {},
        description="settings of created topics, e.g. {cleanup.policy: compact}; with "
        "simulated record timestamps retention.ms defaults to -1 (keep)",
    )
    idempotent: bool = Field(True, description="idempotent producer: retries never duplicate")
    acks: Literal["all", "1", "0"] = Field("all", description="acknowledgements a write waits for")
    linger_ms: int = Field(5, ge=0, description="wait this long to fill a batch")
    batch_size: int = Field(1_000_000, ge=1, description="largest batch in bytes per partition")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"
    tombstones: bool = Field(
        False, description="after each delete, a message with the same key and a null value"
    )
    schema_registry: str | None = Field(
        None, description="Confluent Schema Registry URL for encoding: avro (wire format)"
    )
    producer: dict[str, str | int | float | bool] = Field(
        {}, description="more librdkafka producer settings (security.protocol, sasl.*, …)"
    )
    max_in_flight: int = Field(
        100_000, ge=1, description="messages queued in the producer but not yet acknowledged"
    )
    producer_process: bool | Literal["auto"] = Field(
        "auto",
        description="run the producer in a process of its own, beside the world; auto: when "
        f"the machine has {PROCESS_FROM_CPUS} or more CPUs (on fewer, the two processes and "
        "the broker compete for them and one process is faster)",
    )

    route_option: ClassVar[str] = "topic"


class KafkaSink(StreamSink):
    """Produces one message per record with confluent-kafka (librdkafka)."""

    kind = "kafka"
    Config = KafkaConfig
    capabilities = replace(StreamSink.capabilities, partitions=True, tombstones=True)
    config: KafkaConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self._producer: ProducerProcess | InProcessProducer | None = None  # set by connect()

    # -- connection ------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        c = self.config
        retry = c.retry
        settings: dict[str, Any] = {
            "bootstrap.servers": c.bootstrap_servers,
            "client.id": f"headwater-{self.name}",
            "socket.connection.setup.timeout.ms": int(c.connect_timeout.total_seconds() * 1000),
            "reconnect.backoff.ms": int(retry.initial.total_seconds() * 1000),
            "reconnect.backoff.max.ms": int(retry.max.total_seconds() * 1000),
        }
        settings.update(c.producer)
        return settings

    def location(self) -> str:
        return f"Kafka at {self.config.bootstrap_servers}"

    def connect(self) -> None:
        kafka = require("confluent_kafka", "kafka", f"sink '{self.name}' (kind: kafka)")
        require("confluent_kafka.admin", "kafka", f"sink '{self.name}' (kind: kafka)")
        c = self.config
        self._kafka = kafka
        self._fatal: str | None = None
        self._unavailable: str | None = None
        self._last_error: str | None = None
        self._failed = 0
        self._first_failure: str | None = None
        self._flushed: int | None = None
        self._exited = False
        self._acked: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._offsets: dict[tuple[str, int], int] = {}
        self._placed: defaultdict[tuple[str, int], int] = defaultdict(int)  # known offsets
        self._reused: str | None = None  # offsets handed out twice: the broker lost messages
        self._reused_at: set[tuple[str, int]] = set()
        self._audited = False
        self._tails: dict[tuple[str, int], tuple[int, str]] = {}  # last acked: offset, event id
        # per batch in the producer, until acknowledged: its routes and event ids
        self._sent: dict[int, tuple[pa.Array | str, pa.Array]] = {}
        self._next_id = 0
        self._tombstones = 0
        self._topics: dict[str, int] = {}
        self._registry = None
        try:  # the admin client takes the `producer` settings too (security.protocol, sasl.*)
            self.admin = kafka.admin.AdminClient(
                {**self._settings(), "logger": log, "error_cb": self._on_error}
            )
        except kafka.KafkaException as exc:
            raise SinkError(self.name, f"invalid producer settings: {describe(exc)}") from exc
        try:
            metadata = self.admin.list_topics(timeout=c.connect_timeout.total_seconds())
        except kafka.KafkaException as exc:
            raise self.unavailable(self._last_error or exc) from exc
        self._topics = {name: len(t.partitions) for name, t in metadata.topics.items()}
        if self.route.constant:
            self._ensure_topics([self.route.wildcard("", e) for e in self.entities])
        retry = c.retry
        settings = self._settings()
        settings.update(
            {
                "enable.idempotence": c.idempotent,
                "acks": c.acks if not c.idempotent else "all",
                "linger.ms": c.linger_ms,
                "batch.size": c.batch_size,
                "compression.type": c.compression,
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": c.max_in_flight,
                "message.timeout.ms": int(retry.for_.total_seconds() * 1000),
                "retry.backoff.ms": int(retry.initial.total_seconds() * 1000),
                "retry.backoff.max.ms": int(retry.max.total_seconds() * 1000),
            }
        )
        settings.update(c.producer)
        # The sink chooses partitions (Kafka's default partitioner) so delivery reports can
        # be matched in order; not when the order is not kept or another partitioner is set.
        self._choose_partitions = c.idempotent and "partitioner" not in c.producer
        self._rng = np.random.default_rng([self.context.seed, *self.name.encode()])
        options = {
            "headers": c.headers,
            "tombstones": c.tombstones,
            "max_in_flight": c.max_in_flight,
            "retry": retry,
        }
        own = c.producer_process
        if own == "auto":
            own = (os.cpu_count() or 1) >= PROCESS_FROM_CPUS
        transport = ProducerProcess if own else InProcessProducer
        self._producer = transport(self.name, self.where, settings, options)
        answer = self._producer.answers.get()
        if answer[0] != "ready":
            detail = answer[1] if answer[0] == "error" else "the producer process exited"
            raise SinkError(self.name, f"invalid producer settings: {detail}")
        if c.schema_registry and c.encoding == "avro":
            from headwater.sinks.kafka._registry import SchemaRegistry

            self._registry = SchemaRegistry(
                c.schema_registry, self.name, c.connect_timeout.total_seconds()
            )

    def _on_error(self, error: Any) -> None:
        self._last_error = error.str()

    def _ensure_topics(self, names: list[str]) -> None:
        missing = [t for t in dict.fromkeys(names) if t not in self._topics]
        if not missing:
            return
        c = self.config
        kafka = self._kafka
        # Kafka deletes by record time: a simulated clock years back would have the
        # messages of a created topic deleted at the broker's next retention check.
        config = {"retention.ms": "-1"} if c.timestamp != "wall" else {}
        config.update(c.topic_config)
        new = [
            kafka.admin.NewTopic(t, c.partitions, c.replication_factor, config=dict(config))
            for t in missing
        ]
        timeout = c.connect_timeout.total_seconds()
        futures = self.admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
        for topic, future in futures.items():
            try:
                future.result()
            except kafka.KafkaException as exc:
                error: Any = exc.args[0] if exc.args else None
                code = error.code() if hasattr(error, "code") else None
                if code != kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                    raise SinkError(
                        self.name, f"cannot create topic '{topic}' on {self.where}: {describe(exc)}"
                    ) from exc
        metadata = self.admin.list_topics(timeout=timeout)
        for topic in missing:
            info = metadata.topics.get(topic)
            self._topics[topic] = len(info.partitions) if info is not None else c.partitions

    # -- sending ---------------------------------------------------------------------------

    def send(self, batch: Batch) -> None:
        self._collect()
        self._check()
        self._ensure_topics(batch.distinct_routes())
        assert self._producer is not None
        self._next_id += 1
        columns = batch.columns()
        self._sent[self._next_id] = (columns["routes"], columns["event_ids"])
        if self.config.tombstones:
            self._tombstones += batch.ops.count("d")
        meta = {
            "content_type": batch.content_type,
            "size": batch.size,
            "schema_version": batch.schema_version,
        }
        if self._choose_partitions:
            columns = {**columns, "partitions": self._partitions(columns)}
        command = ("batch", self._next_id, batch.stream, columns, meta)
        if not self._producer.send(*command):
            self._collect()
            self._check()
            raise self._gone()
        self._sync()

    def _partitions(self, columns: dict[str, Any]) -> pa.Array:
        """Where Kafka's default partitioner puts each message (see kafka/_partition.py)."""
        routes, keys = columns["routes"], columns["keys"]
        n = len(keys)
        if isinstance(routes, str):
            counts = np.full(n, self._topics[routes], np.int64)
        else:
            encoded = routes.dictionary_encode()
            sizes = np.array([self._topics[t] for t in encoded.dictionary.to_pylist()], np.int64)
            counts = sizes[encoded.indices.to_numpy()]
        return pa.array(_partition.partitions(keys, counts, self._rng), pa.int32())

    def drain(self) -> None:
        assert self._producer is not None
        self._flushed = None
        if not self._producer.send("flush"):
            self._collect()
            self._check()
            raise self._gone()
        while self._flushed is None:
            self._collect(block=True)
            self._check()
        self._sync()
        if self._flushed:
            self._audit()
            raise SinkError(self.name, f"{self._flushed} messages not acknowledged by {self.where}")
        if self._audit():  # all acknowledged: does the broker still have them? (a restart
            # between messages can go unnoticed by the producer: librdkafka reconnects)
            raise SinkError(self.name, self._lost_message(self.lost[0]))

    def _collect(self, block: bool = False) -> None:
        """Take the producer process's answers (see kafka/_producer.py)."""
        assert self._producer is not None
        answers = self._producer.answers
        while True:
            try:
                answer = answers.get(timeout=1.0) if block else answers.get_nowait()
            except queue.Empty:
                if block and not self._producer.alive():
                    self._exited = True
                    raise self._gone() from None
                if block:
                    continue
                return
            block = False
            kind = answer[0]
            if kind == "acked":
                _, batch_id, partitions, offsets, retries = answer
                routes, event_ids = self._sent.pop(batch_id)
                self.acks.ack_batch(routes, event_ids, partitions, offsets)
                self._count(routes, partitions, offsets, event_ids)
                self.acks.retries = retries
            elif kind == "tombstones":  # logged too: the ledger says what was published
                _, event_ids, topics, parts, offs = answer
                self.acks.ack_batch(topics, event_ids, parts, offs)
                self._count(pa.array(topics), pa.array(parts, pa.int32()), offs, event_ids)
            elif kind == "failed":
                self._failed, self._first_failure = answer[1], answer[2]
            elif kind == "fatal":
                self._fatal = answer[1]
            elif kind == "unavailable":
                self._unavailable = answer[1]
            elif kind == "flushed":
                self._flushed, self.acks.retries = answer[1], answer[2]
            elif kind == "exited":
                self._exited = True

    def queued(self) -> int:
        """Messages handed to the producer and not yet acknowledged: exact in one process;
        with a producer process, whole batches until their last message is acknowledged."""
        if isinstance(self._producer, InProcessProducer):
            return self._producer.queued()
        return sum(len(ids) for _, ids in self._sent.values())

    def _gone(self) -> SinkError:
        return SinkError(self.name, f"the producer process for {self.where} exited unexpectedly")

    def _check(self) -> None:
        error = self._error()
        if error is not None:
            self._audit()
            raise error

    def _error(self) -> SinkError | None:
        if self._reused:
            return SinkError(self.name, self._reused)
        if self._fatal:
            return SinkError(self.name, f"producer failed on {self.where}: {self._fatal}")
        if self._unavailable:
            return SinkUnavailable(self.name, self._unavailable)
        if self._failed:
            return SinkError(
                self.name,
                f"{self._failed} messages were not acknowledged by {self.where} within "
                f"{self.config.retry.for_.total_seconds():g} s: {self._first_failure}",
            )
        if self._exited:
            return self._gone()
        return None

    def _audit(self) -> int:
        """The run fails or ends: which messages the broker acknowledged and no longer has,
        for the ledger (StreamSink.lose); how many lost records that makes. A broker that
        cannot be asked may still have them all: then the acknowledgements stand. (A broker
        that lost its log in a restart may have given none of their offsets out again.)"""
        if self._audited or not self._acked:
            return 0
        self._audited = True
        kafka = self._kafka
        timeout = min(self.config.connect_timeout.total_seconds(), AUDIT_WAIT)
        try:
            topics = self.admin.list_topics(timeout=timeout).topics
        except kafka.KafkaException:
            return 0
        before = len(self.lost)
        there = {w for w in self._acked if w[1] in getattr(topics.get(w[0]), "partitions", {})}
        missing = self._read_back(there, READ_BACK_WAIT)
        for where in sorted(self._acked):
            topic, partition = where
            if where not in there:
                self.lose(topic, f"{self.where}: the partition is gone", partition=partition)
            elif where in self._reused_at or where in missing:
                why = (
                    "its last acknowledged message is gone or another one is at its offset: "
                    "which earlier ones are gone is unknown"
                )
                self.lose(topic, f"{self.where}: {why}", partition=partition, known=False)
        return len(self.lost) - before

    def _read_back(self, partitions: set[tuple[str, int]], timeout: float) -> set[tuple[str, int]]:
        """The partitions whose last acknowledged message is not at its offset any more
        (the broker lost its log and maybe gave the offset out again), read back with a
        consumer. The broker answered for the partition (it exists): one whose message does
        not come in `timeout` is counted too (Tansu answers an offset past the end with
        nothing, not OFFSET_OUT_OF_RANGE)."""
        kafka = self._kafka
        tails = {w: t for w, t in self._tails.items() if w in partitions}
        if not tails:
            return set()
        consumer = kafka.Consumer(
            {
                **self._settings(),
                "group.id": f"headwater-audit-{self.name}",
                "enable.auto.commit": False,
                "auto.offset.reset": "error",  # an offset past the end is an answer
                "logger": log,
            }
        )
        seen: set[tuple[str, int]] = set()
        kept: set[tuple[str, int]] = set()
        try:
            consumer.assign([kafka.TopicPartition(t, p, o) for (t, p), (o, _) in tails.items()])
            deadline = time.monotonic() + timeout
            while len(seen) < len(tails) and time.monotonic() < deadline:
                for m in consumer.consume(100, 0.1):
                    where = (m.topic(), m.partition())
                    if where not in tails or where in seen:
                        continue
                    seen.add(where)
                    offset, event_id = tails[where]
                    headers = dict(m.headers() or []) if m.error() is None else {}
                    same = not self.config.headers or headers.get("event_id") == event_id.encode()
                    if m.error() is None and m.offset() == offset and same:
                        kept.add(where)
        except kafka.KafkaException:
            return set()  # the broker cannot be asked: the acknowledgements stand
        finally:
            consumer.close()
        return set(tails) - kept

    def _lost_message(self, record: dict[str, Any]) -> str:
        return (
            f"{self.where} lost messages it had acknowledged: partition {record['partition']} "
            f"of topic '{record['route']}' ({record['why']}). The "
            "topics miss messages this run published: keep the broker's data across restarts "
            "(durable, replicated storage) and run again"
        )

    def _sync(self) -> None:
        """Acknowledgements → stats: per topic and partition, counts and the last offset."""
        d = self.acks
        partitions: dict[str, list[int]] = {}
        offsets: dict[str, list[int]] = {}
        for (topic, p), n in sorted(self._acked.items()):
            size = max(self._topics.get(topic, 0), p + 1)
            partitions.setdefault(topic, [0] * size)
            offsets.setdefault(topic, [-1] * size)
            if len(partitions[topic]) <= p:  # the broker added partitions meanwhile
                partitions[topic] += [0] * (p + 1 - len(partitions[topic]))
                offsets[topic] += [-1] * (p + 1 - len(offsets[topic]))
            partitions[topic][p] = n
            offsets[topic][p] = self._offsets.get((topic, p), -1)
        d.publish()
        d.extra["partitions"] = partitions
        d.extra["offsets"] = offsets
        if self.config.tombstones:
            d.extra["tombstones"] = self._tombstones

    def _count(
        self,
        topics: pa.Array | str,
        partitions: pa.Array,
        offsets: pa.Array,
        event_ids: pa.Array | list[str],
    ) -> None:
        """Acknowledged messages per (topic, partition), and the last offset of each."""
        n = len(partitions)
        table = pa.table(
            {
                "topic": pa.repeat(pa.scalar(topics), n) if isinstance(topics, str) else topics,
                "partition": partitions,
                "offset": offsets,
                "event_id": pa.array(event_ids, pa.string())
                if isinstance(event_ids, list)
                else event_ids.cast(pa.string()),
            }
        )
        last = (
            table.filter(pc.is_valid(table["offset"]))
            .sort_by([("offset", "descending")])
            .group_by(["topic", "partition"], use_threads=False)
            .aggregate([("offset", "first"), ("event_id", "first")])
        )
        for row in last.to_pylist():
            where = (row["topic"], row["partition"])
            if row["offset_first"] > self._tails.get(where, (-1, ""))[0]:
                self._tails[where] = (row["offset_first"], row["event_id_first"])
        grouped = table.group_by(["topic", "partition"]).aggregate(
            [("partition", "count"), ("offset", "count"), ("offset", "max")]
        )
        for row in grouped.to_pylist():
            where = (row["topic"], row["partition"])
            self._acked[where] += row["partition_count"]
            self._placed[where] += row["offset_count"]
            last = row["offset_max"]
            if last is not None and last > self._offsets.get(where, -1):
                self._offsets[where] = last
            self._lost_log(where)

    def _lost_log(self, where: tuple[str, int]) -> None:
        """Distinct messages need distinct offsets: more of them than offsets up to the last
        one means the broker gave offsets out again, having lost the first ones."""
        placed, last = self._placed[where], self._offsets.get(where, -1)
        if placed > last + 1:
            self._reused_at.add(where)
        if self._reused is None and placed > last + 1:
            self._reused = (
                f"{self.where} lost messages it had acknowledged: partition {where[1]} of "
                f"topic '{where[0]}' acknowledged {placed} messages of this run at offsets up "
                f"to {last}, so at least {placed - last - 1} were lost (the broker restarted "
                "without its log and gave their offsets out again). The topics miss messages "
                "this run published: keep the broker's data across restarts (durable, "
                "replicated storage) and run again"
            )

    def disconnect(self) -> None:
        producer = self._producer
        if producer is None:
            return
        # after a failure: give in-flight messages a moment, no more
        if producer.send("close", 1.0):
            deadline = time.monotonic() + CLOSE_WAIT
            while not producer.join(0.05) and time.monotonic() < deadline:
                with contextlib.suppress(SinkError):
                    self._collect()
        producer.stop(1.0)
        with contextlib.suppress(SinkError):
            self._collect()
        self._producer = None
        self._sync()

    # -- Avro with a schema registry ---------------------------------------------------------

    def avro_prefix(self, stream: str, schema: dict[str, Any]) -> bytes:
        if self._registry is None:
            return b""
        from headwater.sinks._encode import confluent_prefix

        # TopicNameStrategy: <topic>-value; a topic templated over fields uses <entity>-value.
        topic = self.route.wildcard("", stream) if self.route.constant else stream
        return confluent_prefix(self._registry.register(f"{topic}-value", schema))
