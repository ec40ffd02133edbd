"""The webhook sink against the receiver: signatures verify, a receiver that fails for a
while still ends with every event, duplicates carry the same idempotency key."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("httpx")

from headwater.errors import ScenarioError, SinkError, SinkUnavailable
from headwater.resolve.load import loads
from headwater.runner import run
from headwater.serve.receive import Receiver
from headwater.sinks.webhook import sign, verify

SECRET = "whsec-test"

WORLD = """
name: hooks
seed: 3
clock: {{start: 2026-01-01T00:00:00Z, duration: 5m}}
entities:
  orders:
    key: order_id
    initial: 5
    arrivals: 0.3/s
    fields:
      order_id: {{seq: {{}}}}
      amount: {{decimal: {{min: 1, max: 100}}}}
      at: {{event_time: {{}}}}
    updates: {{rate: 0.1/s, fields: [amount]}}
    deletes: {{rate: 0.05/s}}
sinks:
  hooks: {{kind: webhook, url: "{url}", secret_env: HW_TEST_SECRET, {extra}}}
"""


def world(url: str, extra: str = "retry: {attempts: 30, initial: 5ms, max: 20ms}"):
    return loads(WORLD.format(url=url, extra=extra))


def expected_ids(sc) -> set[str]:
    from headwater.world.engine import World

    ids = set()
    for changes in World(sc).steps():
        for entity, t in changes.tables.items():
            ids |= {
                f"evt_{entity}-{s}"
                for s, op in zip(t["seq"].to_pylist(), t["op"].to_pylist(), strict=True)
                if op != "r"
            }
    return ids


def test_sign_and_verify():
    body = b'{"id": 1}'
    now = int(time.time())
    header = sign(b"k", body, now)
    assert header.startswith(f"t={now},v1=") and verify(b"k", body, header)
    assert not verify(b"other", body, header)
    assert not verify(b"k", body + b" ", header)
    assert not verify(b"k", body, sign(b"k", body, now - 3600))  # too old: replay
    assert not verify(b"k", body, "garbage")
    assert verify(b"k", body, f"{header},v1=deadbeef")  # secrets being rotated


def test_the_receiver_says_why_it_refuses_a_delivery():
    """`headwater receive` (serve/receive.py): "Every POST (any path) must carry a valid
    `Headwater-Signature` for its body, signed with the shared secret less than `tolerance`
    seconds ago; otherwise it answers 400 saying why". An old timestamp is not an invalid
    signature: the sender's fix differs (its clock, or a replay), so the answer says which."""
    import httpx

    body = b'{"id": 1}'
    now = int(time.time())
    with Receiver(SECRET.encode(), tolerance=300) as r:

        def answer(header: str | None) -> tuple[int, str]:
            headers = {} if header is None else {"Headwater-Signature": header}
            resp = httpx.post(r.url, content=body, headers=headers)
            return resp.status_code, resp.json()["error"]

        status, why = answer(sign(SECRET.encode(), body, now - 3600))
        assert status == 400 and why.startswith("signature timestamp too old: signed ")
        assert "accepted for 300s" in why and "invalid" not in why
        status, why = answer(sign(SECRET.encode(), body, now + 3600))
        assert status == 400 and "in the future" in why
        assert answer(sign(b"wrong", body, now)) == (400, "invalid signature")
        assert answer(sign(b"wrong", body, now - 3600)) == (400, "invalid signature")
        assert answer(None) == (400, "no signature header")
        assert answer("garbage")[1].startswith("malformed signature header")
        assert r.rejected == 6 and not r.deliveries
        assert httpx.post(
            r.url, content=body, headers={"Headwater-Signature": sign(SECRET.encode(), body, now)}
        ).json() == {"ok": True}


def test_a_failing_receiver_still_gets_every_event_once_by_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HW_TEST_SECRET", SECRET)
    with Receiver(
        SECRET.encode(), out=tmp_path / "got.jsonl", fail_first=6, fail_rate=0.1, ack_lost=True
    ) as r:
        sc = world(r.url)
        report = run(sc, out_dir=tmp_path / "out")
    stats = report.sinks["hooks"]
    want = expected_ids(sc)
    assert {e["id"] for e in r.events()} == want
    assert r.keys() == want and r.rejected == 0
    dups = [d for d in r.deliveries if d["duplicate"]]
    assert dups, "ack_lost failures must cause duplicates"
    first = {d["idempotency_key"]: d["event"] for d in r.deliveries if not d["duplicate"]}
    for d in dups:
        assert d["event"] == first[d["idempotency_key"]] and d["attempt"] > 1
    assert stats["delivered"] == len(want) and stats["retries"] >= 6 and stats["failed"] == 0
    lines = (tmp_path / "got.jsonl").read_text().splitlines()
    assert len(lines) == len(r.deliveries)
    log = [
        json.loads(x)
        for x in (tmp_path / "out" / "hooks.deliveries.jsonl").read_text().splitlines()
    ]
    assert len(log) == len(want) and all(e["ok"] for e in log) and log[0]["attempts"] == 7
    event = r.events()[0]
    assert event["type"] in ("orders.created", "orders.updated", "orders.deleted")
    assert isinstance(event["data"]["object"]["amount"], str)


def test_wrong_secret_is_rejected_and_the_sink_gives_up(tmp_path, monkeypatch):
    monkeypatch.setenv("HW_TEST_SECRET", "not-the-secret")
    with Receiver(SECRET.encode()) as r:
        with pytest.raises(
            SinkUnavailable, match=r"gave up on evt_orders-\d+ after 3 attempts \(HTTP 400\)"
        ):
            run(world(r.url, "retry: {attempts: 3, initial: 1ms, max: 1ms}"), out_dir=tmp_path)
        assert r.rejected == 3 and not r.deliveries


def test_drop_goes_on_and_logs_failures(tmp_path, monkeypatch):
    monkeypatch.setenv("HW_TEST_SECRET", SECRET)
    sc = world(
        "http://127.0.0.1:9/none",
        "retry: {attempts: 2, initial: 1ms, max: 1ms}, on_failure: drop, timeout: 200ms",
    )
    report = run(sc, out_dir=tmp_path, duration=None)
    stats = report.sinks["hooks"]
    assert stats["delivered"] == 0 and stats["failed"] == len(expected_ids(sc))


def test_secret_problems(tmp_path, monkeypatch):
    monkeypatch.delenv("HW_TEST_SECRET", raising=False)
    with pytest.raises(SinkError, match="environment variable HW_TEST_SECRET is not set"):
        run(world("http://127.0.0.1:9/x"), out_dir=tmp_path)
    with pytest.raises(ScenarioError, match="give secret_env or secret_file"):
        loads(
            WORLD.format(url="http://x", extra="secret_file: s.txt").replace(
                "secret_env: HW_TEST_SECRET, ", "secret_env: A, "
            )
        )
    (tmp_path / "s.txt").write_text(SECRET + "\n")
    monkeypatch.chdir(tmp_path)
    with Receiver(SECRET.encode()) as r:
        sc = loads(
            WORLD.format(url=r.url, extra="").replace(
                "secret_env: HW_TEST_SECRET", "secret_file: s.txt"
            )
        )
        run(sc, out_dir=tmp_path / "o", duration=None)
        assert r.deliveries and r.rejected == 0
