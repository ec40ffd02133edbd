"""The mongodb sink against a private MongoDB-wire server (SecantusDB, standing in for
MongoDB): final state read back with pymongo, the change stream resumed from a saved token,
BSON types, validation, the missing driver."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from headwater.errors import MissingExtra, ScenarioError
from headwater.resolve.load import loads
from headwater.sinks import SINKS
from headwater.sinks.base import SinkContext
from headwater.world.engine import World

from tests.capture._db import world_final
from tests.sinks._streams import run_world

pymongo = pytest.importorskip("pymongo")
from bson import Decimal128  # noqa: E402

DURATION = dt.timedelta(minutes=3)
SHOP = """
name: mongo_shop
seed: 11
clock: {start: 2026-01-01T00:00:00Z, duration: 3m, step: 1m}
entities:
  products:
    key: product_id
    initial: 30
    fields:
      product_id: {seq: {}}
      title: {fake: catch_phrase}
      price: {decimal: {min: 2, max: 500, scale: 2}}
    updates: {rate: 1/s, fields: [price]}
  orders:
    key: order_id
    arrivals: 2/s
    fields:
      order_id: {seq: {}}
      status: {choice: {placed: 3, paid: 1}}
      placed_at: {event_time: {}}
    updates: {rate: 1/s, fields: [status]}
    deletes: {rate: 0.3/s}
  order_items:
    parent: {entity: orders, count: {min: 1, max: 3}}
    fields:
      item_id: {seq: {}}
      order_id: {ref: orders.order_id}
      product_id: {ref: products.product_id}
      unit_price: {decimal: {min: 2, max: 300, scale: 2}}
sinks:
  mem: {kind: memory}
"""


def shop(sink: str) -> Any:
    return loads(SHOP + f"  s: {sink}\n")


def plain(value: Any) -> Any:
    """A BSON value as the world holds it: Decimal128 as Decimal, times in UTC."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return value


def as_rows(docs: dict[Any, dict[str, Any]], columns: list[str]) -> set[tuple[Any, ...]]:
    return {tuple(plain(d).get(c) for c in columns) for d in docs.values()}


