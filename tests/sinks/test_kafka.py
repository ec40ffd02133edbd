"""Kafka sink against a real Kafka-API broker (Tansu), read back with confluent-kafka.

Not covered here, because Tansu (memory storage) cannot show it: a broker restart
mid-run (restart loses every message), replication > 1 (one broker), and compaction
actually removing tombstoned keys. Confluent's schema registry is Java and not packaged, so
the registry is a small Confluent-API one in the test process (tests/sinks/_schema_registry.py);
Avro messages are decoded with confluent-kafka's own SchemaRegistryClient and AvroDeserializer.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time

import pytest

from headwater.errors import SinkError, SinkUnavailable
from headwater.runner import run
from headwater.sinks import SINKS, SinkContext
from headwater.sinks._project import project
from headwater.testing.servers import free_port
from headwater.world.schema import world_schemas

from tests.sinks._schema_registry import SchemaRegistry
from tests.sinks._streams import (
    Received,
    by_key,
    check_order_per,
    check_same_events,
    event_millis,
    expected_events,
    iso_millis,
    run_world,
    world,
)

confluent_kafka = pytest.importorskip("confluent_kafka")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (Java client `Utils.murmur2`), written out here to check librdkafka."""
    m, length = 0x5BD1E995, len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    body = length - length % 4
    for i in range(0, body, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[body:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_of(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_murmur2_matches_the_java_client():
    # Values from Kafka's own UtilsTest.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def consume(
    server, topics: dict[str, int], count: int, timeout: float = 30.0, idle: float = 0.0
) -> list:
    """Every message of the topics' partitions, from the start, without a consumer group:
    at least `count`, then (with `idle`) until no message came for that many seconds."""
    kafka = confluent_kafka
    consumer = kafka.Consumer(
        {
            "bootstrap.servers": server.bootstrap_servers,
            "group.id": "headwater-verify",
            "enable.auto.commit": False,
        }
    )
    consumer.assign(
        [
            kafka.TopicPartition(t, p, kafka.OFFSET_BEGINNING)
            for t, n in topics.items()
            for p in range(n)
        ]
    )
    out: list = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(1000, 0.2) if m.error() is None]
            out += batch
            if batch:
                last = time.monotonic()
            elif len(out) >= count and time.monotonic() - last >= idle:
                break
    finally:
        consumer.close()
    return out


def received(msgs) -> list[Received]:
    out = []
    for msg in msgs:
        headers = {k: v.decode() for k, v in msg.headers() or []}
        key = msg.key().decode() if msg.key() is not None else None
        out.append(
            Received(
                headers["event_id"], key, f"{msg.topic()}/{msg.partition()}", msg.value(), headers
            )
        )
    return out


@pytest.fixture(scope="module")
def shop(kafka_server, tmp_path_factory):
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        "topic: 'shop.{entity}', partitions: 4, linger_ms: 2}"
    )
    r = run_world(sc, tmp_path_factory.mktemp("kafka"))
    stats = r.stats("k")
    msgs = consume(kafka_server, {"shop.customers": 4, "shop.orders": 4}, stats["acknowledged"])
    return r, msgs


def test_every_event_arrives_once_with_its_row(shop):
    r, msgs = shop
    expected = expected_events(r)
    got = received(msgs)
    check_same_events(got, expected)
    assert r.stats("k")["acknowledged"] == len(expected)


def test_keys_land_where_the_java_partitioner_puts_them_in_order(shop):
    r, msgs = shop
    for msg in msgs:
        assert msg.partition() == partition_of(msg.key(), 4), msg.key()
    check_order_per(received(msgs), expected_events(r), by_key)


def test_headers_describe_each_event(shop):
    r, msgs = shop
    times = {e.event_id: e.row for e in expected_events(r)}
    for m in received(msgs)[:50]:
        assert m.headers["content-type"] == "application/json"
        assert m.headers["schema_version"] == "1"
        assert m.headers["event_time"].endswith("Z")
        assert m.event_id in times


