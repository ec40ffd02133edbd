"""Kafka sink while its broker misbehaves mid-run: a real Tansu broker, no mocks.

Each test owns a private broker (the session's `kafka_server` keeps its data): SIGSTOP
makes it unresponsive, SIGKILL + restart makes it lose everything (memory storage: topics,
messages and the producer ids it handed out), SIGKILL alone makes it gone for good.

What a Tansu restart does to a producer (found with these tests, librdkafka 2.x):
- the idempotent producer cannot resume: Tansu answers every produce with
  UNKNOWN_PRODUCER_ID, librdkafka bumps the epoch locally and retries forever (until
  `retry.timeout`: "Local: Message timed out") or raises the fatal "unable to retry
  without risking duplication/reordering" (xfail test below);
- the producer's metadata request makes Tansu auto-create the lost topics with 4
  partitions, whatever the sink created;
- the non-idempotent producer resumes once the topics exist again, and the broker hands
  out the offsets of the messages it lost once more: the sink sees that and fails the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from headwater.errors import SinkError
from headwater.ledger import LedgerReader
from headwater.runner import run
from headwater.sinks import SINKS, SinkContext
from headwater.sinks._project import project
from headwater.sinks._stream import CHUNK
from headwater.sinks.kafka._producer import AHEAD
from headwater.testing.servers import KafkaServer
from headwater.world.schema import world_schemas

from tests.conftest import start_or_skip
from tests.sinks._streams import (
    WORLD,
    Run,
    by_key,
    check_order_per,
    check_same_events,
    expected_events,
    world,
)
from tests.sinks.test_kafka import consume, received

confluent_kafka = pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.server

TOPICS = {"t.customers": 2, "t.orders": 2}
SINK = (
    "k: {{kind: kafka, bootstrap_servers: '{servers}', topic: 't.{{entity}}', partitions: 2, "
    "linger_ms: 2, max_in_flight: {max_in_flight}, retry: {{for: {timeout}}}{more}}}"
)


@pytest.fixture
def broker() -> Any:
    """A private, fresh Tansu broker per test (a restart wipes it anyway)."""
    server = start_or_skip(KafkaServer())
    try:
        yield server
    finally:
        pid = server.pid
        if pid is not None:
            # Never leave a stopped process behind; SIGKILL because Tansu takes 5 s to
            # stop on SIGTERM and its memory storage has nothing to save.
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        server.stop()


def sink_spec(server: KafkaServer, max_in_flight: int = 500, timeout: str = "20s", more: str = ""):
    return SINK.format(
        servers=server.bootstrap_servers, max_in_flight=max_in_flight, timeout=timeout, more=more
    )


class Running:
    """A run whose sinks are reachable from `on_step` (run_world builds them inside)."""

    def __init__(self, spec: str, out: Path):
        self.scenario = world(spec)
        sc = self.scenario
        self.schemas = world_schemas(sc)
        context = SinkContext(self.schemas, out, sc.seed, sc.name, dict(sc.sinks))
        self.sinks = {n: SINKS.get(c.kind)(n, c, context) for n, c in sc.sinks.items()}
        self.out = out

    def __call__(self, on_step: Any, ledger: bool = False) -> Run:
        report = run(
            self.scenario, out_dir=self.out, sinks=self.sinks, ledger=ledger, on_step=on_step
        )
        return Run(report, self.sinks, self.out)

    def acks(self) -> list[dict[str, Any]]:
        """The ledger's acknowledgements of sink k: event_id, route, partition, offset."""
        table = LedgerReader(self.out / "ledger").acks("k")
        assert table is not None
        return table.to_pylist()

    def event_ids(self, changes: Any) -> set[str]:
        """Event ids of one step's changes, as the sink sends them."""
        return {
            i
            for entity, table in changes.tables.items()
            if table.num_rows
            for i in project(table, self.schemas[entity], "rows").event_ids.to_pylist()
        }


def placed(msgs: list[Any]) -> dict[tuple[str, int, int], str]:
    """(topic, partition, offset) → event id of each message read back."""
    return {
        (m.topic(), m.partition(), m.offset()): dict(m.headers())["event_id"].decode() for m in msgs
    }


def read_all(server: KafkaServer, topics: dict[str, int], at_least: int, idle: float = 1.5):
    """Every message of the topics from the start: at least `at_least`, then until idle."""
    return consume(server, topics, at_least, idle=idle)


