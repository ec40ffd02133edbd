"""The redis key-value sink against private redis-servers, read back with redis-py: each
entity's live rows as keys, equal to the world's final state."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from headwater.errors import ScenarioError, SinkError, SinkUnavailable
from headwater.ledger import LedgerReader
from headwater.testing.servers import RedisServer, free_port

from tests.capture._db import world_final
from tests.conftest import served
from tests.contract._harness import cell
from tests.sinks._streams import Outage, Run, run_world, world

redis = pytest.importorskip("redis")

TWO_MINUTES = {
    "duration: 10m, step: 1m": "duration: 2m, step: 30s",
    "initial: 200": "initial: 60",
    "email: {fake: email}": "email: {fake: email, null_rate: 0.3}",  # updates null it, or not
}
DURATION = dt.timedelta(minutes=2)
#: A world in the future: `expire_at` a field keeps keys alive on Redis's clock.
LATER = {"start: 2026-01-01T00:00:00Z": "start: 2036-01-01T00:00:00Z"}
PASSWORD = "s3cretPW"


def typed(text: str, t: pa.DataType) -> Any:
    """A hash field's text as the world's value (as tests.contract._harness.cell has it)."""
    if pa.types.is_boolean(t):
        return {"true": 1, "false": 0}[text]
    if pa.types.is_integer(t):
        return int(text)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return float(text)
    return text


def read_keys(url: str, pattern: str, layout: str = "hash") -> dict[str, dict[str, Any]]:
    """Every key matching `pattern`: its hash or decoded JSON, by key."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys = sorted(client.scan_iter(match=pattern, count=1000))
        if layout == "json":
            return {k: json.loads(client.get(k)) for k in keys}
        return {k: client.hgetall(k) for k in keys}
    finally:
        client.close()


def rows_of(
    url: str, pattern: str, row_type: pa.StructType, fields: list[str] | None = None, **kw: Any
) -> set[tuple[Any, ...]]:
    """An entity's stored rows as tuples of `fields` (default: all), made comparable."""
    names = fields or [f.name for f in row_type]
    types = {f.name: f.type for f in row_type}
    layout = kw.get("layout", "hash")
    out = set()
    for value in read_keys(url, pattern, layout).values():
        if layout == "json":
            out.add(tuple(cell(value.get(n)) for n in names))
        else:
            out.add(tuple(None if n not in value else typed(value[n], types[n]) for n in names))
    return out


def final(sc: Any, entity: str, fields: list[str] | None = None) -> set[tuple[Any, ...]]:
    """The world's final rows of `entity` (only `fields`), made comparable."""
    schema = [f.name for f in run_schema(sc, entity)]
    pick = [schema.index(f) for f in fields] if fields else range(len(schema))
    return {tuple(cell(row[i]) for i in pick) for row in world_final(sc, DURATION)[entity]}


def run_schema(sc: Any, entity: str) -> pa.StructType:
    from headwater.world.schema import world_schemas

    return world_schemas(sc)[entity].row_type


def test_final_state_as_hashes_equals_the_worlds(redis_server: RedisServer, tmp_path) -> None:
    sc = world(
        f"r: {{kind: redis, url: '{redis_server.url}', key: 'h:{{entity}}:{{key}}', batch: 7}}",
        **TWO_MINUTES,
    )
    r = run_world(sc, tmp_path, ledger=True)
    for entity in ("customers", "orders"):
        got = rows_of(redis_server.url, f"h:{entity}:*", run_schema(sc, entity))
        assert got == final(sc, entity), entity
    counts = r.stats("r")["counts"]
    assert counts["customers"]["d"] > 0 and counts["customers"]["u"] > 0
    hashes = read_keys(redis_server.url, "h:customers:*").values()
    assert any("email" not in h for h in hashes) and any("email" in h for h in hashes)
    ledger = LedgerReader(tmp_path / "ledger")
    assert ledger.complete
    assert ledger.published("r") == {e: sum(ops.values()) for e, ops in counts.items()}
    client = redis.Redis.from_url(redis_server.url)
    assert client.pttl("h:customers:1") == -1  # no ttl asked: none set
    assert int(client.get("headwater:applied:r")) == r.sinks["r"].applied > 0