def test_stats_count_what_each_partition_acknowledged(shop):
    r, msgs = shop
    stats = r.stats("k")
    for topic in ("shop.customers", "shop.orders"):
        counted = [0, 0, 0, 0]
        last = [-1, -1, -1, -1]
        for msg in msgs:
            if msg.topic() == topic:
                counted[msg.partition()] += 1
                last[msg.partition()] = max(last[msg.partition()], msg.offset())
        assert stats["partitions"][topic] == counted
        assert stats["offsets"][topic] == last
    assert stats["routes"] == {
        "shop.customers": sum(stats["partitions"]["shop.customers"]),
        "shop.orders": sum(stats["partitions"]["shop.orders"]),
    }
    assert stats["resent"] == 0 and stats["duplicates"] == 0


# Issue 13, "The three kinds of time, consistent everywhere": "Default: the record timestamp
# is the event time (CreateTime), with a sink option for ingestion or wall time".


def test_record_timestamps_are_event_times(shop):
    r, msgs = shop
    times = event_millis(r)
    create = confluent_kafka.TIMESTAMP_CREATE_TIME
    for msg in msgs:
        event_id = dict(msg.headers())["event_id"].decode()
        assert msg.timestamp() == (create, times[event_id]), event_id
    # the scenario's clock, 2026-01-01, not the machine's
    assert min(times.values()) >= iso_millis("2026-01-01T00:00:00Z")
    assert max(times.values()) <= iso_millis("2026-01-01T00:10:00Z")


@pytest.mark.parametrize("process", [False, True])
def test_record_timestamps_of_tombstones_and_the_producer_process(kafka_server, tmp_path, process):
    """A tombstone carries its delete's event time; the producer process sets them too."""
    topic = f"times{int(process)}.customers"
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"entities: [customers], topic: {topic}, partitions: 2, tombstones: true, "
        f"producer_process: {str(process).lower()}}}"
    )
    r = run_world(sc, tmp_path)
    times = event_millis(r)
    msgs = consume(kafka_server, {topic: 2}, r.stats("k")["acknowledged"])
    assert sum(m.value() is None for m in msgs) == r.report.entities["customers"]["d"] > 0
    for msg in msgs:
        event_id = dict(msg.headers())["event_id"].decode()
        assert msg.timestamp() == (confluent_kafka.TIMESTAMP_CREATE_TIME, times[event_id])


def test_record_timestamps_of_ingestion_and_wall_time(kafka_server, tmp_path):
    """`timestamp: ingestion` is when the source delivered it (late by the `late` fault's
    minute), `timestamp: wall` the machine's clock when it was produced."""
    late = "faults: {late: {rate: 0.2, delay: {fixed: 1m}}}"
    sc = world(
        f"i: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"entities: [orders], topic: times.ingestion, timestamp: ingestion, {late}}}\n"
        f"w: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        "entities: [orders], topic: times.wall, timestamp: wall}"
    )
    before = int(time.time() * 1000)
    r = run_world(sc, tmp_path)
    after = int(time.time() * 1000)
    msgs = consume(kafka_server, {"times.ingestion": 3}, r.stats("i")["acknowledged"])
    delays = set()
    for msg in msgs:
        headers = {k: v.decode() for k, v in msg.headers()}
        ingest = iso_millis(headers["ingest_time"])
        assert msg.timestamp() == (confluent_kafka.TIMESTAMP_CREATE_TIME, ingest)
        delays.add(ingest - iso_millis(headers["event_time"]))
    assert delays == {0, 60_000}
    msgs = consume(kafka_server, {"times.wall": 3}, r.stats("w")["acknowledged"])
    assert len(msgs) == r.stats("w")["acknowledged"]
    for msg in msgs:
        kind, at = msg.timestamp()
        assert kind == confluent_kafka.TIMESTAMP_CREATE_TIME and before <= at <= after
    # Kafka deletes by record time: a created topic keeps simulated-time messages
    assert topic_setting(kafka_server, "times.ingestion", "retention.ms") == "-1"
    assert topic_setting(kafka_server, "times.wall", "retention.ms") != "-1"