def create_topics(server: KafkaServer, topics: dict[str, int]) -> None:
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": server.bootstrap_servers})
    new = [confluent_kafka.admin.NewTopic(t, n, 1) for t, n in topics.items()]
    for future in admin.create_topics(new, operation_timeout=10, request_timeout=10).values():
        future.result()


def kill(server: KafkaServer) -> None:
    os.kill(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.running


# -- a. unresponsive broker (SIGSTOP) ---------------------------------------------------------


@pytest.mark.parametrize("own_process", [False, True], ids=["one-process", "producer-process"])
def test_unresponsive_broker_every_event_once_in_key_order(broker, tmp_path, own_process):
    """SIGSTOP for 3 s at step 3: the world waits (bounded buffer), then every event arrives
    exactly once (idempotent producer), keys keep their order, stats count all of them."""
    max_in_flight = 500
    more = f", producer_process: {str(own_process).lower()}"
    running = Running(sink_spec(broker, max_in_flight, more=more), tmp_path)
    pid = broker.pid
    resumed = threading.Event()
    marks: dict[str, float] = {}
    queued: list[int] = []

    def resume() -> None:
        time.sleep(3.0)
        marks["resumed"] = time.monotonic()
        os.kill(pid, signal.SIGCONT)
        resumed.set()

    thread = threading.Thread(target=resume, daemon=True)

    def on_step(changes: Any, report: Any) -> None:
        queued.append(running.sinks["k"].queued())
        marks["last_step"] = time.monotonic()
        if report.steps == 3:
            os.kill(pid, signal.SIGSTOP)
            thread.start()

    try:
        r = running(on_step, ledger=True)
    finally:
        if not resumed.is_set():
            os.kill(pid, signal.SIGCONT)
        thread.join(timeout=10)
    assert marks["last_step"] > marks["resumed"], "the world ran ahead of a stopped broker"
    # One process: librdkafka's queue (at most max_in_flight messages, plus the delivery
    # reports of some not served yet); a producer process also holds the batches waiting
    # for it (AHEAD) and counts a batch until its last message is acknowledged.
    assert max(queued) <= (2 * max_in_flight if not own_process else (AHEAD + 2) * CHUNK)
    expected = expected_events(r)
    stats = r.stats("k")
    assert stats["acknowledged"] == len(expected)
    assert stats["retries"] > 0
    msgs = read_all(broker, TOPICS, len(expected))
    got = received(msgs)
    check_same_events(got, expected)
    check_order_per(got, expected, by_key)
    assert sum(sum(p) for p in stats["partitions"].values()) == len(msgs)
    # Every message the ledger marks as acknowledged is in the broker, where it says.
    acks = running.acks()
    assert sorted(a["event_id"] for a in acks) == sorted(e.event_id for e in expected)
    at = placed(msgs)
    for a in acks:
        assert at[(a["route"], a["partition"], a["offset"])] == a["event_id"]


# -- b. broker killed and restarted (memory storage: everything before is lost) --------------


def restart_at(running: Running, server: KafkaServer, at: int, recreate: bool = True):
    """An on_step hook: at step `at`, SIGKILL, restart at once, recreate the topics; it
    collects the ids of the events the world made before the restart."""
    before: set[str] = set()

    def on_step(changes: Any, report: Any) -> None:
        if report.steps > at:
            return
        before.update(running.event_ids(changes))
        if report.steps == at:
            kill(server)
            server.restart()
            if recreate:
                create_topics(server, TOPICS)

    return on_step, before


@pytest.mark.parametrize("recreate", [True, False], ids=["recreated", "auto-created"])
def test_restarted_broker_that_lost_acknowledged_messages_fails_the_run(broker, tmp_path, recreate):
    """Non-idempotent producer: the run goes on after a restart (topics recreated as they
    were, or auto-created by Tansu with 4 partitions), but the broker lost everything it had
    acknowledged and hands the same offsets out again: the run fails naming the partition.
    The ledger keeps what the broker acknowledged; what is missing from the broker was made
    before the restart, and the ledger does not count it published (lost records)."""
    more = ", idempotent: false"
    if recreate:
        more += ", producer: {allow.auto.create.topics: false}"
    running = Running(sink_spec(broker, 500, "20s", more), tmp_path)
    on_step, before = restart_at(running, broker, at=3, recreate=recreate)
    with pytest.raises(SinkError) as err:
        running(on_step, ledger=True)
    text = str(err.value)
    where = f"sink 'k': Kafka at {broker.bootstrap_servers} lost messages it had acknowledged"
    assert text.startswith(where + ": partition "), text
    assert "of topic 't." in text and "durable" in text, text
    acked = {a["event_id"] for a in running.acks()}
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    topics = {t: len(admin.list_topics(t, timeout=10).topics[t].partitions) for t in TOPICS}
    held = {m.event_id for m in received(read_all(broker, topics, 1))}
    lost = acked - held
    assert lost and lost <= before  # only what the broker had before the restart is gone
    book = LedgerReader(tmp_path / "ledger")
    assert book.lost("k"), "the ledger does not say the broker lost messages"
    published = {
        f"{entity}-{seq}"
        for entity in book.sinks["k"].entities
        if (events := book.events("k", entity)) is not None
        for seq in events["seq"].to_pylist()
    }
    assert published <= held, f"published per the ledger, not held: {sorted(published - held)[:3]}"


@pytest.mark.xfail(
    raises=SinkError,
    strict=True,
    reason="Tansu forgets producer ids on restart: the idempotent producer gets "
    "UNKNOWN_PRODUCER_ID forever (message timeout) or a fatal error",
)
def test_restarted_broker_idempotent_producer_resumes(broker, tmp_path):
    more = ", producer: {allow.auto.create.topics: false}"
    running = Running(sink_spec(broker, 500, "6s", more), tmp_path)
    on_step, before = restart_at(running, broker, at=3)
    r = running(on_step)
    expected = expected_events(r)
    got = received(read_all(broker, TOPICS, len(expected) - len(before)))
    assert {e.event_id for e in expected} - before <= {m.event_id for m in got}


# -- c. broker gone longer than retry.timeout -------------------------------------------------


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_broker_away_longer_than_retry_timeout_fails_naming_sink_and_address(broker, tmp_path, how):
    running = Running(sink_spec(broker, 500, "3s"), tmp_path)
    pid = broker.pid
    marks: dict[str, float] = {}

    def on_step(changes: Any, report: Any) -> None:
        if report.steps == 3:
            marks["away"] = time.monotonic()
            if how == "killed":
                kill(broker)
            else:
                os.kill(pid, signal.SIGSTOP)

    try:
        with pytest.raises(SinkError) as err:
            running(on_step)
        failed = time.monotonic()
    finally:
        if how == "stopped":
            os.kill(pid, signal.SIGCONT)
    text = str(err.value)
    assert "sink 'k'" in text
    assert broker.bootstrap_servers in text
    # "N messages were not acknowledged by Kafka at … within 3 s: Local: Message timed out"
    # or "Kafka at … unreachable for 3 s, giving up: producer queue full"
    assert " 3 s" in text, text
    assert failed - marks["away"] < 3 + 6  # gives up near retry.timeout, not never


def test_cli_broker_gone_mid_run_exits_2_with_a_message(broker, tmp_path):
    """`headwater run` with the broker killed mid-run: exit 2, one message naming the sink
    and the address, no traceback."""
    path = tmp_path / "streams.yaml"
    spec = sink_spec(broker, 500, "3s")
    path.write_text(textwrap.dedent(WORLD) + "sinks:\n  " + spec + "\n")
    # 60x with one-minute steps: a step per second, so the broker dies mid-run.
    proc = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", str(path), "--speed", "60x"]
        + ["--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_messages(broker, "t.orders", 2)
        kill(broker)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, (stdout, stderr)
    assert "Traceback" not in stderr, stderr
    # librdkafka's connection errors are logged above it (8 lines or so): the last one says it.
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: sink 'k': "), stderr
    assert broker.bootstrap_servers in last, stderr


def wait_for_messages(server: KafkaServer, topic: str, partitions: int) -> None:
    """Until the topic holds messages (the run is under way), at most 20 s."""
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": server.bootstrap_servers, "group.id": "headwater-trouble"}
    )
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            try:
                high = sum(
                    consumer.get_watermark_offsets(
                        confluent_kafka.TopicPartition(topic, p), timeout=1
                    )[1]
                    for p in range(partitions)
                )
            except confluent_kafka.KafkaException:
                high = 0
            if high > 0:
                return
            time.sleep(0.1)
    finally:
        consumer.close()
    raise AssertionError(f"no message reached {topic} within 20 s")
