"""examples/seed_event.yaml: the seed's event shape, in at most 12 lines, to JSON Lines and
Kafka (a private Tansu broker, read back with confluent-kafka)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from headwater.resolve.load import load
from headwater.runner import run

from tests.examples.test_examples import serverless

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed_event.yaml"
LINE = re.compile(
    r'\{"Key":"Order # \d+","Value":"SKU \d{3}, purchase price of \$\d+",'
    r'"Timestamp":"2023-01-02 \d\d:\d\d:\d\d"\}'
)


def jsonl(folder: Path) -> list[str]:
    return [line for p in sorted(folder.rglob("*.jsonl")) for line in p.read_text().splitlines()]


def test_the_example_is_at_most_12_lines():
    code = [line for line in EXAMPLE.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert len([line for line in code if line.strip()]) <= 12


def test_json_lines_have_the_seed_event_shape(tmp_path):
    report = run(serverless(load(EXAMPLE)), duration=timedelta(minutes=3), out_dir=tmp_path)
    lines = jsonl(tmp_path / "files")
    assert len(lines) == report.sinks["jsonl"]["counts"]["orders"]["c"] > 100
    assert all(LINE.fullmatch(line) for line in lines)
    first = json.loads(lines[0])
    assert list(first) == ["Key", "Value", "Timestamp"] and first["Key"] == "Order # 12345"
    assert first["Timestamp"].startswith("2023-01-02 06:00:0")


def test_kafka_messages_are_the_same_bodies(kafka_server, tmp_path):
    pytest.importorskip("confluent_kafka")
    sc = load(EXAMPLE, env={"KAFKA_BOOTSTRAP": kafka_server.bootstrap_servers})
    topic = f"seed-event-{tmp_path.name}"  # the broker is shared by the session's tests
    sinks = dict(sc.sinks, kafka=sc.sinks["kafka"].model_copy(update={"topic": topic}))
    report = run(
        sc.model_copy(update={"sinks": sinks}), duration=timedelta(minutes=2), out_dir=tmp_path
    )
    sent = report.sinks["kafka"]["counts"]["orders"]["c"]
    assert sent > 60
    from tests.sinks.test_kafka import consume

    partitions = sinks["kafka"].partitions
    bodies = [m.value().decode() for m in consume(kafka_server, {topic: partitions}, sent, idle=1)]
    assert sorted(bodies) == sorted(jsonl(tmp_path / "files"))
    assert len(bodies) == sent and all(LINE.fullmatch(b) for b in bodies)
