"""The Kafka producer, driven by commands: in the run's process, or in one of its own.

confluent-kafka costs a few µs of Python per message (produce(), headers, the delivery
report), all under the GIL; generating and encoding the world costs about as much again.
In one process they add up. With `producer_process` the run's process generates and
encodes, and hands each encoded batch (Arrow columns, pickled over a pipe) to a child
process that owns the librdkafka producer: both halves get a core. On a machine with few
cores that also runs the broker, the two processes compete and one is faster
(`InProcessProducer`, the same commands called directly). Messages, order and partitions
are the same either way.

Commands: ("batch", id, stream, columns, meta), ("flush",), ("close", seconds). The
producer answers with what librdkafka reported:

    ("ready",) | ("error", text)             the producer was (not) created
    ("acked", id, partitions, offsets, retries)
                                             every message of batch `id` was acknowledged:
                                             where each one landed (Arrow int32/int64)
    ("tombstones", event_ids, topics, partitions, offsets)
                                             tombstones acknowledged since the last answer,
                                             each under its delete's event id
    ("failed", count, first_error)           messages librdkafka gave up on
    ("fatal", text)                          the producer cannot go on
    ("unavailable", text)                    the broker was away longer than retry.for
    ("flushed", left, retries)               answer to ("flush",): messages still unacknowledged
    ("closed",)                              answer to ("close", seconds)

At most AHEAD batches wait for the child; then `send()` blocks: memory stays bounded by
the producer queue (`max_in_flight`) and those batches.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from collections import defaultdict, deque
from functools import partial
from itertools import repeat
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pyarrow as pa

from headwater.errors import SinkUnavailable
from headwater.sinks._stream import Batch, BrokerBackoff, describe, header_pairs

POLL_EVERY = 1000  # produce calls between serving delivery reports
QUEUE_FULL_WAIT = 0.05  # seconds to serve delivery reports when the producer queue is full
IDLE_WAIT = 0.05  # seconds between serving delivery reports while no batch comes
AHEAD = 8  # batches encoded and waiting for the producer process


class ProducerProcess:
    """The sink's side: start the child, send it batches, read its answers on a thread.

    The child is a `python -c` of `main()` below, talking over two pipes, not a
    multiprocessing child: that one would import the caller's main module again (a script
    without a __main__ guard would run twice) and librdkafka's threads do not survive fork.
    """

    def __init__(self, sink: str, where: str, settings: dict[str, Any], options: dict[str, Any]):
        child_in, commands = os.pipe()  # sink → child
        answers, child_out = os.pipe()  # child → sink
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(child_in), str(child_out)],
            pass_fds=(child_in, child_out),
            stdin=subprocess.DEVNULL,
        )
        os.close(child_in)
        os.close(child_out)
        self._outbox = Connection(commands, readable=False)
        self._inbox = Connection(answers, writable=False)
        self.answers: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"hw-{sink}-acks", daemon=True)
        self._reader.start()
        # Commands wait here while the child is busy, so the world goes on meanwhile.
        self._commands: queue.Queue[tuple[Any, ...] | None] = queue.Queue(AHEAD)
        self._broken = False
        self._writer = threading.Thread(target=self._write, name=f"hw-{sink}-send", daemon=True)
        self._writer.start()
        self.send(sink, where, settings, options)

    def _read(self) -> None:
        while True:
            try:
                self.answers.put(self._inbox.recv())
            except (EOFError, OSError):
                self.answers.put(("exited",))
                return

    def alive(self) -> bool:
        return self.process.poll() is None

    def _write(self) -> None:
        while (command := self._commands.get()) is not None:
            if self._broken:
                continue  # the child is gone: the sink learns it from send() or answers
            try:
                self._outbox.send(command)
            except (EOFError, OSError):
                self._broken = True

    def send(self, *command: Any) -> bool:
        """Queue a command for the child (waits while AHEAD are queued); False when the
        child is gone."""
        if self._broken:
            return False
        self._commands.put(command)
        return True

    def join(self, timeout: float) -> bool:
        """Wait for the child to end; whether it did."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float) -> None:
        if not self.join(timeout):
            self.process.kill()
            self.process.wait(5)
        self._broken = True
        self._commands.put(None)
        self._writer.join(5)
        self._outbox.close()
        self._reader.join(5)
        self._inbox.close()


