"""verify reads Kafka topics (the Tansu broker fixture) as a target."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.resolve.load import loads
from headwater.runner import build_sinks, run
from headwater.testing.servers import free_port
from headwater.verify import verify

confluent_kafka = pytest.importorskip("confluent_kafka")

SCENARIO = """
name: kv
seed: 5
clock: {{start: 2026-01-01T00:00:00Z, duration: 5m, step: 30s}}
entities:
  accounts:
    key: id
    initial: 40
    arrivals: 0.5/s
    fields:
      id: {{seq: {{}}}}
      email: {{fake: email}}
      balance: {{uniform: {{min: 0, max: 1000}}, round: 2}}
      updated_at: {{event_time: {{on_update: true}}}}
    updates: {{rate: 0.5/s, fields: [email, balance]}}
    deletes: {{rate: 0.05/s}}
sinks:
  k:
    kind: kafka
    bootstrap_servers: '{servers}'
    topic: kv.{{entity}}
    partitions: 3
    payload: rows
    tombstones: true
"""


def read_all(servers: str, topic: str, count: int) -> list:
    """`count` messages of the topic (Tansu lists a wrong high watermark: count them instead)."""
    kafka = confluent_kafka
    c = kafka.Consumer({"bootstrap.servers": servers, "group.id": "t", "enable.auto.commit": False})
    parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    c.assign([kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in parts])
    out: list = []
    deadline = time.monotonic() + 30
    while len(out) < count and time.monotonic() < deadline:
        out += [m for m in c.consume(1000, 0.5) if m.error() is None]
    c.close()
    assert len(out) == count
    return sorted(out, key=lambda m: (m.partition(), m.offset()))


@pytest.fixture(scope="module")
def landed(kafka_server, tmp_path_factory):
    out = tmp_path_factory.mktemp("kafka-verify")
    sc = loads(SCENARIO.format(servers=kafka_server.bootstrap_servers))
    from headwater.world.engine import World

    report = run(sc, out_dir=out, sinks=build_sinks(sc, World(sc), out))
    return out / "ledger", kafka_server.bootstrap_servers, report.sinks["k"]["acknowledged"]


def test_topic_written_by_a_run_verifies_correct(landed):
    ledger, servers, _ = landed
    report = verify(ledger, f"kafka://{servers}/kv.accounts")
    assert report.ok, report.as_dict()
    e = report.entities[0]
    assert e.found == e.expected > 40 and e.missing == e.duplicates == 0
    # the broker's topic of another name through --table
    report = verify(ledger, f"kafka://{servers}", tables={"accounts": "kv.accounts"})
    assert report.ok, report.as_dict()


def test_planted_duplicate_and_missing_key_are_reported(landed):
    ledger, servers, acknowledged = landed
    msgs = read_all(servers, "kv.accounts", acknowledged)
    rows = [json.loads(m.value()) for m in msgs if m.value() is not None]
    final = {}
    for r in rows:
        final[r["id"]] = r["_op"]
    alive = sorted(k for k, op in final.items() if op != "d")
    gone, doubled = alive[0], alive[1]
    producer = confluent_kafka.Producer({"bootstrap.servers": servers})
    last_of_doubled = None
    for m in msgs:
        if m.key() == str(gone).encode():
            continue
        producer.produce(
            "kv.copy", m.value(), m.key(), headers=m.headers(), partition=m.partition()
        )
        if m.key() == str(doubled).encode():
            last_of_doubled = m
    assert last_of_doubled is not None
    producer.produce(
        "kv.copy",
        last_of_doubled.value(),
        last_of_doubled.key(),
        headers=last_of_doubled.headers(),
        partition=last_of_doubled.partition(),
    )
    assert producer.flush(30) == 0
    res = CliRunner().invoke(
        main,
        [
            "verify",
            "--ledger",
            str(ledger),
            "--target",
            f"kafka://{servers}/kv.copy",
            "--table",
            "accounts=kv.copy",
            "--json",
        ],
    )
    assert res.exit_code == 1, res.output
    e = json.loads(res.output)["entities"]["accounts"]
    assert e["missing"] == 1 and e["samples"]["missing"] == [gone]
    assert e["duplicates"] == 1 and e["duplicate_rows"] == 1
    assert e["samples"]["duplicates"] == [doubled]
    assert e["unexpected"] == 0 and e["wrong"] == 0


def test_unreachable_broker_exits_2_naming_it(landed):
    ledger, _, _ = landed
    where = f"127.0.0.1:{free_port()}"
    res = CliRunner().invoke(
        main,
        ["verify", "--ledger", str(ledger), "--target", f"kafka://{where}/kv.accounts?timeout=2"],
    )
    assert res.exit_code == 2, res.output
    assert where in res.output


class _Msg:
    def __init__(self, offset: int, key: str, value: dict | None, event: str | None = None):
        self._o, self._k, self._event = offset, key.encode(), event
        self._v = None if value is None else json.dumps(value).encode()

    def key(self):
        return self._k

    def value(self):
        return self._v

    def headers(self):
        return [("event_id", self._event.encode())] if self._event else None

    def partition(self):
        return 0

    def offset(self):
        return self._o


def test_messages_apply_as_a_change_log():
    from headwater.verify.targets.changelog import apply_change_log

    dbz = [
        _Msg(0, "1", {"op": "c", "before": None, "after": {"id": 1, "v": "a"}}, "e-1"),
        _Msg(1, "2", {"op": "c", "before": None, "after": {"id": 2, "v": "b"}}, "e-2"),
        _Msg(
            2, "1", {"op": "u", "before": {"id": 1, "v": "a"}, "after": {"id": 1, "v": "c"}}, "e-3"
        ),
        _Msg(3, "2", {"op": "d", "before": {"id": 2, "v": "b"}, "after": None}, "e-4"),
        _Msg(4, "3", {"id": 3, "v": "x", "_op": "c"}, "e-5"),
        _Msg(5, "3", None),  # tombstone
        _Msg(6, "4", {"id": 4, "v": "y", "_op": "c"}),
        _Msg(7, "4", {"id": 4, "v": "y", "_op": "c"}),  # the same message again
        _Msg(
            8, "1", {"op": "u", "before": {"id": 1, "v": "a"}, "after": {"id": 1, "v": "c"}}, "e-3"
        ),
    ]
    rows, columns = apply_change_log(dbz, "t")
    assert sorted((r["id"], r["v"]) for r in rows) == [(1, "c"), (1, "c"), (4, "y"), (4, "y")]
    assert columns == ["id", "v", "_op"]