def topic_setting(server, topic: str, name: str) -> str | None:
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": server.bootstrap_servers})
    resource = confluent_kafka.admin.ConfigResource(confluent_kafka.admin.ResourceType.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    entry = config.get(name)
    return entry.value if entry is not None else None


def test_topic_and_composite_key_from_fields(kafka_server, tmp_path):
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        "entities: [orders], topic: 'orders.{country}', key: [country, customer_id], "
        "partitions: 3, compression: lz4}"
    )
    r = run_world(sc, tmp_path)
    stats = r.stats("k")
    topics = {f"orders.{c}": 3 for c in ("US", "DE", "FR")}
    assert set(stats["partitions"]) == set(topics)
    msgs = consume(kafka_server, topics, stats["acknowledged"])
    expected = expected_events(r, ["orders"])
    rows = {e.event_id: e.row for e in expected}
    got = received(msgs)
    assert sorted(m.event_id for m in got) == sorted(rows)
    for msg, m in zip(msgs, got, strict=True):
        row = rows[m.event_id]
        assert msg.topic() == f"orders.{row['country']}"
        assert m.key == f"{row['country']}:{row['customer_id']}"
        assert msg.partition() == partition_of(msg.key(), 3)
    check_order_per(got, expected, by_key)


def test_tombstone_follows_each_delete(kafka_server, tmp_path):
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        "entities: [customers], topic: tomb.customers, partitions: 2, tombstones: true, "
        "topic_config: {cleanup.policy: compact}}"
    )
    r = run_world(sc, tmp_path)
    stats = r.stats("k")
    deletes = r.report.entities["customers"]["d"]
    assert stats["tombstones"] == deletes
    msgs = consume(kafka_server, {"tomb.customers": 2}, stats["acknowledged"])
    assert len(msgs) == stats["acknowledged"] == r.memory.table("customers").num_rows + deletes
    by_partition: dict[int, list] = {}
    for msg in sorted(msgs, key=lambda m: (m.partition(), m.offset())):
        by_partition.setdefault(msg.partition(), []).append(msg)
    seen = 0
    for part in by_partition.values():
        for i, msg in enumerate(part):
            if msg.value() is None:
                seen += 1
                before = json.loads(part[i - 1].value())
                assert before["_op"] == "d" and part[i - 1].key() == msg.key()
    assert seen == deletes


@pytest.fixture
def registry():
    """A Confluent-API schema registry on 127.0.0.1 that wants basic auth user:secret."""
    server = SchemaRegistry(username="user", password="secret").serve()
    yield server
    server.close()


def avro_reader(server):
    """confluent-kafka's own consumer-side decoding: schema fetched by id from the registry."""
    # Test dependencies (authlib, cachetools, httpx2 and fastavro): fail loudly, never skip.
    from confluent_kafka import schema_registry as sr
    from confluent_kafka.schema_registry import avro

    client = sr.SchemaRegistryClient({"url": server.address, "basic.auth.user.info": "user:secret"})
    return client, avro.AvroDeserializer(client)


def test_the_registry_speaks_the_confluent_api(registry):
    """The in-test registry, driven by confluent-kafka's client: ids, versions, auth."""
    client, _ = avro_reader(registry)
    sr = confluent_kafka.schema_registry
    a = sr.Schema(json.dumps({"type": "record", "name": "a", "fields": []}), "AVRO")
    b = sr.Schema(json.dumps({"type": "record", "name": "b", "fields": []}), "AVRO")
    assert client.register_schema("x-value", a) == 1
    assert client.register_schema("x-value", b) == 2
    assert client.register_schema("y-value", a) == 1  # ids are global, as in Confluent's
    fresh = sr.SchemaRegistryClient(
        {"url": registry.address, "basic.auth.user.info": "user:secret"}
    )
    assert fresh.register_schema("x-value", a) == 1  # the same schema again: the same id
    assert sorted(fresh.get_subjects()) == ["x-value", "y-value"]
    assert fresh.get_versions("x-value") == [1, 2]
    latest = fresh.get_latest_version("x-value")
    assert (latest.schema_id, latest.version, latest.subject) == (2, 2, "x-value")
    assert json.loads(fresh.get_schema(1).schema_str) == {
        "type": "record",
        "name": "a",
        "fields": [],
    }
    with pytest.raises(sr.error.SchemaRegistryError) as err:
        fresh.get_schema(99)
    assert err.value.error_code == 40403
    with pytest.raises(sr.error.SchemaRegistryError) as err:
        sr.SchemaRegistryClient(
            {"url": registry.address, "basic.auth.user.info": "user:x"}
        ).get_subjects()
    assert err.value.http_status_code == 401


