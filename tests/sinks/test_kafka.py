"""Kafka sink against a real Kafka-API broker (Tansu), read back with confluent-kafka.

Not covered here, because Tansu (memory storage) cannot show it: a broker restart
mid-run (restart loses every message), replication > 1 (one broker), and compaction
actually removing tombstoned keys. The schema registry is a small fake HTTP server: the
wire format and the registration call are checked, not a real Confluent registry.
"""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from headwater.errors import SinkUnavailable
from headwater.sinks import SINKS, SinkContext
from headwater.sinks._project import project
from headwater.testing.servers import free_port
from headwater.world.schema import world_schemas

from tests.sinks._streams import (
    Received,
    by_key,
    check_order_per,
    check_same_events,
    expected_events,
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


def consume(server, topics: dict[str, int], count: int, timeout: float = 30.0) -> list:
    """Every message of the topics' partitions, from the start, without a consumer group."""
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
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    out.append(msg)
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


class _Registry(BaseHTTPRequestHandler):
    subjects: list[tuple[str, dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).subjects.append((self.path, body))
        reply = json.dumps({"id": 42}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def registry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Registry.subjects = []
    yield f"http://user:secret@127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_avro_with_schema_file_and_registry_wire_format(kafka_server, tmp_path, registry):
    fastavro = pytest.importorskip("fastavro")
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"entities: [orders], topic: avro.orders, partitions: 1, encoding: avro, "
        f"schema_registry: '{registry}'}}"
    )
    r = run_world(sc, tmp_path)
    schema = json.loads((tmp_path / "k" / "orders.avsc").read_text())
    assert schema["name"] == "orders"
    [(path, body)] = _Registry.subjects
    assert path == "/subjects/avro.orders-value/versions"
    assert json.loads(body["schema"]) == schema
    msgs = consume(kafka_server, {"avro.orders": 1}, r.stats("k")["acknowledged"])
    parsed = fastavro.parse_schema(schema)
    rows = {e.event_id: e.row for e in expected_events(r, ["orders"])}
    assert len(msgs) == len(rows)
    for msg in msgs:
        value = msg.value()
        assert value[:5] == b"\x00\x00\x00\x00\x2a"  # magic byte, schema id 42
        row = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed)
        want = rows[dict(msg.headers())["event_id"].decode()]
        assert row["order_id"] == want["order_id"] and row["note"] == want["note"]
        assert row["placed_at"].isoformat().replace("+00:00", "Z") == want["placed_at"]
    assert dict(msgs[0].headers())["content-type"] == b"application/avro"


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
    assert set(first) == {"before", "after", "source", "op", "ts_ms", "transaction"}
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


def test_unreachable_broker_names_sink_and_address(tmp_path):
    port = free_port()
    sc = world(f"k: {{kind: kafka, bootstrap_servers: '127.0.0.1:{port}', connect_timeout: 2s}}")
    with pytest.raises(SinkUnavailable) as err:
        run_world(sc, tmp_path)
    assert "sink 'k'" in str(err.value)
    assert f"127.0.0.1:{port}" in str(err.value)
