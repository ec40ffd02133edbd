"""The initial population comes in bounded chunks, with the same data whatever their size."""

import sqlite3
from contextlib import closing

import pyarrow as pa
import pytest

from headwater.runner import run
from headwater.world import engine
from headwater.world.engine import SNAPSHOT_BLOCK, World

from tests.helpers import scenario

ROOTS = SNAPSHOT_BLOCK * 3 // 2  # two blocks of customers, more of orders (families of 1-5 rows)


def _snapshot_and_rest(rows: int) -> tuple[list, dict[str, pa.Table]]:
    sc = scenario(**{"initial: 300": f"initial: {ROOTS}", "duration: 1h": "duration: 5m"})
    sc = sc.model_copy(
        update={
            "entities": {
                **sc.entities,
                "orders": sc.entities["orders"].model_copy(update={"initial": ROOTS}),
            }
        }
    )
    chunks, tables = [], {}
    for changes in World(sc, snapshot_rows=rows).steps():
        if changes.step == 0:
            chunks.append(changes)
        for entity, table in changes.tables.items():
            tables.setdefault(entity, []).append(table)
    return chunks, {e: pa.concat_tables(ts) for e, ts in tables.items()}


@pytest.fixture(scope="module")
def runs():
    return _snapshot_and_rest(SNAPSHOT_BLOCK), _snapshot_and_rest(100 * SNAPSHOT_BLOCK)


def test_chunk_size_does_not_change_the_data(runs):
    (small, small_all), (large, large_all) = runs
    assert len(large) == 1 and len(small) > 3
    assert all(len(c) <= 2 * SNAPSHOT_BLOCK for c in small)
    assert small_all.keys() == large_all.keys()
    for entity, table in large_all.items():
        assert small_all[entity].equals(table), entity
    snapshot = large[0].tables
    assert snapshot["customers"].num_rows == ROOTS == snapshot["orders"].num_rows
    assert snapshot["order_items"].num_rows > ROOTS


def test_children_follow_their_parents_and_references_hold_in_every_chunk(runs):
    (chunks, _), _ = runs
    orders_seen: set[int] = set()
    customers = set()
    for changes in chunks:
        customers |= set(changes.tables.get("customers", pa.table({"key": []}))["key"].to_pylist())
        orders = changes.tables.get("orders")
        if orders is not None:
            after = orders["after"].combine_chunks()
            assert set(after.field("customer_id").to_pylist()) - {None} <= customers
            orders_seen |= dict.fromkeys(orders["key"].to_pylist()).keys()
            first = {
                k: s
                for k, s in zip(orders["key"].to_pylist(), orders["seq"].to_pylist(), strict=True)
            }
        items = changes.tables.get("order_items")
        if items is not None:
            parents = items["after"].combine_chunks().field("order_id").to_pylist()
            assert set(parents) <= orders_seen
            for parent, seq in zip(parents, items["seq"].to_pylist(), strict=True):
                if parent in first:
                    assert first[parent] < seq


def _sqlite(tmp_path, monkeypatch, rows: int) -> dict[str, list]:
    monkeypatch.setattr(engine, "SNAPSHOT_BLOCK", 64)  # many blocks from a small population
    monkeypatch.setattr(engine, "SNAPSHOT_ROWS", rows)
    sc = scenario(
        sinks="db: {kind: sqlite, path: shop.db}",
        **{"initial: 300": "initial: 2000", "duration: 1h": "duration: 3m"},
    )
    run(sc, out_dir=tmp_path, ledger=False)
    with closing(sqlite3.connect(tmp_path / "shop.db")) as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("customers", "orders", "order_items")
        }


def test_a_sink_loads_the_same_rows_whatever_the_chunk_size(tmp_path, monkeypatch):
    small = _sqlite(tmp_path / "small", monkeypatch, 100)
    large = _sqlite(tmp_path / "large", monkeypatch, 1 << 30)
    assert len(small["customers"]) > 2000 - 100  # the snapshot, less a few deletes
    assert small == large