def test_avro_with_schema_file_and_registry_wire_format(kafka_server, tmp_path, registry):
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"entities: [customers, orders], topic: 'avro.{{entity}}', partitions: 1, "
        f"encoding: avro, schema_registry: '{registry.url()}'}}"
    )
    r = run_world(sc, tmp_path)
    client, deserializer = avro_reader(registry)
    registered = [q for q in registry.registry.requests if q.method == "POST"]
    assert all(q.authorized for q in registered)  # the sink sent the URL's credentials
    ids = {}
    for entity in ("customers", "orders"):
        schema = json.loads((tmp_path / "k" / f"{entity}.avsc").read_text())
        assert schema["name"] == entity
        [post] = [q for q in registered if q.path == f"/subjects/avro.{entity}-value/versions"]
        assert json.loads(post.body["schema"]) == schema
        latest = client.get_latest_version(f"avro.{entity}-value")
        assert json.loads(latest.schema.schema_str) == schema and latest.version == 1
        ids[entity] = latest.schema_id
    assert sorted(ids.values()) == [1, 2]  # one schema per subject, ids from 1
    topics = {"avro.customers": 1, "avro.orders": 1}
    msgs = consume(kafka_server, topics, r.stats("k")["acknowledged"])
    events = expected_events(r)
    rows = {e.event_id: e.row for e in events}
    assert len(msgs) == len(rows)
    fetched_before = sum(
        1 for q in registry.registry.requests if q.path.startswith("/schemas/ids/")
    )
    for msg in msgs:
        entity = msg.topic().removeprefix("avro.")
        value = msg.value()
        assert value[0] == 0 and int.from_bytes(value[1:5], "big") == ids[entity]
        ctx = confluent_kafka.serialization.SerializationContext(
            msg.topic(), confluent_kafka.serialization.MessageField.VALUE
        )
        row = deserializer(value, ctx)
        want = rows[dict(msg.headers())["event_id"].decode()]
        assert set(row) == set(want)
        for name, got in row.items():
            expected = want[name]
            if isinstance(got, datetime.datetime):  # an Avro timestamp; the row has ISO text
                expected = datetime.datetime.fromisoformat(expected)
            assert got == expected, (entity, name, got, expected)
    fetches = [q for q in registry.registry.requests if q.path.startswith("/schemas/ids/")]
    assert len(fetches) - fetched_before == 2  # each id fetched once over HTTP, then cached
    assert all(q.authorized for q in fetches)
    assert dict(msgs[0].headers())["content-type"] == b"application/avro"


@pytest.mark.parametrize("failure", ["refused", "unreachable"])
def test_registry_failure_names_sink_and_registry_without_password(
    kafka_server, tmp_path, registry, failure
):
    if failure == "refused":
        registry.registry.password = "other"  # the sink's user:secret is now wrong: HTTP 401
        url, where = registry.url("user", "secret"), f"user:***@127.0.0.1:{registry.port}"
    else:
        port = free_port()
        url, where = f"http://user:secret@127.0.0.1:{port}", f"user:***@127.0.0.1:{port}"
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"entities: [orders], topic: avro.fail.{failure}, partitions: 1, encoding: avro, "
        f"schema_registry: '{url}', connect_timeout: 2s}}"
    )
    with pytest.raises(SinkError) as err:
        run_world(sc, tmp_path)
    message = str(err.value)
    assert err.value.sink == "k" and message.startswith("sink 'k': ")
    assert "schema registry" in message and where in message
    assert "secret" not in message
    if failure == "refused":
        assert "401" in message and not isinstance(err.value, SinkUnavailable)
        assert [q.authorized for q in registry.registry.requests] == [False]
    else:
        assert isinstance(err.value, SinkUnavailable)


def test_string_encoding_from_a_template(kafka_server, tmp_path):
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        "entities: [orders], topic: text.orders, partitions: 1, encoding: string, "
        "template: '{order_id}|{country}|{amount}'}"
    )
    r = run_world(sc, tmp_path)
    msgs = consume(kafka_server, {"text.orders": 1}, r.stats("k")["acknowledged"])
    rows = {e.event_id: e.row for e in expected_events(r, ["orders"])}
    for msg in msgs:
        row = rows[dict(msg.headers())["event_id"].decode()]
        order_id, country, amount = msg.value().decode().split("|")
        assert (int(order_id), country, float(amount)) == (
            row["order_id"],
            row["country"],
            row["amount"],
        )


