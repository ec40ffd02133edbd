"""Kafka: events on topics, partitioned by key the way Kafka's default partitioner does.

Topics are created when missing (`partitions`, `replication_factor`, `topic_config`). The
message key is the entity key, or fields named by `key`; librdkafka's `murmur2_random`
partitioner hashes it exactly like the Java client, so a key always lands in the same
partition and per-key order holds. Each message carries headers (event_id, event_time,
schema_version, content-type); the Kafka timestamp is when it was produced (ingestion
time). The producer is idempotent by default: librdkafka retries with backoff while a
broker is down, holds at most `max_in_flight` messages, and never writes one twice.
Delivery reports say where each message landed: the ledger keeps its partition and
offset (<out>/ledger/<sink>/_acks), and `headwater run` shows per topic and partition
the acknowledged count and the last offset, so hot partitions show.

Avro bodies come with their schema written to <out>/<sink>/<entity>.avsc; with
`schema_registry` the schema is registered under `<topic>-value` and every body starts with
Confluent's wire-format prefix (magic byte 0 and the schema id). `tombstones: true` sends a
null-valued message with the same key after each delete, for compacted topics. The CDC
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

import logging
from collections import defaultdict, deque
from collections.abc import Callable
from functools import partial
from itertools import repeat
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from headwater.errors import SinkError
from headwater.sinks._stream import Batch, StreamConfig, StreamSink, describe, require

log = logging.getLogger(__name__)

POLL_EVERY = 1000  # produce calls between serving delivery reports
QUEUE_FULL_WAIT = 0.05  # seconds to serve delivery reports when the producer queue is full


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
        {}, description="settings of created topics, e.g. {cleanup.policy: compact}"
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

    route_option: ClassVar[str] = "topic"


class _InFlight:
    """One batch's messages awaiting delivery reports: where each one landed."""

    __slots__ = ("batch", "left", "offsets", "on_failure", "partitions")

    def __init__(self, batch: Batch, on_failure: Callable[[Any], None]):
        n = len(batch)
        self.batch = batch
        self.partitions = [-1] * n
        self.offsets = [-1] * n
        self.left = n
        self.on_failure = on_failure

    def delivered(self, i: int, err: Any, msg: Any) -> None:
        """librdkafka's delivery report for message i (called from producer.poll/flush)."""
        if err is not None:
            self.on_failure(err)  # the run fails; this batch never completes
            return
        self.partitions[i] = msg.partition()
        self.offsets[i] = msg.offset()
        self.left -= 1


