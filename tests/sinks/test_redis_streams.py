"""Redis Streams sink against a private redis-server, read back with redis-py."""

from __future__ import annotations

import signal

import pytest

from headwater.errors import SinkError
from headwater.ledger import LedgerReader
from headwater.testing.servers import RedisServer

from tests.conftest import start_or_skip
from tests.sinks._streams import (
    Outage,
    Received,
    check_order_per,
    check_same_events,
    expected_events,
    run_world,
    world,
)

redis = pytest.importorskip("redis")


def read(server, pattern: str) -> dict[str, list[Received]]:
    client = redis.Redis.from_url(server.url)
    out = {}
    for name in sorted(client.keys(pattern)):
        entries = client.xrange(name)
        out[name.decode()] = [
            Received(
                f[b"event_id"].decode(),
                f[b"key"].decode(),
                name.decode(),
                f[b"value"],
                {k.decode(): v.decode() for k, v in f.items() if k not in (b"value",)},
            )
            for _, f in entries
        ]
    client.close()
    return out


def test_entries_per_entity_with_groups(redis_server, tmp_path):
    sc = world(
        f"r: {{kind: redis_streams, url: '{redis_server.url}', stream: 'shop:{{entity}}', groups: [loader, audit]}}"
    )
    r = run_world(sc, tmp_path)
    streams = read(redis_server, "shop:*")
    assert set(streams) == {"shop:customers", "shop:orders"}
    got = [m for entries in streams.values() for m in entries]
    expected = expected_events(r)
    check_same_events(got, expected)
    check_order_per(got, expected, lambda m: m.route)
    first = streams["shop:orders"][0].headers
    assert first["content-type"] == "application/json" and first["schema_version"] == "1"
    client = redis.Redis.from_url(redis_server.url)
    groups = {g["name"].decode() for g in client.xinfo_groups("shop:customers")}
    assert groups == {"loader", "audit"}
    stats = r.stats("r")
    assert stats["acknowledged"] == len(expected)
    assert stats["routes"] == {k: len(v) for k, v in streams.items()}


def test_stream_from_a_field_and_exact_trimming(redis_server, tmp_path):
    sc = world(
        f"r: {{kind: redis_streams, url: '{redis_server.url}', entities: [orders], "
        "stream: 'orders:{country}', maxlen: 50, approximate: false, max_in_flight: 64}"
    )
    r = run_world(sc, tmp_path)
    streams = read(redis_server, "orders:*")
    assert set(streams) == {"orders:US", "orders:DE", "orders:FR"}
    expected = expected_events(r, ["orders"])
    for name, entries in streams.items():
        mine = [e.event_id for e in expected if e.row["country"] == name.split(":")[1]]
        assert [m.event_id for m in entries] == mine[-50:]
    assert r.stats("r")["routes"]["orders:US"] == sum(
        1 for e in expected if e.row["country"] == "US"
    )


@pytest.mark.parametrize("at", [3, 10], ids=["mid_run", "after_the_last_step"])
def test_killed_server_that_lost_acknowledged_entries_fails_the_run(tmp_path, at):
    """SIGKILL loses what Redis acknowledged after its last snapshot: never a successful run."""
    server = start_or_skip(RedisServer())
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("save", "1 1")  # snapshots: a kill loses the latest entries
        client.close()
        sc = world(
            f"r: {{kind: redis_streams, url: '{server.url}', stream: 'kill:{{entity}}', "
            "retry: {for: 30s, initial: 50ms, max: 500ms}}"
        )
        outage = Outage(server, at=at, down=0.5, sig=signal.SIGKILL)
        try:
            with pytest.raises(SinkError) as err:
                run_world(sc, tmp_path, ledger=True, on_step=outage)
        finally:
            outage.join()
        held = {m.event_id for entries in read(server, "kill:*").values() for m in entries}
    finally:
        server.stop()
    acks = LedgerReader(tmp_path / "ledger").acks("r")
    assert acks is not None
    lost = set(acks["event_id"].to_pylist()) - held
    assert lost, "the kill lost nothing the server had acknowledged: the test proves nothing"
    text = str(err.value)
    assert text.startswith(f"sink 'r': Redis at {server.url} lost entries it had acknowledged")
    assert "kill:" in text and "appendfsync always" in text, text
