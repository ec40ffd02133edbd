"""RabbitMQ sink against a private rabbitmq-server, read back with pika."""

from __future__ import annotations

import time

import pytest

from tests.sinks._streams import (
    Received,
    check_order_per,
    check_same_events,
    event_millis,
    expected_events,
    run_world,
    world,
)

pika = pytest.importorskip("pika")


def drain(server, queue: str) -> list[tuple[Received, object]]:
    """Consume and acknowledge everything in `queue` (it is empty afterwards)."""
    conn = pika.BlockingConnection(pika.URLParameters(server.url))
    channel = conn.channel()
    channel.basic_qos(prefetch_count=1000)
    out = []
    last = None
    for method, props, body in channel.consume(queue, inactivity_timeout=0.5):
        if method is None:
            break
        headers = props.headers or {}
        m = Received(props.message_id, headers.get("key"), method.routing_key, body, headers)
        out.append((m, props))
        last = method.delivery_tag
        if len(out) % 500 == 0:
            channel.basic_ack(last, multiple=True)
    if last is not None:
        channel.basic_ack(last, multiple=True)
    channel.cancel()
    left = channel.queue_declare(queue, passive=True).method.message_count
    conn.close()
    assert left == 0
    return out


def test_amqp_timestamp_is_the_event_time_or_wall_time(rabbitmq_server, tmp_path):
    """Issue 13: the record timestamp is the event time, "with a sink option for ingestion or
    wall time; the same choice for every broker that has a message timestamp" (AMQP: s)."""
    sc = world(
        f"q: {{kind: rabbitmq, url: '{rabbitmq_server.url}', exchange: times, "
        "routing_key: '{entity}', queue: times_event}\n"
        f"w: {{kind: rabbitmq, url: '{rabbitmq_server.url}', exchange: times_wall, "
        "routing_key: '{entity}', queue: times_wall, timestamp: wall, headers: false}",
    )
    before = int(time.time())
    r = run_world(sc, tmp_path)
    after = int(time.time())
    times = event_millis(r)
    got = drain(rabbitmq_server, "times_event")
    assert len(got) == len(times)
    for m, props in got:
        assert props.timestamp == times[m.event_id] // 1000, m.event_id
    wall = drain(rabbitmq_server, "times_wall")
    assert len(wall) == len(times)
    assert all(before <= props.timestamp <= after for _, props in wall)


def test_topic_exchange_routes_persistent_messages(rabbitmq_server, tmp_path):
    sc = world(
        f"q: {{kind: rabbitmq, url: '{rabbitmq_server.url}', exchange: shop, "
        "exchange_type: topic, routing_key: 'shop.{entity}.{country}', queue: shop_all}"
    )
    r = run_world(sc, tmp_path)
    got = drain(rabbitmq_server, "shop_all")
    messages = [m for m, _ in got]
    expected = expected_events(r)
    check_same_events(messages, expected)
    check_order_per(messages, expected, lambda m: m.route)
    _, props = got[0]
    assert props.delivery_mode == 2
    assert props.content_type == "application/json"
    assert props.headers["schema_version"] == "1"
    stats = r.stats("q")
    assert stats["acknowledged"] == len(expected) and stats["resent"] == 0
    assert drain(rabbitmq_server, "shop_all") == []  # consumed and acknowledged: gone


def test_direct_exchange_binds_each_routing_key(rabbitmq_server, tmp_path):
    sc = world(
        f"q: {{kind: rabbitmq, url: '{rabbitmq_server.url}', entities: [orders], "
        "exchange: by_country, exchange_type: direct, routing_key: '{country}', "
        "queue: countries, max_in_flight: 100}"
    )
    r = run_world(sc, tmp_path)
    messages = [m for m, _ in drain(rabbitmq_server, "countries")]
    check_same_events(messages, expected_events(r, ["orders"]))
    assert {m.route for m in messages} == {"US", "DE", "FR"}


def test_fanout_exchange(rabbitmq_server, tmp_path):
    sc = world(
        f"q: {{kind: rabbitmq, url: '{rabbitmq_server.url}', entities: [customers], "
        "exchange: fan, exchange_type: fanout, queue: everyone, persistent: false, headers: false}"
    )
    r = run_world(sc, tmp_path)
    got = drain(rabbitmq_server, "everyone")
    check_same_events([m for m, _ in got], expected_events(r, ["customers"]))
    assert got[0][1].delivery_mode == 1
