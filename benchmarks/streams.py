"""Stream sinks vs a plain producer loop, per broker, in the same run.

For each broker (a private server from headwater.testing.servers), about 300-byte order
events are sent three ways, each into its own topic/stream:

    plain     the same messages (bodies, keys, headers), built before the clock starts,
              sent by a minimal loop with the same client library and settings: the
              transport's ceiling on this machine
    run       `headwater.run()` end to end: world generation, projection, encoding,
              sending, flush
    sink      the sink alone on pre-generated changes (write + flush): run minus the world

and the ratios run/plain and sink/plain are printed (target: run ≥ 80 % of plain). With
`--outage S`, Redis is also stopped for S seconds mid-run while the process's resident
memory is sampled: the sink blocks (the world waits) instead of buffering without bound.

    python benchmarks/streams.py                      # 1M events to Kafka, fewer elsewhere
    python benchmarks/streams.py --events 200000 --brokers kafka,redis --outage 30
    python benchmarks/streams.py --brokers kafka --kafka-option 'producer_process: true'

Each way is measured `--repeat` times, alternating, on an emptied broker, and the best
is kept: the figures are meant to be read on a machine other jobs may share.

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pyarrow as pa

from headwater.resolve.load import loads
from headwater.runner import run
from headwater.sinks import SINKS, Sink, SinkContext
from headwater.sinks import _encode as enc
from headwater.sinks._project import project
from headwater.sinks._text import json_objects
from headwater.testing import servers
from headwater.world.engine import World

RATE = 2000  # orders per simulated second
KAFKA_OPTIONS = ""  # more options of the kafka sink (--kafka-option)

SCENARIO = """
name: bench
seed: 1
clock: {{start: 2026-01-01T00:00:00Z, duration: {seconds}s, step: 1m}}
entities:
  orders:
    key: order_id
    arrivals: {rate}/s
    fields:
      order_id: {{seq: {{}}}}
      customer_id: {{uniform: {{min: 1, max: 100000}}, round: 0}}
      country: {{choice: {{US: 6, DE: 2, FR: 2, GB: 1}}}}
      currency: {{choice: {{USD: 6, EUR: 4, GBP: 1}}}}
      status: {{choice: [placed, paid, shipped]}}
      channel: {{choice: [web, ios, android, store]}}
      amount: {{lognormal: {{mu: 3.5, sigma: 0.8}}, round: 2}}
      items: {{uniform: {{min: 1, max: 9}}, round: 0}}
      email: {{fake: email}}
      sku: {{format: "SKU-{{order_id:08d}}"}}
      coupon: {{choice: {{NONE: 8, SPRING10: 1, VIP20: 1}}}}
      created_at: {{event_time: {{}}}}
      updated_at: {{event_time: {{}}}}
