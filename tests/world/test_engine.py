"""The world: determinism, referential integrity, consistent change chains, rates."""

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from headwater.world.engine import World

from tests.helpers import scenario


def all_changes(world):
    out = {}
    for ch in world.steps():
        for e, t in ch.tables.items():
            out.setdefault(e, []).append(t)
    return {e: pa.concat_tables(ts) for e, ts in out.items()}


@pytest.fixture(scope="module")
def run():
    w = World(scenario())
    return w, all_changes(w)


def test_same_seed_same_changes_and_other_seed_differs():
    a = all_changes(World(scenario()))
    b = all_changes(World(scenario()))
    c = all_changes(World(scenario(), seed=99))
    for e in a:
        assert a[e].equals(b[e])
    assert not a["orders"].equals(c["orders"])


def test_seq_is_monotonic_and_unique(run):
    _, ch = run
    seqs = np.concatenate([t["seq"].to_numpy() for t in ch.values()])
    assert len(np.unique(seqs)) == len(seqs)
    for t in ch.values():
        assert np.all(np.diff(t["seq"].to_numpy()) > 0)


def test_before_images_chain_exactly(run):
    """Every u/d's before image equals the previous after image of that key."""
    _, ch = run
    for entity, t in ch.items():
        last = {}
        for row in t.select(["op", "key", "before", "after"]).to_pylist():
            if row["op"] in ("u", "d"):
                assert row["before"] == last[row["key"]], (entity, row["key"])
            if row["op"] == "d":
                del last[row["key"]]
            else:
                last[row["key"]] = row["after"]


def test_children_share_their_parents_transaction(run):
    _, ch = run
    orders = ch["orders"].filter(pc.equal(ch["orders"]["op"], "c"))
    items = ch["order_items"].filter(pc.equal(ch["order_items"]["op"], "c"))
    txn_of_order = dict(zip(orders["key"].to_pylist(), orders["txn"].to_pylist(), strict=True))
    for oid, txn in zip(
        pc.struct_field(items["after"], "order_id").to_pylist(),
        items["txn"].to_pylist(),
        strict=True,
    ):
        assert txn_of_order[oid] == txn


def test_references_only_reach_rows_that_exist(run):
    """Replaying in seq order, every reference points at a live row at that moment."""
    _, ch = run
    events = []
    for entity, t in ch.items():
        for row in t.select(["seq", "op", "key", "after"]).to_pylist():
            events.append((row["seq"], entity, row))
    events.sort(key=lambda e: e[0])
    live = {"customers": set(), "orders": set(), "order_items": set()}
    refs = {"orders": ("customer_id", "customers"), "order_items": ("order_id", "orders")}
    for _, entity, row in events:
        if row["op"] == "d":
            live[entity].discard(row["key"])
            continue
        live[entity].add(row["key"])
        if entity in refs and row["op"] in "rc":
            field, target = refs[entity]
            value = row["after"][field]
            assert value is None or value in live[target], (entity, row["key"], value)


def test_deleted_parents_are_not_referenced_by_live_children(run):
    w, _ = run
    orders = w.current("orders")
    customers = set(w.current("customers")["id"].to_pylist())
    assert set(orders["customer_id"].drop_null().to_pylist()) <= customers


def test_rates_match_the_scenario(run):
    _, ch = run
    creates = pc.sum(pc.equal(ch["orders"]["op"], "c")).as_py()
    assert creates == pytest.approx(2 * 3600, rel=0.05)
    items = pc.sum(pc.equal(ch["order_items"]["op"], "c")).as_py()
    assert items / creates == pytest.approx(2.5, rel=0.05)


def test_state_machine_follows_transitions(run):
    _, ch = run
    u = ch["orders"].filter(pc.equal(ch["orders"]["op"], "u"))
    pairs = set(
        zip(
            pc.struct_field(u["before"], "status").to_pylist(),
            pc.struct_field(u["after"], "status").to_pylist(),
            strict=True,
        )
    )
    assert pairs == {("placed", "paid"), ("placed", "cancelled"), ("paid", "shipped")}


def test_insert_only_entities_keep_versions():
    text = """
    entities:
      devices:
        write: insert_only
        initial: 50
        fields:
          id: {seq: {}}
          fw: {choice: [a, b, c]}
        updates: {rate: 1/s, fields: [fw]}
    """
    ch = all_changes(World(scenario(text), duration=timedelta(minutes=10)))["devices"]
    ops = set(ch["op"].to_pylist())
    assert ops == {"r", "u", "c"}
    new_versions = ch.filter(pc.equal(ch["op"], "c"))
    assert pc.min(pc.struct_field(new_versions["after"], "version")).as_py() >= 2
    closed = ch.filter(pc.equal(ch["op"], "u"))
    assert pc.struct_field(closed["after"], "valid_to").null_count == 0


def test_memory_is_flat_for_immutable_event_entities():
    text = """
    clock: {start: 2026-01-01T00:00:00Z, duration: 2h}
    entities:
      readings:
        write: insert_only
        arrivals: 50/s
        fields:
          id: {seq: {}}
          v: {normal: {mean: 0, std: 1}}
    """
    w = World(scenario(text))
    for _ in w.steps():
        pass
    assert w.states["readings"].slots == 0


def test_deletes_never_precede_the_deletes_of_their_referrers(tmp_path):
    """Heavy delete traffic on parents and referrers: SQLite's FK checks pass on every commit."""
    from headwater.runner import run

    text = """
    clock: {start: 2026-01-01T00:00:00Z, duration: 30m}
    entities:
      customers:
        initial: 200
        arrivals: 1/s
        fields:
          id: {seq: {}}
        deletes: {rate: 2/s}
      orders:
        arrivals: 3/s
        fields:
          order_id: {seq: {}}
          customer_id: {ref: customers.id}
        deletes: {rate: 2/s}
      items:
        parent: {entity: orders, count: {min: 1, max: 3}}
        fields:
          item_id: {seq: {}}
          order_id: {ref: orders.order_id}
        deletes: {rate: 2/s}
    """
    sc = scenario(text, sinks="db: {kind: sqlite, path: fk.db}\n")
    report = run(sc, out_dir=tmp_path)
    assert report.entities["customers"]["d"] > 100 and report.entities["items"]["d"] > 100


def test_a_start_before_the_epoch_is_exact_to_the_microsecond():
    """The world's clock comes from the one exact conversion (micros.epoch_us): through
    int(timestamp()) a pre-1970 start with a fraction of a second lands a second late."""
    world = World(scenario(**{"start: 2026-01-01T00:00:00Z": "start: 1969-12-31T23:59:59.5Z"}))
    assert world.start_us == -500_000