# -- the child ------------------------------------------------------------------------------


class _EachReport:
    """A batch whose messages each carry their own delivery callback (librdkafka chooses
    the partitions): exact whatever the order of the reports, at about 1 µs a message."""

    __slots__ = ("left", "offsets", "on_failure", "partitions")

    def __init__(self, n: int, on_failure: Any):
        self.partitions: list[int] = [-1] * n
        self.offsets: list[int | None] = [None] * n
        self.left = n
        self.on_failure = on_failure

    def delivered(self, i: int, err: Any, msg: Any) -> None:
        """librdkafka's delivery report for message i (called from producer.poll/flush)."""
        if err is not None:
            self.on_failure(err)  # the run fails; this batch never completes
            return
        self.partitions[i] = msg.partition()
        self.offsets[i] = msg.offset()  # None when the broker did not say (a resent duplicate)
        self.left -= 1

    def done(self, reports: _InOrderReports) -> bool:
        return self.left == 0

    def result(self, reports: _InOrderReports) -> tuple[pa.Array, pa.Array]:
        return pa.array(self.partitions, pa.int32()), pa.array(self.offsets, pa.int64())


class _InOrderReports:
    """Delivery reports of messages sent to partitions the sink chose: per (topic,
    partition) they come in the order the messages were produced (the idempotent producer
    keeps it), so the n-th report of a partition is its n-th message."""

    def __init__(self, on_failure: Any):
        self.produced: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.offsets: defaultdict[tuple[str, int], list[int]] = defaultdict(list)
        self.base: defaultdict[tuple[str, int], int] = defaultdict(int)  # rank of offsets[0]
        offsets = self.offsets

        def delivered(err: Any, msg: Any) -> None:
            """The producer's one delivery callback (a closure: called once per message)."""
            if err is None:
                offsets[(msg.topic(), msg.partition())].append(msg.offset())
            else:
                on_failure(err)

        self.delivered = delivered

    def received(self, where: tuple[str, int]) -> int:
        return self.base[where] + len(self.offsets[where])


class _InOrder:
    """A batch sent to chosen partitions: each message's rank within its partition."""

    __slots__ = ("groups", "inverse", "last", "partitions", "ranks")

    def __init__(self, topics: pa.Array | str, partitions: np.ndarray, reports: _InOrderReports):
        n = len(partitions)
        if isinstance(topics, str):
            names = [topics]
            codes = np.zeros(n, np.int64)
        else:
            encoded = topics.dictionary_encode()
            names = encoded.dictionary.to_pylist()
            codes = encoded.indices.to_numpy().astype(np.int64)
        keys, inverse = np.unique(codes * (1 << 31) + partitions, return_inverse=True)
        self.inverse = inverse.ravel()
        self.groups = [(names[int(k >> 31)], int(k & ((1 << 31) - 1))) for k in keys]
        counts = np.bincount(self.inverse, minlength=len(keys))
        start = np.array([reports.produced[g] for g in self.groups], np.int64)
        for g, c in zip(self.groups, counts.tolist(), strict=True):
            reports.produced[g] += c
        self.ranks = start[self.inverse] + _cumcount(self.inverse)
        self.last = (start + counts - 1).tolist()  # the rank of each group's last message
        self.partitions = partitions

    def done(self, reports: _InOrderReports) -> bool:
        return all(reports.received(g) > r for g, r in zip(self.groups, self.last, strict=True))

    def result(self, reports: _InOrderReports) -> tuple[pa.Array, pa.Array]:
        offsets = np.empty(len(self.ranks), np.int64)
        for i, (g, last) in enumerate(zip(self.groups, self.last, strict=True)):
            rows = self.inverse == i
            got = np.array(reports.offsets[g], dtype=float)  # None: the broker did not say
            got = np.where(np.isnan(got), -1, got).astype(np.int64)
            offsets[rows] = got[self.ranks[rows] - reports.base[g]]
            # batches complete in order: what this one used is not needed again
            used = last + 1 - reports.base[g]
            del reports.offsets[g][:used]
            reports.base[g] += used
        return pa.array(self.partitions, pa.int32()), pa.array(offsets, mask=offsets < 0)


