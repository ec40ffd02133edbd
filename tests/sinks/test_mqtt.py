"""MQTT sink against a private Mosquitto, read back with a paho-mqtt subscriber."""

from __future__ import annotations

import threading
import time

import pytest

from tests.sinks._streams import (
    Outage,
    Received,
    check_order_per,
    check_same_events,
    expected_events,
    run_world,
    world,
)

mqtt = pytest.importorskip("paho.mqtt.client")


class Subscriber:
    """A subscriber that collects every message on `pattern`."""

    def __init__(self, server, pattern: str, qos: int = 1, v5: bool = True):
        self.messages: list = []
        self.ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        )
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.connect(server.host, server.port)
        self.client.subscribe(pattern, qos=qos)
        self.client.loop_start()
        assert self.ready.wait(10)

    def wait(self, count: int, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def received(messages) -> list[Received]:
    out = []
    for m in messages:
        props = dict(getattr(m.properties, "UserProperty", []) or [])
        out.append(Received(props.get("event_id", ""), props.get("key"), m.topic, m.payload, props))
    return out


def test_topics_from_fields_with_user_properties(mosquitto_server, tmp_path):
    sub = Subscriber(mosquitto_server, "shop/#")
    try:
        sc = world(
            f"m: {{kind: mqtt, url: '{mosquitto_server.url}', topic: 'shop/{{entity}}/{{country}}'}}"
        )
        r = run_world(sc, tmp_path)
        expected = expected_events(r)
        messages = sub.wait(len(expected))
    finally:
        sub.close()
    got = received(messages)
    check_same_events(got, expected)
    check_order_per(got, expected, lambda m: m.route)
    assert messages[0].properties.ContentType == "application/json"
    assert got[0].headers["schema_version"] == "1"
    rows = {e.event_id: e.row for e in expected}
    for m in got:
        assert m.route.split("/")[2] == rows[m.event_id]["country"]
    assert r.stats("m")["acknowledged"] == len(expected)


@pytest.mark.parametrize("qos", [0, 2])
def test_qos_levels(mosquitto_server, tmp_path, qos):
    sub = Subscriber(mosquitto_server, f"qos{qos}/#", qos=qos)
    try:
        sc = world(
            f"m: {{kind: mqtt, url: '{mosquitto_server.url}', entities: [orders], "
            f"topic: 'qos{qos}/{{entity}}', qos: {qos}}}"
        )
        r = run_world(sc, tmp_path)
        expected = expected_events(r, ["orders"])
        messages = sub.wait(len(expected))
    finally:
        sub.close()
    assert {m.qos for m in messages} == {qos}
    check_same_events(received(messages), expected)


def test_retained_last_value_per_topic_without_headers_on_3_1_1(mosquitto_server, tmp_path):
    sc = world(
        f"m: {{kind: mqtt, url: '{mosquitto_server.url}', entities: [orders], "
        "topic: 'last/{country}', retain: true, protocol: '3.1.1'}"
    )
    r = run_world(sc, tmp_path)
    last = {}
    for e in expected_events(r, ["orders"]):
        last[e.row["country"]] = e.row
    sub = Subscriber(mosquitto_server, "last/#", v5=False)  # joins after the run
    try:
        messages = sub.wait(len(last), timeout=5)
        time.sleep(0.2)
    finally:
        sub.close()
    assert len(messages) == len(last)
    for m in messages:
        assert m.retain
        assert __import__("json").loads(m.payload) == last[m.topic.split("/")[1]]


@pytest.mark.parametrize("qos", [0, 1])
def test_broker_restart_mid_run_the_sink_resumes(mosquitto_server, tmp_path, qos):
    # Mosquitto here keeps nothing across a restart (persistence false) and a subscriber
    # misses what is published while it reconnects, so only the sink's side is checked:
    # it waits, reconnects, and everything is acknowledged by the restarted broker.
    sc = world(
        f"m: {{kind: mqtt, url: '{mosquitto_server.url}', topic: 'restart/{{entity}}', "
        f"qos: {qos}, retry: {{for: 30s, initial: 100ms, max: 1s}}}}"
    )
    outage = Outage(mosquitto_server, at=3, down=1.0)
    try:
        r = run_world(sc, tmp_path, on_step=outage)
    finally:
        outage.join()
    stats = r.stats("m")
    assert stats["acknowledged"] == len(expected_events(r))
    assert stats["retries"] > 0