def test_json_with_a_field_subset_ttl_and_expire_at(redis_server: RedisServer, tmp_path) -> None:
    fields = ["id", "email", "vip"]
    sc = world(
        f"r: {{kind: redis, url: '{redis_server.url}', key: 'j:{{entity}}:{{key}}', "
        f"per_entity: {{customers: {{as: json, ttl: 1h, fields: [{', '.join(fields)}]}}, "
        "orders: {expire_at: placed_at, key: 'j:order:{country}:{order_id}'}}}",
        **TWO_MINUTES,
        **LATER,
    )
    run_world(sc, tmp_path)
    url = redis_server.url
    customers = rows_of(url, "j:customers:*", run_schema(sc, "customers"), fields, layout="json")
    assert customers == final(sc, "customers", fields)
    assert rows_of(url, "j:order:*", run_schema(sc, "orders")) == final(sc, "orders")
    client = redis.Redis.from_url(url, decode_responses=True)
    some = next(client.scan_iter(match="j:customers:*"))
    assert 0 < client.pttl(some) <= 3_600_000
    order = next(client.scan_iter(match="j:order:*"))
    placed = dt.datetime.fromisoformat(client.hget(order, "placed_at"))
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert client.pexpiretime(order) == (placed - epoch) // dt.timedelta(milliseconds=1)
    assert order.split(":")[2] == client.hget(order, "country")


@pytest.mark.parametrize(
    ("sink", "path", "says"),
    [
        ("key: '{entity}:{emial}'", "sinks.r.key", "did you mean 'email'"),
        (
            "per_entity: {orders: {key: 'o:{oder_id}'}}",
            "sinks.r.per_entity.orders.key",
            "did you mean 'order_id'",
        ),
        (
            "per_entity: {customers: {fields: [id, mail]}}",
            "sinks.r.per_entity.customers.fields[1]",
            "email",
        ),
        ("expire_at: country", "sinks.r.expire_at", "not a timestamp"),
        ("per_entity: {users: {as: json}}", "sinks.r.per_entity.users", "no entity 'users'"),
        ("as: list", "sinks.r.as", "hash"),
        (
            "ttl: 1h, per_entity: {orders: {expire_at: placed_at}}",
            "sinks.r.per_entity.orders.expire_at",
            "one of the two",
        ),
        ("ttl: 0s", "sinks.r.ttl", "at least 1ms"),
        ("fields: []", "sinks.r.fields", "at least 1"),
        ("key: '{entity'", "sinks.r.key", "bad template"),
    ],
)
def test_validation_names_the_yaml_path(sink: str, path: str, says: str) -> None:
    with pytest.raises(ScenarioError) as err:
        world(f"r: {{kind: redis, {sink}}}")
    assert path in str(err.value) and says in str(err.value), str(err.value)


def test_stream_faults_are_refused_a_store_takes_state() -> None:
    with pytest.raises(ScenarioError, match=r"sinks\.r\.faults\.duplicate"):
        world("r: {kind: redis, faults: {duplicate: 0.1}}")


def test_dead_server_names_the_sink_and_never_the_password(tmp_path) -> None:
    port = free_port()
    sc = world(
        f"r: {{kind: redis, url: 'redis://app:{PASSWORD}@127.0.0.1:{port}/0', "
        "connect_timeout: 1s}",
        **TWO_MINUTES,
    )
    with pytest.raises(SinkUnavailable) as err:
        run_world(sc, tmp_path)
    assert "sink 'r'" in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    assert PASSWORD not in str(err.value)


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    yield from served(RedisServer(options=["--appendonly", "yes", "--appendfsync", "always"]))


@pytest.fixture
def forgetful_redis() -> Iterator[RedisServer]:
    yield from served(RedisServer())


RIDE_OUT = "retry: {for: 60s, initial: 50ms, max: 500ms}"