"""


@dataclass
class Messages:
    """What every sink sends for the orders, built before timing the plain loop."""

    values: list[bytes]
    keys: list[bytes]
    event_ids: list[str]
    event_times: list[str]

    def __len__(self) -> int:
        return len(self.values)


def world_for(events: int) -> tuple[Any, list[Any]]:
    seconds = max(1, round(events / RATE))
    sc = loads(SCENARIO.format(seconds=seconds, rate=RATE))
    return sc, list(World(sc).steps())


def messages_of(sc: Any, steps: list[Any]) -> Messages:
    schema = World(sc).schemas["orders"]
    table = pa.concat_tables([s.tables["orders"] for s in steps if "orders" in s.tables])
    records = project(table, schema, "rows")
    return Messages(
        enc.as_bytes(json_objects(records.values)),
        enc.as_bytes(enc.text(records.key)),
        enc.as_str(records.event_ids),
        enc.as_str(enc.iso_timestamps(records.event_time)),
    )


def kafka_headers(m: Messages) -> list[list[tuple[str, str]]]:
    return [
        [
            ("event_id", i),
            ("event_time", t),
            ("schema_version", "1"),
            ("content-type", "application/json"),
        ]
        for i, t in zip(m.event_ids, m.event_times, strict=True)
    ]


# -- plain producer loops ----------------------------------------------------------------------


def plain_kafka(server: Any, m: Messages) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": server.bootstrap_servers})
    for f in admin.create_topics([NewTopic("plain", 3, 1)]).values():
        f.result()
    headers = kafka_headers(m)
    acked = [0]

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            acked[0] += 1

    producer = Producer(
        {
            "bootstrap.servers": server.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "compression.type": "none",
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 100_000,
            "on_delivery": delivered,
        }
    )
    start = time.perf_counter()
    n = 0
    for value, key, hdr in zip(m.values, m.keys, headers, strict=True):
        while True:
            try:
                producer.produce("plain", value, key, headers=hdr)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n == 1000:
            producer.poll(0)
            n = 0
    producer.flush(60)
    _done(start, acked[0], len(m))


def plain_redis(server: Any, m: Messages) -> None:
    import redis

    client = redis.Redis.from_url(server.url)
    keys, values, ids, times = m.keys, m.values, m.event_ids, m.event_times
    start = time.perf_counter()
    for i in range(0, len(m), 1000):
        pipe = client.pipeline(transaction=False)
        add = pipe.execute_command
        for j in range(i, min(i + 1000, len(m))):
            add("XADD", "plain", "*", "key", keys[j], "value", values[j],
                "event_id", ids[j], "event_time", times[j],
                "schema_version", "1", "content-type", "application/json")  # fmt: skip
        pipe.execute()
    _done(start, client.xlen("plain"), len(m))
    client.close()


def plain_nats(server: Any, m: Messages) -> None:
    import nats

    async def main() -> None:
        nc = await nats.connect(server.url)
        js = nc.jetstream(publish_async_max_pending=2000)
        await js.add_stream(name="PLAIN", subjects=["plain"])
        headers = [
            {
                "Nats-Msg-Id": i,
                "event_time": t,
                "schema_version": "1",
                "content-type": "application/json",
                "key": k.decode(),
            }
            for i, t, k in zip(m.event_ids, m.event_times, m.keys, strict=True)
        ]
        start = time.perf_counter()
        futures = [
            await js.publish_async("plain", v, headers=h)
            for v, h in zip(m.values, headers, strict=True)
        ]
        await js.publish_async_completed()
        _done(start, sum(1 for f in futures if not f.exception()), len(m))
        await nc.close()

    asyncio.run(main())


def plain_rabbitmq(server: Any, m: Messages) -> None:
    import pika
    from pika.adapters.asyncio_connection import AsyncioConnection

    props = [
        pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=i,
            headers={"event_time": t, "schema_version": "1", "key": k.decode()},
        )
        for i, t, k in zip(m.event_ids, m.event_times, m.keys, strict=True)
    ]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        conn = AsyncioConnection(
            pika.URLParameters(server.url), opened.set_result, custom_ioloop=loop
        )
        await opened
        ch_f: asyncio.Future[Any] = loop.create_future()
        conn.channel(on_open_callback=ch_f.set_result)
        ch = await ch_f
        state = {"confirmed": 0}
        progress = asyncio.Event()

        def on_confirm(frame: Any) -> None:
            nonlocal last_confirmed
            tag = frame.method.delivery_tag
            state["confirmed"] += tag - last_confirmed if frame.method.multiple else 1
            last_confirmed = max(last_confirmed, tag)
            progress.set()

        last_confirmed = 0
        done: asyncio.Future[Any] = loop.create_future()
        ch.confirm_delivery(on_confirm, callback=done.set_result)
        await done
        done = loop.create_future()
        ch.exchange_declare("plain", "topic", durable=True, callback=done.set_result)
        await done
        done = loop.create_future()
        ch.queue_declare("plain", durable=True, callback=done.set_result)
        await done
        done = loop.create_future()
        ch.queue_bind("plain", "plain", routing_key="#", callback=done.set_result)
        await done
        start = time.perf_counter()
        for n, (value, p) in enumerate(zip(m.values, props, strict=True), 1):
            while n - state["confirmed"] > 5000:
                progress.clear()
                await progress.wait()
            ch.basic_publish("plain", "orders", value, p)
            if n % 500 == 0:
                await asyncio.sleep(0)
        while state["confirmed"] < len(m):
            progress.clear()
            await progress.wait()
        _done(start, state["confirmed"], len(m))
        conn.close()

    asyncio.run(main())


def plain_mqtt(server: Any, m: Messages) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties

    from headwater.sinks.mqtt import _packed_class, _pair, _utf8

    packed = _packed_class(Properties)
    head = b"\x03" + _utf8(b"application/json")
    props = [
        packed(
            head
            + _pair(b"event_id", i.encode())
            + _pair(b"event_time", t.encode())
            + _pair(b"schema_version", b"1")
            + _pair(b"key", k)
        )
        for i, t, k in zip(m.event_ids, m.event_times, m.keys, strict=True)
    ]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    acked = [0]
    progress = threading.Event()

    def on_publish(*_: Any) -> None:
        acked[0] += 1
        progress.set()

    client.on_publish = on_publish
    client.max_inflight_messages_set(20)
    client.max_queued_messages_set(100)
    client.connect(server.host, server.port)
    client.loop_start()
    time.sleep(0.3)
    start = time.perf_counter()
    for value, p in zip(m.values, props, strict=True):
        while client.publish("plain", value, 1, False, p).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            progress.clear()
            progress.wait(0.1)
    while acked[0] < len(m):
        progress.clear()
        progress.wait(0.1)
    _done(start, acked[0], len(m))
    client.disconnect()
    client.loop_stop()


_last: dict[str, float] = {}


def _done(start: float, acked: int, sent: int) -> None:
    _last["seconds"] = time.perf_counter() - start
    if acked != sent:
        raise RuntimeError(f"plain loop: {acked} of {sent} acknowledged")


# -- emptying a broker between measurements ------------------------------------------------


def reset_redis(server: Any) -> None:
    import redis

    client = redis.Redis.from_url(server.url)
    client.flushall()
    client.close()


def reset_nats(server: Any) -> None:
    import nats

    async def main() -> None:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
        await nc.close()

    asyncio.run(main())


def reset_rabbitmq(server: Any) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(server.url))
    channel = conn.channel()
    for name in ("plain", "viarun", "viasink", "outage"):
        channel.queue_delete(name)
        channel.exchange_delete(name)
    conn.close()


# -- the brokers -------------------------------------------------------------------------------


@dataclass
class Broker:
    name: str
    server: Callable[[], Any]
    plain: Callable[[Any, Messages], None]
    sink: Callable[[Any, str], str]  # (server, route) → sink YAML mapping
    cap: int  # default events when the broker is slow (pure-Python client)
    reset: Callable[[Any], None]  # empty the broker between measurements


BROKERS = {
    "kafka": Broker(
        "kafka",
        servers.KafkaServer,
        plain_kafka,
        lambda s, r: (
            f"{{kind: kafka, bootstrap_servers: '{s.bootstrap_servers}', topic: {r}"
            f"{KAFKA_OPTIONS}}}"
        ),
        1_000_000,
        lambda s: s.restart(),  # Tansu's memory storage starts empty
    ),
    "redis": Broker(
        "redis",
        servers.RedisServer,
        plain_redis,
        lambda s, r: f"{{kind: redis_streams, url: '{s.url}', stream: {r}}}",
        300_000,
        reset_redis,
    ),
    "nats": Broker(
        "nats",
        servers.NatsServer,
        plain_nats,
        lambda s, r: f"{{kind: nats, url: '{s.url}', subject: {r}, stream: {r.upper()}}}",
        200_000,
        reset_nats,
    ),
    "rabbitmq": Broker(
        "rabbitmq",
        servers.RabbitMQServer,
        plain_rabbitmq,
        lambda s, r: (
            f"{{kind: rabbitmq, url: '{s.url}', exchange: {r}, routing_key: orders, queue: {r}}}"
        ),
        200_000,
        reset_rabbitmq,
    ),
    "mqtt": Broker(
        "mqtt",
        servers.MosquittoServer,
        plain_mqtt,
        lambda s, r: f"{{kind: mqtt, url: '{s.url}', topic: {r}}}",
        50_000,
        lambda s: None,  # nothing is kept without subscribers
    ),
}


def sink_from(sc_text: str, name: str, spec: str, out: Path) -> tuple[Any, Sink]:
    sc = loads(sc_text + f"sinks:\n  {name}: {spec}\n")
    world = World(sc)
    config = sc.sinks[name]
    context = SinkContext(world.schemas, out, sc.seed, sc.name)
    return sc, SINKS.get(config.kind)(name, config, context)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def bench(broker: Broker, events: int, outage: float, repeat: int) -> dict[str, Any]:
    sc, steps = world_for(events)
    sc_text = SCENARIO.format(seconds=max(1, round(events / RATE)), rate=RATE)
    messages = messages_of(sc, steps)
    n = len(messages)
    result: dict[str, Any] = {
        "events": n,
        "bytes_per_event": round(sum(map(len, messages.values)) / n),
    }
    out = Path(mkdtemp(prefix="headwater-bench-"))
    best = {"plain": 0.0, "run": 0.0, "sink": 0.0}
    with broker.server() as server:
        # The machine may be shared: alternate the three ways and keep each one's best,
        # on an emptied broker each time.
        for _ in range(repeat):
            broker.reset(server)
            broker.plain(server, messages)
            best["plain"] = max(best["plain"], n / _last["seconds"])

            broker.reset(server)
            sc_run, sink = sink_from(sc_text, "s", broker.sink(server, "viarun"), out)
            start = time.perf_counter()
            report = run(sc_run, out_dir=out, sinks={"s": sink}, ledger=False, overwrite=True)
            seconds = time.perf_counter() - start
            assert report.sinks["s"]["acknowledged"] == n, report.sinks["s"]
            best["run"] = max(best["run"], n / seconds)

            broker.reset(server)
            _, sink = sink_from(sc_text, "s", broker.sink(server, "viasink"), out)
            sink.open()
            start = time.perf_counter()
            try:
                for changes in steps:
                    sink.write(changes)
                sink.flush()
            finally:
                sink.close()
            seconds = time.perf_counter() - start
            assert sink.stats.extra["acknowledged"] == n
            best["sink"] = max(best["sink"], n / seconds)
        del messages
        for way, rate in best.items():
            result[f"{way}_per_s"] = round(rate)
        result["run_vs_plain"] = round(best["run"] / best["plain"], 3)
        result["sink_vs_plain"] = round(best["sink"] / best["plain"], 3)
        if outage:
            broker.reset(server)
            result["outage"] = outage_memory(server, broker, sc_text, out, outage)
    return result


def outage_memory(server: Any, broker: Broker, sc_text: str, out: Path, down: float) -> dict:
    """Stop the broker for `down` seconds mid-run; sample RSS meanwhile."""
    spec = broker.sink(server, "outage").rstrip("}") + ", retry: {for: 5m}}"
    # One-second steps, so the outage starts early and the run goes on after it.
    sc, sink = sink_from(sc_text.replace("step: 1m", "step: 1s"), "s", spec, out)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss_mb())
            time.sleep(0.25)

    marks: dict[str, float] = {}

    def on_step(changes: Any, report: Any) -> None:
        if report.steps == 3:
            os.kill(server.pid, signal.SIGTERM)  # the broker goes away (same port)
            while server.running:
                time.sleep(0.01)
            marks["before"] = rss_mb()
            marks["index"] = len(samples)

            def back() -> None:
                time.sleep(down)
                server.restart()
                marks["after_index"] = len(samples)

            threading.Thread(target=back, daemon=True).start()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        report = run(sc, out_dir=out, sinks={"s": sink}, ledger=False, on_step=on_step)
    finally:
        stop.set()
        sampler.join()
    during = samples[int(marks["index"]) : int(marks.get("after_index", len(samples)))]
    return {
        "down_seconds": down,
        "rss_before_mb": round(marks["before"], 1),
        "rss_max_during_mb": round(max(during, default=marks["before"]), 1),
        "retries": report.sinks["s"]["retries"],
        "events": report.events,
        "acknowledged": report.sinks["s"]["acknowledged"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--brokers", default=",".join(BROKERS))
    parser.add_argument(
        "--full", action="store_true", help="send --events to every broker (no per-broker cap)"
    )
    parser.add_argument("--outage", type=float, default=0.0, help="seconds Redis is down mid-run")
    parser.add_argument("--repeat", type=int, default=2, help="measure each way this often")
    parser.add_argument(
        "--kafka-option",
        action="append",
        default=[],
        help="an option of the kafka sink, e.g. 'producer_process: true' (repeatable)",
    )
    args = parser.parse_args()
    global KAFKA_OPTIONS
    KAFKA_OPTIONS = "".join(f", {o}" for o in args.kafka_option)
    results: dict[str, Any] = {}
    for name in args.brokers.split(","):
        broker = BROKERS[name]
        events = args.events if args.full else min(args.events, broker.cap)
        print(f"{name}: {events:,} events …", file=sys.stderr, flush=True)
        try:
            r = bench(broker, events, args.outage if name == "redis" else 0.0, args.repeat)
        except servers.ServerNotInstalled as exc:
            print(f"{name}: skipped ({exc})", file=sys.stderr)
            continue
        results[name] = r
        print(
            f"{name:9} {r['events']:>9,} events of {r['bytes_per_event']} B   "
            f"plain {r['plain_per_s']:>8,}/s   run {r['run_per_s']:>8,}/s "
            f"({r['run_vs_plain']:.0%})   sink {r['sink_per_s']:>8,}/s ({r['sink_vs_plain']:.0%})",
            flush=True,
        )
        if "outage" in r:
            o = r["outage"]
            print(
                f"{'':9} broker down {o['down_seconds']:g} s mid-run: RSS {o['rss_before_mb']} MB "
                f"before, at most {o['rss_max_during_mb']} MB during; {o['retries']} retries, "
                f"{o['acknowledged']:,} of {o['events']:,} events acknowledged",
                flush=True,
            )
    results["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