def test_debezium_envelopes_through_write_records(kafka_server, tmp_path):
    """What the CDC sink does: Debezium records, topic per table, key = primary key."""
    sc = world("")
    r = run_world(sc, tmp_path)
    schemas = world_schemas(sc)
    cls = SINKS.get("kafka")
    config = cls.Config.model_validate(
        {
            "kind": "kafka",
            "bootstrap_servers": kafka_server.bootstrap_servers,
            "topic": "dbz.app.{entity}",
            "key_format": "json",
            "tombstones": True,
            "partitions": 2,
        }
    )
    sink = cls("changes", config, SinkContext(schemas, tmp_path, 3, "streams"))
    sink.open()
    try:
        table = r.memory.table("customers")
        sink.write_records(project(table, schemas["customers"], "debezium"))
        sink.flush()
    finally:
        sink.close()
    deletes = int((table["op"].to_numpy(zero_copy_only=False) == "d").sum())
    msgs = consume(kafka_server, {"dbz.app.customers": 2}, table.num_rows + deletes)
    assert len(msgs) == table.num_rows + deletes
    values = [json.loads(m.value()) for m in msgs if m.value() is not None]
    assert {v["op"] for v in values} == {"r", "c", "u", "d"}
    first = next(v for v in values if v["op"] == "u")
    assert list(first) == ["before", "after", "source", "op", "ts_ms", "transaction", "headwater"]
    assert first["before"]["id"] == first["after"]["id"]
    for m in msgs:
        key = json.loads(m.key())
        assert list(key) == ["id"]
        assert m.partition() == partition_of(m.key(), 2)


def test_cdc_sink_sends_debezium_events_to_kafka(kafka_server, tmp_path):
    """The cdc sink (from a SQLite app database) with `to: {kind: kafka}`."""
    sc = world(
        "app_db: {kind: sqlite, path: app.db}\n"
        "changes: {kind: cdc, from: app_db, to: {kind: kafka, "
        f"bootstrap_servers: '{kafka_server.bootstrap_servers}', topic: 'cdc.{{entity}}', "
        "key_format: json, tombstones: true, partitions: 2}}"
    )
    r = run_world(sc, tmp_path)
    stats = r.stats("changes")
    customers = r.memory.table("customers")
    deletes = r.report.entities["customers"]["d"]
    msgs = consume(kafka_server, {"cdc.customers": 2, "cdc.orders": 2}, stats["acknowledged"])
    assert len(msgs) == stats["acknowledged"] == len(expected_events(r)) + deletes
    envelopes = [json.loads(m.value()) for m in msgs if m.topic() == "cdc.customers" and m.value()]
    assert len(envelopes) == customers.num_rows
    assert {e["source"]["table"] for e in envelopes} == {"customers"}
    assert sum(1 for m in msgs if m.value() is None) == deletes


@pytest.mark.parametrize("own_process", ["false", "true"])
@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("no.such.setting: 1", "no.such.setting"),  # refused by every client
        ("acks: '1'", "acks"),  # refused by the idempotent producer only
    ],
)
def test_invalid_producer_settings_name_the_sink_and_setting(
    kafka_server, tmp_path, own_process, setting, named
):
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"producer_process: {own_process}, producer: {{{setting}}}}}"
    )
    with pytest.raises(SinkError) as err:
        run_world(sc, tmp_path)
    text = str(err.value)
    assert text.startswith("sink 'k': invalid producer settings:")
    assert named in text


def test_producer_process_dying_mid_run_fails_the_run(kafka_server, tmp_path):
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        "topic: dying, producer_process: true}"
    )
    context = SinkContext(world_schemas(sc), tmp_path, sc.seed, sc.name, dict(sc.sinks))
    sinks = {n: SINKS.get(c.kind)(n, c, context) for n, c in sc.sinks.items()}
    killed: list[int] = []

    def on_step(changes, report):
        if report.steps == 2:
            child = sinks["k"]._producer.process
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            killed.append(child.pid)

    with pytest.raises(SinkError) as err:
        run(sc, out_dir=tmp_path, sinks=sinks, ledger=False, on_step=on_step)
    assert killed
    assert str(err.value) == (
        f"sink 'k': the producer process for Kafka at {kafka_server.bootstrap_servers} "
        "exited unexpectedly"
    )
