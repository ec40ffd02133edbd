"""NATS JetStream sink against a private nats-server -js, read back with nats-py."""

from __future__ import annotations

import asyncio

import pytest

from tests.sinks._streams import (
    Received,
    check_order_per,
    check_same_events,
    expected_events,
    run_world,
    world,
)

nats = pytest.importorskip("nats")


def read(server, stream: str, subjects: str) -> tuple[list[Received], object]:
    """Every message of a stream, in stream order, and the stream's info."""

    async def main():
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream)
            sub = await js.pull_subscribe(subjects, stream=stream)
            out = []
            while len(out) < info.state.messages:
                for m in await sub.fetch(1000, timeout=5):
                    h = dict(m.headers or {})
                    seq = m.metadata.sequence.stream
                    out.append(Received(h["Nats-Msg-Id"], h.get("key"), m.subject, m.data, h, seq))
                    await m.ack()
            return out, info
        finally:
            await nc.close()

    return asyncio.run(main())


def test_messages_on_subjects_from_fields(nats_server, tmp_path):
    sc = world(
        f"n: {{kind: nats, url: '{nats_server.url}', subject: 'shop.{{entity}}.{{country}}', "
        "stream: SHOP}"
    )
    r = run_world(sc, tmp_path)
    got, info = read(nats_server, "SHOP", "shop.>")
    assert sorted(info.config.subjects) == ["shop.customers.*", "shop.orders.*"]
    expected = expected_events(r)
    check_same_events(got, expected)
    check_order_per(got, expected, lambda m: m.route)
    rows = {e.event_id: e.row for e in expected}
    for m in got:
        entity = m.event_id.split("-")[0]
        assert m.route == f"shop.{entity}.{rows[m.event_id]['country']}"
    assert got[0].headers["content-type"] == "application/json"
    stats = r.stats("n")
    assert stats["acknowledged"] == len(expected) and stats["duplicates"] == 0
    assert sum(stats["routes"].values()) == len(expected)


def test_the_server_deduplicates_a_second_send(nats_server, tmp_path):
    sink = (
        f"n: {{kind: nats, url: '{nats_server.url}', entities: [orders], "
        "subject: 'dedup.{entity}', stream: DEDUP}"
    )
    first = run_world(world(sink), tmp_path / "1")
    second = run_world(world(sink), tmp_path / "2")  # same seed: the same event ids
    got, info = read(nats_server, "DEDUP", "dedup.>")
    n = len(expected_events(first, ["orders"]))
    assert info.state.messages == n == len(got)
    assert second.stats("n")["duplicates"] == n


def test_subjects_are_added_to_an_existing_stream(nats_server, tmp_path):
    async def create():
        nc = await nats.connect(nats_server.url)
        await nc.jetstream().add_stream(name="KEEP", subjects=["legacy.>"])
        await nc.close()

    asyncio.run(create())
    sc = world(
        f"n: {{kind: nats, url: '{nats_server.url}', entities: [orders], "
        "subject: 'keep.{entity}', stream: KEEP}"
    )
    run_world(sc, tmp_path)
    _, info = read(nats_server, "KEEP", "keep.>")
    assert info.config.subjects == ["legacy.>", "keep.orders"]
