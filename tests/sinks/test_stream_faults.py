"""Faults through the shared stream machinery: ingest_time headers and malformed bodies.

Run against the private redis-server (the fastest broker); Kafka's headers come from the
same `header_pairs`, checked on the encoded batch.
"""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa
import pytest

from headwater.sinks import _encode as enc
from headwater.sinks._stream import header_pairs

from tests.sinks._streams import run_world, world

redis = pytest.importorskip("redis")

FAULTS = "{malformed: {rate: 0.05, kinds: [truncate]}, late: {rate: 0.1, delay: {fixed: 1m}}}"


def _sink(url: str, prefix: str, extra: str = "") -> str:
    return (
        f"r: {{kind: redis_streams, url: '{url}', stream: '{prefix}:{{entity}}', "
        f"faults: {FAULTS}{extra}}}"
    )


def _entries(url: str, pattern: str) -> list[dict[bytes, bytes]]:
    client = redis.Redis.from_url(url)
    try:
        return [f for name in sorted(client.keys(pattern)) for _, f in client.xrange(name)]
    finally:
        client.close()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_malformed_and_late_on_redis(redis_server, tmp_path):
    r = run_world(world(_sink(redis_server.url, "f1")), tmp_path / "a")
    entries = _entries(redis_server.url, "f1:*")
    assert len(entries) > 1000
    broken, late = 0, 0
    for f in entries:
        header = _time(f[b"ingest_time"].decode())  # every entry, broken or not, has the header
        try:
            body = json.loads(f[b"value"])
        except ValueError:
            broken += 1
            continue
        ingest = _time(body["_ingest_time"])
        assert ingest == header
        delay = (ingest - _time(f[b"event_time"].decode())).total_seconds()
        assert delay in (0, 60), delay
        late += delay == 60
    assert 0.03 < broken / len(entries) < 0.07
    assert 0.07 < late / (len(entries) - broken) < 0.13
    faults = r.stats("r")["faults"]["malformed"]["events"]
    assert broken == faults

    # Same seed, same bytes (Redis ids differ; the bodies do not).
    run_world(world(_sink(redis_server.url, "f2")), tmp_path / "b")
    again = _entries(redis_server.url, "f2:*")
    assert sorted(f[b"value"] for f in again) == sorted(f[b"value"] for f in entries)


def test_batch_headers_and_encodings(redis_server, tmp_path):
    """The encoded batch: ingest_time in header_pairs, corrupt() on json/string, Avro intact."""
    r = run_world(world(_sink(redis_server.url, "f3")), tmp_path)
    sink = r.sinks["r"]
    n = 4
    t0 = pa.array([0, 1, 2, 3], pa.timestamp("us", "UTC"))
    records = _records(n, t0)
    batch = sink.encode(records)
    pairs = list(header_pairs(batch))
    assert [dict(p)["ingest_time"] for p in pairs] == [
        "1970-01-01T00:01:00.000000Z",
        "1970-01-01T00:01:00.000001Z",
        "1970-01-01T00:01:00.000002Z",
        "1970-01-01T00:01:00.000003Z",
    ]
    assert dict(pairs[0])["event_time"] == "1970-01-01T00:00:00.000000Z"
    clean = sink.encode(_records(n, t0, fault=False))
    assert clean.ingest_times and batch.values[0] == clean.values[0]
    assert batch.values[2] == clean.values[2] and batch.values[3] == clean.values[3]
    assert batch.values[1] != clean.values[1] and clean.values[1].startswith(batch.values[1])
    assert batch.size == sum(map(len, batch.values))
    sink.config = sink.config.model_copy(update={"encoding": "string", "template": "{id},{name}"})
    sink.text = enc.Template.parse("{id},{name}")
    text = sink.encode(records)
    assert text.values[0] == b"0,name-0" and text.values[3] == b"3,name-3"
    assert b"1,name-1".startswith(text.values[1]) and text.values[1] != b"1,name-1"
    sink.config = sink.config.model_copy(update={"encoding": "avro", "template": None})
    avro = sink.encode(records)
    assert avro.values == sink.encode(_records(n, t0, fault=False)).values


def _records(n: int, t0: pa.Array, fault: bool = True):
    from headwater.sinks._project import Records

    ingest = pa.array([60_000_000 + i for i in range(n)], pa.timestamp("us", "UTC"))
    values = pa.table({"id": list(range(n)), "name": [f"name-{i}" for i in range(n)]})
    marks = [None, "malformed:truncate", "late", None] if fault else [None] * n
    return Records(
        "things",
        values,
        pa.array(list(range(n))),
        t0,
        pa.array(list(range(100, 100 + n)), pa.int64()),
        pa.array(["c"] * n),
        ingest,
        pa.array(marks, pa.string()),
    )