def outage_run(server: RedisServer, tmp_path) -> tuple[Any, Outage, Run | None]:
    sc = world(f"r: {{kind: redis, url: '{server.url}', {RIDE_OUT}}}", **TWO_MINUTES)
    outage = Outage(server, at=1, sig=signal.SIGKILL)
    try:
        return sc, outage, run_world(sc, tmp_path, ledger=True, on_step=outage)
    finally:
        outage.join()


def test_server_killed_mid_run_the_sink_reconnects_and_ends_with_the_worlds_state(
    durable_redis: RedisServer, tmp_path
) -> None:
    sc, _, r = outage_run(durable_redis, tmp_path)
    assert r is not None
    assert r.stats("r")["retries"] > 0 and r.stats("r")["reconnects"] > 0
    for entity in ("customers", "orders"):
        got = rows_of(durable_redis.url, f"{entity}:*", run_schema(sc, entity))
        assert got == final(sc, entity), entity
    ledger = LedgerReader(tmp_path / "ledger")
    assert ledger.complete
    acked = ledger.acks("r")["event_id"].to_pylist()  # EXEC replies, or the bookkeeping key
    changes = sum(sum(ops.values()) for ops in r.stats("r")["counts"].values())
    assert len(acked) == len(set(acked)) == changes == r.stats("r")["acknowledged"]


def test_a_server_that_lost_applied_transactions_fails_the_run_naming_the_sink(
    forgetful_redis: RedisServer, tmp_path
) -> None:
    with pytest.raises(SinkError) as err:
        outage_run(forgetful_redis, tmp_path)
    assert "sink 'r'" in str(err.value) and "lost world transactions" in str(err.value)
    assert not LedgerReader(tmp_path / "ledger").complete


def test_server_gone_for_longer_than_retry_for_fails_naming_the_sink(
    forgetful_redis: RedisServer, tmp_path
) -> None:
    sc = world(
        f"r: {{kind: redis, url: '{forgetful_redis.url}', "
        "retry: {for: 300ms, initial: 50ms, max: 100ms}}",
        **TWO_MINUTES,
    )
    outage = Outage(forgetful_redis, at=1, down=3.0, sig=signal.SIGKILL)
    try:
        with pytest.raises(SinkUnavailable, match=r"sink 'r'.*unreachable for 0\.3 s"):
            run_world(sc, tmp_path, on_step=outage)
    finally:
        outage.join()


@pytest.fixture
def notifying_redis() -> Iterator[RedisServer]:
    yield from served(RedisServer(options=["--notify-keyspace-events", "KEA"]))


def test_keyspace_notifications_carry_key_and_op_for_every_key_written(
    notifying_redis: RedisServer, tmp_path
) -> None:
    client = redis.Redis.from_url(notifying_redis.url, decode_responses=True)
    pubsub = client.pubsub()
    pubsub.psubscribe("__keyspace@0__:*")
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    seen: list[tuple[str, str]] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            m = pubsub.get_message(timeout=0.1)
            if m is not None:
                seen.append((m["channel"].removeprefix("__keyspace@0__:"), m["data"]))

    thread = threading.Thread(target=listen)
    thread.start()
    try:
        sc = world(f"r: {{kind: redis, url: '{notifying_redis.url}'}}", **TWO_MINUTES)
        r = run_world(sc, tmp_path)
        time.sleep(0.5)  # fire-and-forget: what arrives, arrives now or never
    finally:
        stop.set()
        thread.join()
        pubsub.close()
    ops = Counter(op for _, op in seen)
    counts = r.stats("r")["counts"]
    assert ops["del"] == counts["customers"]["d"]
    live = set(read_keys(notifying_redis.url, "customers:*")) | set(
        read_keys(notifying_redis.url, "orders:*")
    )
    written = {key for key, op in seen if op == "hset"}
    assert live <= written and live
    assert {key for key, op in seen if op == "del"}.isdisjoint(live)
    assert all(isinstance(op, str) and ":" not in op for _, op in seen)  # key + op, no value
