"""The shop's items, orders and payments agree in every sink it writes: the memory sink's
change stream, the SQLite tables, the CDC files, and the orders exported as CSV."""

import csv
import json
import sqlite3
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from headwater.resolve.load import loads
from headwater.runner import build_sinks, run
from headwater.world.engine import World

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop.yaml"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    sc = loads(SHOP.read_text() + "  mem: {kind: memory}\n")
    sinks = build_sinks(sc, World(sc), out)
    run(sc, duration=timedelta(minutes=90), out_dir=out, sinks=sinks)
    return out, sinks["mem"]


def check_agree(orders, items, payments):
    """Totals and counts are their items'; a payment's amount is its order's total."""
    lines = defaultdict(list)
    for item in items.values():
        lines[item["order_id"]].append(Decimal(str(item["line_total"])))
        assert Decimal(str(item["line_total"])) == item["quantity"] * Decimal(
            str(item["unit_price"])
        )
    assert orders and payments
    for order_id, order in orders.items():
        assert Decimal(str(order["total"])) == sum(lines[order_id], Decimal(0)), order_id
        assert order["items"] == len(lines[order_id])
    for payment in payments.values():
        assert Decimal(str(payment["amount"])) == Decimal(str(orders[payment["order_id"]]["total"]))


def test_the_memory_sink_agrees(shop):
    _, mem = shop
    final = {}
    for entity in ("orders", "order_items", "payments"):
        rows = {}
        for r in mem.table(entity).sort_by("seq").select(["op", "key", "after"]).to_pylist():
            if r["op"] == "d":
                del rows[r["key"]]
            else:
                rows[r["key"]] = r["after"]
        final[entity] = rows
    check_agree(final["orders"], final["order_items"], final["payments"])


def test_sqlite_agrees(shop):
    out, _ = shop
    db = sqlite3.connect(out / "shop.db")
    db.row_factory = sqlite3.Row

    def table(name, key):
        return {r[key]: dict(r) for r in db.execute(f'SELECT * FROM "{name}"')}

    check_agree(
        table("orders", "order_id"),
        table("order_items", "item_id"),
        table("payments", "payment_id"),
    )


def cdc_events(out):
    events = []
    for path in sorted((out / "cdc").glob("*/dt=*/hour=*/*.jsonl")):
        events += [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(events, key=lambda e: e["source"]["lsn"])


def test_cdc_files_agree_and_items_take_a_price_the_product_had(shop):
    out, _ = shop
    keys = {"orders": "order_id", "order_items": "item_id", "payments": "payment_id"}
    tables: dict[str, dict] = defaultdict(dict)
    prices: dict[int, set[str]] = defaultdict(set)  # every price a product has had so far
    repriced = 0
    for e in cdc_events(out):
        table = e["source"]["table"]
        if table == "products" and e["op"] != "d":
            p = e["after"]
            repriced += (
                bool(prices[p["product_id"]]) and str(p["price"]) not in prices[p["product_id"]]
            )
            prices[p["product_id"]].add(str(p["price"]))
        if table == "order_items" and e["op"] == "c":
            assert str(e["after"]["unit_price"]) in prices[e["after"]["product_id"]], e
        if table in keys:
            key = keys[table]
            if e["op"] == "d":
                del tables[table][e["before"][key]]
            else:
                tables[table][e["after"][key]] = e["after"]
    assert repriced > 10  # prices do change while orders come in
    check_agree(tables["orders"], tables["order_items"], tables["payments"])


def test_exported_order_files_agree_with_the_items(shop):
    """Every exported version of an order carries its items' total (items never change in the
    shop, so the total an order is exported with is final)."""
    out, _ = shop
    db = sqlite3.connect(out / "shop.db")
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for order_id, line_total in db.execute("SELECT order_id, line_total FROM order_items"):
        totals[order_id] += Decimal(str(line_total))
    seen = 0
    for path in sorted((out / "exports").rglob("*.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                assert Decimal(row["total"]) == totals[int(row["order_id"])], row
                seen += 1
    assert seen > 500