class KafkaSink(StreamSink):
    """Produces one message per record with confluent-kafka (librdkafka)."""

    kind = "kafka"
    Config = KafkaConfig
    capabilities = StreamSink.capabilities | {"partitions", "tombstones"}
    config: KafkaConfig

    # -- connection ------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        c = self.config
        retry = c.retry
        settings: dict[str, Any] = {
            "bootstrap.servers": c.bootstrap_servers,
            "client.id": f"headwater-{self.name}",
            "logger": log,
            "error_cb": self._on_error,
            "socket.connection.setup.timeout.ms": int(c.connect_timeout.total_seconds() * 1000),
            "reconnect.backoff.ms": int(retry.backoff.total_seconds() * 1000),
            "reconnect.backoff.max.ms": int(retry.max_backoff.total_seconds() * 1000),
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
        self._last_error: str | None = None
        self._failed = 0
        self._first_failure: str | None = None
        self._acked: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._offsets: dict[tuple[str, int], int] = {}
        self._inflight: deque[_InFlight] = deque()
        self._tombstones = 0
        self._tombstones_acked: list[tuple[str, int, int]] = []
        self._topics: dict[str, int] = {}
        self._registry = None
        self.admin = kafka.admin.AdminClient(self._settings())
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
                "message.timeout.ms": int(retry.timeout.total_seconds() * 1000),
                "retry.backoff.ms": int(retry.backoff.total_seconds() * 1000),
                "retry.backoff.max.ms": int(retry.max_backoff.total_seconds() * 1000),
            }
        )
        settings.update(c.producer)
        try:
            self.producer = kafka.Producer(settings)
        except kafka.KafkaException as exc:
            raise SinkError(self.name, f"invalid producer settings: {describe(exc)}") from exc
        if c.schema_registry and c.encoding == "avro":
            from headwater.sinks.kafka._registry import SchemaRegistry

            self._registry = SchemaRegistry(
                c.schema_registry, self.name, c.connect_timeout.total_seconds()
            )

    def _on_error(self, error: Any) -> None:
        self._last_error = error.str()
        if error.fatal():
            self._fatal = error.str()

    def _on_failure(self, err: Any) -> None:
        self._failed += 1
        if self._first_failure is None:
            self._first_failure = err.str()

    def _on_tombstone(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._on_failure(err)
        else:
            self._tombstones_acked.append((msg.topic(), msg.partition(), msg.offset()))

    def _ensure_topics(self, names: list[str]) -> None:
        missing = [t for t in dict.fromkeys(names) if t not in self._topics]
        if not missing:
            return
        c = self.config
        kafka = self._kafka
        new = [
            kafka.admin.NewTopic(t, c.partitions, c.replication_factor, config=dict(c.topic_config))
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
        self._check()
        self._ensure_topics(batch.distinct_routes())
        produce = self.producer.produce
        poll = self.producer.poll
        pending = _InFlight(batch, self._on_failure)
        self._inflight.append(pending)
        delivered = pending.delivered
        topics = repeat(batch.routes) if isinstance(batch.routes, str) else batch.routes
        headers = self.header_pairs(batch) if self.config.headers else repeat(None)
        messages = zip(topics, batch.values, batch.keys, headers, strict=False)
        tombstones = self.config.tombstones and "d" in batch.ops
        n = 0
        for i, (topic, value, key, hdr) in enumerate(messages):
            report = partial(delivered, i)
            try:
                produce(topic, value, key, headers=hdr, on_delivery=report)
            except BufferError:
                self._wait_for_room()
                produce(topic, value, key, headers=hdr, on_delivery=report)
            if tombstones and batch.ops[i] == "d":
                self._tombstone(topic, key, hdr)
            n += 1
            if n == POLL_EVERY:
                poll(0)
                n = 0
        poll(0)
        self._sync()

    def _tombstone(self, topic: str, key: bytes | None, headers: Any) -> None:
        """A null value with the delete's key, right after it: compaction drops the key."""
        self._tombstones += 1
        try:
            self.producer.produce(topic, None, key, headers=headers, on_delivery=self._on_tombstone)
        except BufferError:
            self._wait_for_room()
            self.producer.produce(topic, None, key, headers=headers, on_delivery=self._on_tombstone)

    def _wait_for_room(self) -> None:
        """The producer queue is full (the broker is slow or away): wait for acknowledgements."""
        self.backoff.reset()
        before = len(self.producer)
        wait = QUEUE_FULL_WAIT
        while len(self.producer) >= self.config.max_in_flight:
            self.producer.poll(wait)
            self._check()
            now = len(self.producer)
            if now < before:
                self.backoff.reset()
                before, wait = now, QUEUE_FULL_WAIT
            else:  # nothing acknowledged: the broker is away, back off
                wait = self.backoff.delay(self._last_error or "producer queue full")

    def drain(self) -> None:
        self.backoff.reset()
        while True:
            left = self.producer.flush(1.0)
            self._check()
            if not left:
                break
            self.backoff.delay(self._last_error or f"{left} messages not yet acknowledged")
        self._sync()

    def _check(self) -> None:
        if self._fatal:
            raise SinkError(self.name, f"producer failed on {self.where}: {self._fatal}")
        if self._failed:
            raise SinkError(
                self.name,
                f"{self._failed} messages were not acknowledged by {self.where} within "
                f"{self.config.retry.timeout.total_seconds():g} s: {self._first_failure}",
            )

    def _sync(self) -> None:
        """Delivery reports → acknowledgements (for the ledger) and stats: per topic and
        partition, counts and the last offset."""
        d = self.acks
        while self._inflight and self._inflight[0].left == 0:
            done = self._inflight.popleft()
            batch = done.batch
            d.ack_batch(batch.routes, batch.event_ids, done.partitions, done.offsets)
            self._count(batch.routes, done.partitions, done.offsets)
        if self._tombstones_acked:
            acked, self._tombstones_acked = self._tombstones_acked, []
            topics, parts, offsets = (list(c) for c in zip(*acked, strict=True))
            d.count(topics, len(acked))
            self._count(topics, parts, offsets)
        partitions: dict[str, list[int]] = {}
        offsets_by_topic: dict[str, list[int]] = {}
        for (topic, p), n in sorted(self._acked.items()):
            size = max(self._topics.get(topic, 0), p + 1)
            partitions.setdefault(topic, [0] * size)
            offsets_by_topic.setdefault(topic, [-1] * size)
            partitions[topic][p] = n
            offsets_by_topic[topic][p] = self._offsets.get((topic, p), -1)
        d.publish()
        d.extra["partitions"] = partitions
        d.extra["offsets"] = offsets_by_topic
        if self.config.tombstones:
            d.extra["tombstones"] = self._tombstones

    def _count(self, topics: list[str] | str, partitions: list[int], offsets: list[int]) -> None:
        """Acknowledged messages per (topic, partition), and the last offset of each."""
        if isinstance(topics, str):
            parts = np.asarray(partitions, np.int64)
            offs = np.asarray(offsets, np.int64)
            for p in np.unique(parts).tolist():
                mask = parts == p
                where = (topics, p)
                self._acked[where] += int(mask.sum())
                self._offsets[where] = max(self._offsets.get(where, -1), int(offs[mask].max()))
            return
        for topic, p, offset in zip(topics, partitions, offsets, strict=True):
            where = (topic, p)
            self._acked[where] += 1
            if offset > self._offsets.get(where, -1):
                self._offsets[where] = offset

    def disconnect(self) -> None:
        producer = getattr(self, "producer", None)
        if producer is not None:
            producer.flush(1.0)  # after a failure: give in-flight messages a moment, no more
            self._sync()

    # -- Avro with a schema registry ---------------------------------------------------------

    def avro_prefix(self, stream: str, schema: dict[str, Any]) -> bytes:
        if self._registry is None:
            return b""
        from headwater.sinks._encode import confluent_prefix

        # TopicNameStrategy: <topic>-value; a topic templated over fields uses <entity>-value.
        topic = self.route.wildcard("", stream) if self.route.constant else stream
        return confluent_prefix(self._registry.register(f"{topic}-value", schema))
