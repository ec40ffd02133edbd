"""The ledger keeps what each broker acknowledged, and that is really in the broker.

A run with the ledger on sends the world to a real broker; the ledger's `_acks` rows
(event id, route, partition, offset) are checked against an independent consumer: every
acknowledged message is at the place the ledger says, and every event the sink accepted
was acknowledged exactly once.
"""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from headwater.ledger import LedgerReader
from headwater.runner import run

from tests.sinks._streams import world


def ledger_run(sc, out):
    report = run(sc, out_dir=out, ledger=True)
    return report, LedgerReader(out / "ledger")


def accepted_ids(ledger: LedgerReader, sink: str, tombstones: bool = False) -> list[str]:
    """The event ids of every delivery the ledger says the sink accepted (with Kafka
    tombstones: a delete's id twice, the tombstone is acknowledged under it too)."""
    ids: list[str] = []
    for entity in ledger.sinks[sink].entities:
        events = ledger.events(sink, entity)
        if events is not None:
            ids += [f"{entity}-{seq}" for seq in events["seq"].to_pylist()]
            if tombstones:
                deletes = events.filter(pc.equal(events["op"], "d"))
                ids += [f"{entity}-{seq}" for seq in deletes["seq"].to_pylist()]
    return ids


def check_acks_cover_deliveries(report, ledger: LedgerReader, sink: str):
    """Issue 13: "Ledger acknowledgements must include Kafka tombstones (the report said
    5,480 acknowledged and 99 tombstones; the ledger's `_acks` held 5,381)"."""
    acks = ledger.acks(sink)
    assert acks is not None
    ids = acks["event_id"].to_pylist()
    tombstones = report.sinks[sink].get("tombstones", 0)
    assert sorted(ids) == sorted(accepted_ids(ledger, sink, tombstones=tombstones > 0))
    assert len(set(ids)) == len(ids) - tombstones, "an event acknowledged twice"
    assert len(ids) == report.sinks[sink]["acknowledged"]
    assert ledger.manifest["acknowledged"][sink] == len(ids)
    return acks


@pytest.mark.parametrize(
    "options",
    [
        "producer_process: false",
        "producer_process: true",
        "producer_process: false, idempotent: false",  # librdkafka's partitioner
        "producer_process: true, tombstones: true",
    ],
)
def test_kafka_acks_name_the_partition_and_offset_of_each_message(kafka_server, tmp_path, options):
    from tests.sinks.test_kafka import consume, partition_of

    topic = "acks" + "".join(c for c in options if c.isalpha())
    sc = world(
        f"k: {{kind: kafka, bootstrap_servers: '{kafka_server.bootstrap_servers}', "
        f"topic: '{topic}.{{entity}}', partitions: 3, {options}}}"
    )
    report, ledger = ledger_run(sc, tmp_path)
    acks = check_acks_cover_deliveries(report, ledger, "k")
    topics = {f"{topic}.customers", f"{topic}.orders"}
    assert set(acks["route"].to_pylist()) == topics
    assert pc.min(acks["partition"]).as_py() >= 0 and pc.max(acks["partition"]).as_py() <= 2
    sent = report.sinks["k"]["acknowledged"]  # tombstones included
    msgs = consume(kafka_server, dict.fromkeys(topics, 3), sent)
    assert len(msgs) == sent
    at = {}
    for m in msgs:  # each message, a tombstone too (its headers carry its delete's event id)
        assert m.partition() == partition_of(m.key(), 3)
        at[(m.topic(), m.partition(), m.offset())] = dict(m.headers())["event_id"].decode()
    assert len(at) == acks.num_rows
    for row in acks.to_pylist():
        assert at[(row["route"], row["partition"], row["offset"])] == row["event_id"]


def test_nats_acks_carry_the_stream_sequence(nats_server, tmp_path):
    from tests.sinks.test_nats import read

    sc = world(
        f"n: {{kind: nats, url: '{nats_server.url}', subject: 'acks.{{entity}}', stream: ACKS}}"
    )
    report, ledger = ledger_run(sc, tmp_path)
    acks = check_acks_cover_deliveries(report, ledger, "n")
    assert acks["partition"].null_count == acks.num_rows
    messages, _ = read(nats_server, "ACKS", "acks.>")
    sequence = {m.event_id: i + 1 for i, m in enumerate(messages)}  # stream order from 1
    for row in acks.to_pylist():
        assert sequence[row["event_id"]] == row["offset"]
