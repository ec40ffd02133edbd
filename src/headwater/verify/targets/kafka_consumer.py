"""Every message of a Kafka topic, from the beginning to the end of its log, in offset order."""

from __future__ import annotations

import time
from typing import Any

from headwater.errors import VerifyError


def read_topic(
    kafka: Any, settings: dict[str, Any], partitions: list[int], topic: str, timeout: float
) -> list[Any]:
    """The messages of `topic`'s `partitions`, per partition in offset order.

    `kafka` is the confluent_kafka module; `settings` configure the consumer. Reads until
    every partition reaches its high watermark, raising VerifyError past the deadline.
    """
    servers = settings["bootstrap.servers"]
    consumer = kafka.Consumer(settings)
    out: list[Any] = []
    try:
        ends: dict[int, int] = {}
        for p in sorted(partitions):
            try:
                low, high = consumer.get_watermark_offsets(
                    kafka.TopicPartition(topic, p), timeout=timeout
                )
            except kafka.KafkaException as exc:
                raise VerifyError(
                    f"--target: cannot read offsets of {topic}/{p} on Kafka at {servers}: {exc}"
                ) from None
            if high > low:
                ends[p] = high
        if not ends:
            return out
        consumer.assign(
            [kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in sorted(ends)]
        )
        pos = dict.fromkeys(ends, -1)
        deadline = time.monotonic() + max(30.0, timeout * 3)

        def behind() -> bool:
            # the high watermark each fetch reports raises the listed one (some brokers,
            # Tansu among them, list the last batch's start, not the end of the log)
            for p in ends:
                _, fetched = consumer.get_watermark_offsets(
                    kafka.TopicPartition(topic, p), cached=True
                )
                ends[p] = max(ends[p], fetched)
            return any(pos[p] < ends[p] - 1 for p in ends)

        while behind():
            if time.monotonic() > deadline:
                short = {p: ends[p] - 1 - pos[p] for p in ends if pos[p] < ends[p] - 1}
                raise VerifyError(
                    f"--target: reading {topic} on Kafka at {servers} timed out "
                    f"(messages left per partition: {short})"
                )
            for msg in consumer.consume(10_000, 0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == kafka.KafkaError._PARTITION_EOF:
                        continue
                    raise VerifyError(
                        f"--target: cannot read {topic} on Kafka at {servers}: {err.str()}"
                    )
                p = msg.partition()
                if p in ends:
                    out.append(msg)
                    pos[p] = max(pos[p], msg.offset())
    finally:
        consumer.close()
    out.sort(key=lambda m: (m.partition(), m.offset()))
    return out