def bson_time(v: Any) -> Any:
    """A world time as a BSON date holds it: UTC, truncated to the millisecond."""
    if not isinstance(v, dt.datetime):
        return v
    return v.replace(tzinfo=dt.UTC, microsecond=v.microsecond // 1000 * 1000)


def world_rows(sc: Any) -> dict[str, set[tuple[Any, ...]]]:
    """The world's final rows, values as they read back from MongoDB."""
    return {
        e: {tuple(bson_time(v) for v in row) for row in rows}
        for e, rows in world_final(sc, DURATION).items()
    }


def columns(sc: Any) -> dict[str, list[str]]:
    return {e: [f.name for f in s.row_type] for e, s in World(sc).schemas.items()}


class Feed:
    """A database's change stream from a point taken now: `events()` resumes from it."""

    def __init__(self, url: str, database: str):
        self.client = pymongo.MongoClient(url, tz_aware=True)
        self.db = self.client[database]
        with self.db.watch(full_document="updateLookup") as stream:
            stream.try_next()
            self.token = stream.resume_token

    def raw(self, idle: float = 1.5) -> Iterator[dict[str, Any]]:
        """Every event since the token, until none arrives for `idle` seconds."""
        with self.db.watch(full_document="updateLookup", resume_after=self.token) as stream:
            last = time.monotonic()
            while time.monotonic() - last < idle:
                event = stream.try_next()
                if event is not None:
                    last = time.monotonic()
                    self.token = stream.resume_token
                    yield event

    def events(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(collection, c/u/d, image): whole documents for inserts and replacements, the key
        for deletes."""
        out = []
        ops = {"insert": "c", "replace": "u", "update": "u", "delete": "d"}
        try:
            for e in self.raw():
                op = ops[e["operationType"]]
                if op == "d":
                    image = {"_id": str(e["documentKey"]["_id"])}
                else:
                    image = {k: v for k, v in plain(e["fullDocument"]).items() if k != "_id"}
                out.append((e["ns"]["coll"], op, image))
        finally:
            self.client.close()
        return out


def replay(events: list[dict[str, Any]], state: dict[str, dict[Any, Any]]) -> None:
    """Apply change events to {collection: {_id: document}} as an ingester does."""
    for e in events:
        docs = state.setdefault(e["ns"]["coll"], {})
        key = e["documentKey"]["_id"]
        if e["operationType"] == "delete":
            docs.pop(key, None)
        elif e.get("fullDocument") is not None:  # None: deleted since; its delete follows
            docs[key] = e["fullDocument"]


@pytest.fixture
def db(mongo_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    client = pymongo.MongoClient(mongo_server.url, tz_aware=True)
    name = "t_" + "".join(c for c in request.node.name if c.isalnum())[:40]
    client.drop_database(name)
    try:
        yield client[name]
    finally:
        client.close()


def read_back(db: Any, sc: Any) -> dict[str, set[tuple[Any, ...]]]:
    return {
        e: as_rows({d["_id"]: d for d in db[e].find()}, cols) for e, cols in columns(sc).items()
    }


@pytest.mark.parametrize(
    "options", ["{}", "{update: set}", "{batch: step}"], ids=["replace", "set", "step"]
)
def test_final_state_equals_the_worlds(
    mongo_server: Any, db: Any, tmp_path: Path, options: str
) -> None:
    extra = options.strip("{}")
    sc = shop(
        f"{{kind: mongodb, url: '{mongo_server.url}', database: {db.name}"
        + (f", {extra}" if extra else "")
        + "}"
    )
    r = run_world(sc, tmp_path, ledger=True)
    assert read_back(db, sc) == world_rows(sc)
    stats = r.stats("s")
    counts = stats["counts"]
    assert stats["inserted"] == sum(ops.get("r", 0) + ops.get("c", 0) for ops in counts.values())
    assert stats["deleted"] == sum(ops.get("d", 0) for ops in counts.values())
    assert stats["matched"] == sum(ops.get("u", 0) for ops in counts.values())


def test_decimals_and_times_are_bson_types(mongo_server: Any, db: Any, tmp_path: Path) -> None:
    sc = shop(f"{{kind: mongodb, url: '{mongo_server.url}', database: {db.name}}}")
    run_world(sc, tmp_path)
    product = db.products.find_one({"_id": 1})
    assert isinstance(product["price"], Decimal128) and product["product_id"] == 1
    order = db.orders.find_one()
    assert isinstance(order["placed_at"], dt.datetime) and order["_id"] == order["order_id"]


def test_change_stream_resumed_from_a_saved_token_replays_the_final_state(
    mongo_server: Any, db: Any, tmp_path: Path
) -> None:
    feed = Feed(mongo_server.url, db.name)
    sc = shop(f"{{kind: mongodb, url: '{mongo_server.url}', database: {db.name}}}")
    run_world(sc, tmp_path)
    state: dict[str, dict[Any, Any]] = {}
    first = []
    for event in feed.raw():  # part of the stream, then stop with the token saved
        first.append(event)
        if len(first) == 100:
            break
    replay(first, state)
    saved = feed.token
    rest = list(feed.raw())  # a new stream, resumed after the saved token
    assert feed.token != saved and rest, "nothing after the token"
    assert rest[0]["_id"] != first[-1]["_id"], "resumed at, not after, the saved event"
    replay(rest, state)
    ops = {e["operationType"] for e in first + rest}
    assert {"insert", "replace", "delete"} <= ops
    got = {e: as_rows(state.get(e, {}), cols) for e, cols in columns(sc).items()}
    assert got == world_rows(sc)


@pytest.mark.parametrize(
    ("sink", "path", "says"),
    [
        ("{kind: mongodb, collection: '{table}'}", "sinks.s.collection", "{entity}"),
        ("{kind: mongodb, collection: '{entity.x}'}", "sinks.s.collection", "{entity}"),
        ("{kind: mongodb, collection: 'system.{entity}'}", "sinks.s.collection", "collection"),
        ("{kind: mongodb, database: 'a.b'}", "sinks.s.database", "database name"),
        ("{kind: mongodb, update: merge}", "sinks.s.update", "replace"),
        ("{kind: mongodb, collection: all}", "sinks.s.collection", "both go to 'all'"),
    ],
)
def test_validation_names_the_yaml_path(sink: str, path: str, says: str) -> None:
    with pytest.raises(ScenarioError) as err:
        shop(sink)
    assert path in str(err.value) and says in str(err.value), str(err.value)


def test_without_pymongo_open_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sc = shop("{kind: mongodb, url: 'mongodb://app:s3cretPW@127.0.0.1:1/'}")
    monkeypatch.setitem(sys.modules, "pymongo", None)
    context = SinkContext(World(sc).schemas, tmp_path, sc.seed, sc.name, dict(sc.sinks))
    sink = SINKS.get("mongodb")("s", sc.sinks["s"], context)
    with pytest.raises(MissingExtra) as err:
        sink.open()
    assert "mongodb" in str(err.value) and "s3cretPW" not in str(err.value)


def test_decimal_converter_keeps_every_digit() -> None:
    import pyarrow as pa

    from headwater.sinks.mongodb import _converter

    convert = _converter(pa.decimal128(12, 4), Decimal128)
    assert convert is not None and convert(Decimal("-12.3400")) == Decimal128("-12.3400")
    nested = _converter(pa.list_(pa.decimal128(5, 2)), Decimal128)
    assert nested is not None and nested([Decimal("1.50"), None]) == [Decimal128("1.50"), None]


EMBED = "embed: {order_items: {into: orders, as: items}}"


def test_embedded_children_are_their_parents_array(
    mongo_server: Any, db: Any, tmp_path: Path
) -> None:
    sc = shop(f"{{kind: mongodb, url: '{mongo_server.url}', database: {db.name}, {EMBED}}}")
    run_world(sc, tmp_path)
    cols = columns(sc)
    want = world_rows(sc)
    assert "order_items" not in db.list_collection_names()
    orders = {d["_id"]: d for d in db.orders.find()}
    assert as_rows(orders, cols["orders"]) == want["orders"]
    items = {(d["_id"], i["item_id"]): i for d in orders.values() for i in d["items"]}
    assert as_rows(items, cols["order_items"]) == want["order_items"]
    assert all(i["order_id"] == o for (o, _), i in items.items())
    assert any(len(d["items"]) > 1 for d in orders.values())


@pytest.mark.parametrize(
    ("embed", "path", "says"),
    [
        ("{nope: {into: orders, as: items}}", "sinks.s.embed.nope", "not an entity"),
        ("{orders: {into: products, as: orders}}", "sinks.s.embed.orders.into", "ref"),
        ("{order_items: {into: orders, as: status}}", "sinks.s.embed.order_items.as", "taken"),
        ("{order_items: {into: orders}}", "sinks.s.embed.order_items.as", "required"),
    ],
)
def test_embed_validation_names_the_yaml_path(embed: str, path: str, says: str) -> None:
    with pytest.raises(ScenarioError) as err:
        shop(f"{{kind: mongodb, embed: {embed}}}")
    assert path in str(err.value) and says in str(err.value), str(err.value)


@pytest.mark.parametrize("embed", ["", f", {EMBED}"], ids=["collections", "embedded"])
def test_a_bulk_whose_acknowledgement_is_lost_is_resent_as_upserts(
    mongo_server: Any, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embed: str
) -> None:
    """The server applied the bulk but the connection dropped before its answer: the resend
    must land the same state (no duplicate key error, no child twice)."""
    from pymongo.collection import Collection
    from pymongo.errors import AutoReconnect

    real = Collection.bulk_write
    lost = {"n": 0}

    def drop_every_fifth_answer(self: Any, requests: Any, **kw: Any) -> Any:
        result = real(self, requests, **kw)
        lost["n"] += 1
        if lost["n"] % 5 == 0:
            raise AutoReconnect("connection closed")
        return result

    monkeypatch.setattr(Collection, "bulk_write", drop_every_fifth_answer)
    url = mongo_server.url
    sc = shop(
        f"{{kind: mongodb, url: '{url}', database: {db.name}, "
        f"retry: {{initial: 1ms, max: 1ms}}{embed}}}"
    )
    r = run_world(sc, tmp_path)
    monkeypatch.setattr(Collection, "bulk_write", real)
    stats = r.stats("s")
    assert stats["retries"] > 0 and stats["resent"] > 0
    cols, want = columns(sc), world_rows(sc)
    orders = {d["_id"]: d for d in db.orders.find()}
    assert as_rows(orders, cols["orders"]) == want["orders"]
    if embed:
        items = {(d["_id"], i["item_id"]): i for d in orders.values() for i in d["items"]}
        assert sum(len(d["items"]) for d in orders.values()) == len(items)
    else:
        items = {d["_id"]: d for d in db.order_items.find()}
    assert as_rows(items, cols["order_items"]) == want["order_items"]
