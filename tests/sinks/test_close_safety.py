"""CONTRACT: a sink's close() is safe after a failed or missing open() and when called twice.

Every registered kind is built from a minimal valid config; server-backed kinds point at a
dead address (127.0.0.1 on a port nothing listens on), file-backed kinds under a regular
file, so their open() fails for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.runner import build_sinks
from headwater.sinks import SINKS, Sink
from headwater.testing.servers import free_port
from headwater.world.engine import World

from tests.helpers import scenario

WORLD = """
name: t
seed: 1
clock: {start: 2026-01-01T00:00:00Z, duration: 1m}
entities:
  a:
    key: id
    initial: 2
    fields:
      id: {seq: {}}
      v: {uniform: {min: 1, max: 3}}
"""

# kind → its config; {dead} is host:port of nothing, {blocked} the output folder, which
# becomes a regular file before open()
CONFIGS = {
    "memory": "{kind: memory}",
    "sqlite": "{kind: sqlite, path: '{blocked}/x.db'}",
    "files": "{kind: files, format: jsonl, path: '{blocked}/out'}",
    "logs": "{kind: logs, format: combined, path: '{blocked}/logs'}",
    "cdc": "{kind: cdc, from: src, to: {kind: files, format: jsonl, path: '{blocked}/cdc'}}",
    "webhook": (
        "{kind: webhook, url: 'http://{dead}/hooks', secret_file: '{secret}', retry: {attempts: 1}}"
    ),
    "postgres": "{kind: postgres, url: 'postgresql://app@{dead}/shop'}",
    "mysql": "{kind: mysql, url: 'mysql://app@{dead}/shop'}",
    "kafka": "{kind: kafka, bootstrap_servers: '{dead}', connect_timeout: 1s}",
    "mqtt": "{kind: mqtt, url: 'mqtt://{dead}'}",
    "rabbitmq": "{kind: rabbitmq, url: 'amqp://guest:guest@{dead}/%2F'}",
    "nats": "{kind: nats, url: 'nats://{dead}', connect_timeout: 1s}",
    "redis_streams": "{kind: redis_streams, url: 'redis://{dead}/0'}",
    "elasticsearch": "{kind: elasticsearch, path: '{blocked}/es'}",
    "cassandra": "{kind: cassandra, path: '{blocked}/cql'}",
    "redis": "{kind: redis, url: 'redis://{dead}/0', retry: {for: 1s}}",
    "mongodb": (
        "{kind: mongodb, url: 'mongodb://{dead}/?directConnection=true', connect_timeout: 1s, "
        "retry: {for: 1s}}"
    ),
}
CANNOT_FAIL_OPEN = {"memory"}  # nothing to connect to or create


def test_every_registered_kind_is_covered():
    assert sorted(CONFIGS) == SINKS.names()


def _sink(kind: str, tmp_path: Path) -> Sink:
    blocked = tmp_path / "out"  # the run's output folder, too
    (tmp_path / "secret").write_text("s3cret")
    config = CONFIGS[kind].replace("{dead}", f"127.0.0.1:{free_port()}")
    config = config.replace("{blocked}", str(blocked)).replace("{secret}", str(tmp_path / "secret"))
    sinks = f"sink: {config}\n"
    if kind == "cdc":
        sinks += f"src: {{kind: sqlite, path: '{tmp_path / 'src.db'}'}}\n"
    sc = scenario(WORLD, sinks=sinks)
    sink = build_sinks(sc, World(sc), blocked)["sink"]
    blocked.write_text("a file where open() wants a folder")  # after validation passed
    return sink


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_close_without_open(kind, tmp_path):
    sink = _sink(kind, tmp_path)
    sink.close()
    sink.close()


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_close_twice_after_failed_open(kind, tmp_path):
    sink = _sink(kind, tmp_path)
    if kind in CANNOT_FAIL_OPEN:
        sink.open()
    else:
        with pytest.raises(Exception):  # noqa: B017 - each kind fails its own way
            sink.open()
    sink.close()
    sink.close()