def _cumcount(groups: np.ndarray) -> np.ndarray:
    """Per element, how many earlier elements share its group."""
    order = np.argsort(groups, kind="stable")
    ordered = groups[order]
    starts = np.r_[0, np.nonzero(np.diff(ordered))[0] + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    out = np.empty(len(groups), np.int64)
    out[order] = np.arange(len(groups)) - first
    return out


class _Producer:
    """The child's state: the producer, what is in flight, what was reported."""

    def __init__(self, answer: Any, sink: str, where: str, settings: dict, options: dict):
        import confluent_kafka

        self.out = answer  # sends one answer to the sink
        self.sink = sink
        self.options = options
        self.fatal: str | None = None
        self.last_error: str | None = None
        self.failed = 0
        self.reported_failed = 0
        self.first_failure: str | None = None
        self.gone = False  # unavailable or fatal: the rest is discarded
        self.inflight: dict[int, _EachReport | _InOrder] = {}
        self.in_order = _InOrderReports(self._on_failure)
        self.order: deque[int] = deque()
        self.tombstones: list[tuple[str, str, int, int | None]] = []
        self.backoff = BrokerBackoff(sink, where, options["retry"])
        log = logging.getLogger("headwater.sinks.kafka.producer")
        log.addHandler(logging.NullHandler())  # connection errors come back as last_error
        log.propagate = False
        self.kafka = confluent_kafka
        self.producer = confluent_kafka.Producer(
            {
                **settings,
                "logger": log,
                "error_cb": self._on_error,
                "on_delivery": self.in_order.delivered,
            }
        )

    def _on_error(self, error: Any) -> None:
        self.last_error = error.str()
        if error.fatal():
            self.fatal = error.str()

    def _on_failure(self, err: Any) -> None:
        self.failed += 1
        if self.first_failure is None:
            self.first_failure = err.str()

    def _on_tombstone(self, event_id: str, err: Any, msg: Any) -> None:
        if err is not None:
            self._on_failure(err)
        else:
            self.tombstones.append((event_id, msg.topic(), msg.partition(), msg.offset()))

    def _delay(self, reason: str) -> float:
        return self.backoff.delay(self.last_error or reason)

    def produce_batch(self, batch_id: int, batch: Batch, chosen: pa.Array | None) -> None:
        """Produce every message; to the `chosen` partitions when the sink chose them."""
        self.order.append(batch_id)
        topics = repeat(batch.routes) if isinstance(batch.routes, str) else batch.routes
        headers = header_pairs(batch) if self.options["headers"] else repeat(None)
        stamps = batch.timestamps or repeat(0)  # 0: librdkafka stamps the wall clock
        if chosen is not None:
            parts = chosen.to_numpy()
            self.inflight[batch_id] = _InOrder(batch.column("routes"), parts, self.in_order)
            messages = zip(
                topics, batch.values, batch.keys, headers, parts.tolist(), stamps, strict=False
            )
            self._produce(batch, messages)
            return
        pending = _EachReport(len(batch), self._on_failure)
        self.inflight[batch_id] = pending
        reports = map(partial, repeat(pending.delivered), range(len(batch)))
        messages = zip(topics, batch.values, batch.keys, headers, repeat(-1), stamps, strict=False)
        self._produce(batch, messages, reports)

    def _produce(self, batch: Batch, messages: Any, reports: Any = None) -> None:
        if reports is not None or self.options["tombstones"]:
            self._produce_each(batch, messages, reports)
            return
        produce = self.producer.produce
        poll = self.producer.poll
        n = 0
        for topic, value, key, hdr, partition, ts in messages:  # the hot loop: nothing else
            try:
                produce(topic, value, key, partition, timestamp=ts, headers=hdr)
            except BufferError:
                self._wait_for_room()
                produce(topic, value, key, partition, timestamp=ts, headers=hdr)
            n += 1
            if n == POLL_EVERY:
                poll(0)
                n = 0
        poll(0)

    def _produce_each(self, batch: Batch, messages: Any, reports: Any) -> None:
        """With a delivery callback per message, and/or a tombstone after each delete."""
        produce = self.producer.produce
        ops = batch.ops if self.options["tombstones"] else None
        extra: dict[str, Any] = {}
        for i, (topic, value, key, hdr, partition, ts) in enumerate(messages):
            if reports is not None:
                extra["on_delivery"] = next(reports)
            try:
                produce(topic, value, key, partition, timestamp=ts, headers=hdr, **extra)
            except BufferError:
                self._wait_for_room()
                produce(topic, value, key, partition, timestamp=ts, headers=hdr, **extra)
            if ops is not None and ops[i] == "d":
                self._produce_tombstone(batch.event_ids[i], topic, key, partition, ts, hdr)
            if i % POLL_EVERY == 0:
                self.producer.poll(0)
        self.producer.poll(0)

    def _produce_tombstone(
        self, event_id: str, topic: str, key: bytes | None, partition: int, ts: int, hdr: Any
    ) -> None:
        """A null value with the delete's key and time, right after it: compaction drops the
        key. Acknowledged under the delete's event id, which its headers carry too."""
        report = partial(self._on_tombstone, event_id)
        message = {"partition": partition, "timestamp": ts, "headers": hdr, "on_delivery": report}
        try:
            self.producer.produce(topic, None, key, **message)
        except BufferError:
            self._wait_for_room()
            self.producer.produce(topic, None, key, **message)

    def _wait_for_room(self) -> None:
        """The producer queue is full (the broker is slow or away): wait for acknowledgements."""
        self.backoff.reset()
        before = len(self.producer)
        wait = QUEUE_FULL_WAIT
        while len(self.producer) >= self.options["max_in_flight"]:
            self.producer.poll(wait)
            if self.fatal:
                raise _Fatal(self.fatal)
            now = len(self.producer)
            if now < before:
                self.backoff.reset()
                before, wait = now, QUEUE_FULL_WAIT
            else:  # nothing acknowledged: the broker is away, back off
                wait = self._delay("producer queue full")

    def flush(self) -> int:
        self.backoff.reset()
        while True:
            left: int = self.producer.flush(1.0)
            if not left or self.fatal or self.failed:
                return left
            self.producer.poll(self._delay(f"{left} messages not yet acknowledged"))

    @classmethod
    def start(
        cls, answer: Any, sink: str, where: str, settings: dict, options: dict
    ) -> _Producer | None:
        """The producer, announced with ("ready",); None after ("error", why)."""
        try:
            p = cls(answer, sink, where, settings, options)
        except Exception as exc:  # invalid settings: the sink says which
            answer(("error", f"{type(exc).__name__}: {exc}"))
            return None
        answer(("ready",))
        return p

    def handle(self, command: tuple[Any, ...]) -> bool:
        """Carry out one command of the sink; False after ("close", …).

        The client library failing underneath (a KafkaException, or a SystemError out of
        its C code, seen from flush() while the broker crashed) is the producer's fatal
        error: the sink fails naming itself. A bug in a callback of ours comes out of
        flush() or poll() as itself (TypeError, …) and stays one."""
        try:
            return self._handle(command)
        except (SystemError, self.kafka.KafkaException) as exc:
            self.fatal = self.fatal or f"confluent_kafka failed: {describe(exc)}"
            self.report()
            if command[0] == "close":
                self.out(("closed",))
                return False
            return True

    def _handle(self, command: tuple[Any, ...]) -> bool:
        kind = command[0]
        if kind == "batch":
            if self.gone:
                return True  # the sink raises at its next look; what follows is not sent
            _, batch_id, stream, columns, meta = command
            chosen = columns.pop("partitions", None)
            try:
                self.produce_batch(batch_id, Batch.from_columns(stream, columns, **meta), chosen)
            except SinkUnavailable as exc:
                self.unavailable(exc)
            except _Fatal:
                pass  # reported below
            except self.kafka.KafkaException as exc:  # produce() refused: fatal producer error
                self.fatal = self.fatal or str(exc.args[0] if exc.args else exc)
            self.report()
        elif kind == "flush":
            left = len(self.producer)
            if not self.gone:
                try:
                    left = self.flush()
                except SinkUnavailable as exc:
                    self.unavailable(exc)
            self.report()
            self.out(("flushed", left, self.backoff.retries))
        elif kind == "poll":  # the child's own, between commands: delivery reports
            self.producer.poll(0)
            self.report()
        elif kind == "close":
            self.producer.flush(command[1])  # after a failure: a moment for in-flight messages
            self.report()
            self.out(("closed",))
            return False
        return True

    def unavailable(self, exc: SinkUnavailable) -> None:
        self.gone = True
        self.out(("unavailable", str(exc).removeprefix(f"sink '{self.sink}': ")))

    def report(self) -> None:
        """Tell the sink which batches are acknowledged, and any failure."""
        while self.order and self.inflight[self.order[0]].done(self.in_order):
            batch_id = self.order.popleft()
            partitions, offsets = self.inflight.pop(batch_id).result(self.in_order)
            self.out(("acked", batch_id, partitions, offsets, self.backoff.retries))
        if self.tombstones:  # the last ones may come after their batch is complete
            ids, topics, parts, offs = zip(*self.tombstones, strict=True)
            self.tombstones = []
            self.out(
                ("tombstones", list(ids), list(topics), list(parts), pa.array(offs, pa.int64()))
            )
        if self.failed != self.reported_failed:
            self.reported_failed = self.failed
            self.out(("failed", self.failed, self.first_failure))
        if self.fatal and not self.gone:
            self.gone = True
            self.out(("fatal", self.fatal))


class _Fatal(Exception):
    pass


def serve(inbox: Connection, out: Connection) -> None:
    """The child's loop: produce the batches that come, report what is acknowledged."""
    p = _Producer.start(out.send, *inbox.recv())
    if p is None:
        return
    while True:
        if not inbox.poll(IDLE_WAIT if len(p.producer) else None):
            p.handle(("poll",))
            continue
        if not p.handle(inbox.recv()):
            return


class InProcessProducer:
    """The same producer on the sink's own thread, for `producer_process: false`: one
    process, the world and librdkafka's Python calls take turns."""

    def __init__(self, sink: str, where: str, settings: dict[str, Any], options: dict[str, Any]):
        self.answers: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._producer = _Producer.start(self.answers.put, sink, where, settings, options)
        self._open = self._producer is not None

    def send(self, *command: Any) -> bool:
        if self._open:
            assert self._producer is not None
            self._open = self._producer.handle(command)
        return True

    def alive(self) -> bool:
        return self._open

    def queued(self) -> int:
        """Messages in librdkafka's queue, not yet acknowledged."""
        return len(self._producer.producer) if self._producer is not None else 0

    def join(self, timeout: float) -> bool:
        return True

    def stop(self, timeout: float) -> None:
        self._producer = None


def main() -> None:
    """The child's entry point: the two pipe ends are its arguments."""
    serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )


CHILD = f"from {__name__} import main; main()"
