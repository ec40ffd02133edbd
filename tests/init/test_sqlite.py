"""`headwater init` from the SQLite database the demo writes: the scenario validates and runs,
rebuilds the same tables, keys and foreign keys, and with --profile its data has the source's
null rates and category weights."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from headwater.init import init_scenario
from headwater.resolve.load import loads

from tests.init._shop import demo_database, run_text, shares, tables


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_database(tmp_path_factory.mktemp("demo"))


def test_the_scenario_rebuilds_the_same_tables_keys_and_references(shop_db, tmp_path):
    text = init_scenario(f"sqlite:///{shop_db}")
    sc = loads(text)
    assert list(sc.entities) == ["customers", "products", "orders", "order_items", "payments"]
    run_text(text, tmp_path)
    assert tables(tmp_path / "shop.db") == tables(shop_db)


def test_generators_follow_names_types_and_references(shop_db):
    doc = yaml.safe_load(init_scenario(f"sqlite:///{shop_db}"))
    ents = doc["entities"]
    assert ents["customers"]["fields"]["email"] == {"fake": "email", "name": "name"}
    assert ents["customers"]["fields"]["updated_at"] == {"event_time": {"on_update": True}}
    assert ents["customers"]["indexes"] == [["email"]]
    assert ents["orders"]["fields"]["customer_id"] == {"ref": "customers.id"}
    assert ents["products"]["fields"]["price"]["decimal"]["scale"] == 2
    assert ents["products"]["fields"]["sku"] == {"format": "SKU-{product_id:08d}"}
    assert ents["payments"]["fields"]["payment_id"] == {"uuid": {"version": 7}}
    # order_items is named after its parent: created with each order
    assert ents["order_items"]["parent"] == {"entity": "orders", "count": {"min": 1, "max": 3}}


def test_profile_fits_null_rates_weights_and_parents(shop_db, tmp_path):
    text = init_scenario(f"sqlite:///{shop_db}", profile=True, sample=5000)
    ents = yaml.safe_load(text)["entities"]
    assert ents["payments"]["parent"] == {"entity": "orders", "count": 1}
    assert ents["order_items"]["parent"] == {"entity": "orders", "count": {"min": 1, "max": 5}}
    hot = ents["order_items"]["fields"]["product_id"]["skew"]["hot"]
    assert hot["keys"] == 0.02 and 0.3 < hot["share"] < 0.5  # the source's {keys: 0.02, share: 0.4}
    assert ents["products"]["initial"] == 2000

    run_text(text, tmp_path, minutes=30)
    made = tmp_path / "shop.db"
    for table, column in [
        ("orders", "note"),
        ("orders", "currency"),
        ("products", "category"),
        ("payments", "method"),
        ("order_items", "quantity"),
    ]:
        source, generated = shares(shop_db, table, column), shares(made, table, column)
        if column == "note":  # free text: only its null rate is fitted
            source, generated = {None: source[None]}, {None: generated[None]}
        assert set(generated) == set(source), (table, column)
        for value, share in source.items():
            assert generated[value] == pytest.approx(share, abs=0.04), (table, column, value)


def test_names_are_quoted_and_constraints_carried(tmp_path):
    db = tmp_path / "odd.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            """
            CREATE TABLE "order" ("id" INTEGER PRIMARY KEY, "from" TEXT NOT NULL,
              "yes" TEXT CHECK ("yes" IN ('on', 'off')), "first name" TEXT,
              qty INTEGER CHECK (qty BETWEEN 1 AND 9), code TEXT UNIQUE,
              weight REAL CHECK (weight >= 0.5));
            CREATE TABLE "order line" (order_id INTEGER NOT NULL REFERENCES "order"(id)
              ON DELETE CASCADE, line INTEGER NOT NULL, PRIMARY KEY (order_id, line));
            CREATE TABLE tags (name TEXT);
            """
        )
        conn.executemany(
            'INSERT INTO "order" VALUES (?, ?, ?, ?, ?, ?, ?)',
            [(i, "x", "on" if i % 4 else "off", None, i % 9 + 1, f"c{i}", 1.5) for i in range(200)],
        )
    text = init_scenario(f"sqlite:{db}", profile=True, sample=100)
    sc = loads(text)
    assert set(sc.entities) == {"order", "order line", "tags"}
    ents = yaml.safe_load(text)["entities"]
    order = ents["order"]["fields"]
    assert set(order["yes"]["choice"]) == {"on", "off"}
    assert order["code"] == {"format": "CODE-{id:08d}"}  # unique: built from the key
    assert order["first name"]["null_rate"] == 1.0
    assert ents["order line"]["key"] == "line"  # the key column that is not the reference
    assert ents["order line"]["parent"]["entity"] == "order"  # cascades with its parent
    assert ents["tags"]["key"] == "id"  # no primary key: a new key field
    assert "note: tags: it has no primary key" in text
    schema_only = yaml.safe_load(init_scenario(f"sqlite:{db}"))["entities"]["order"]["fields"]
    assert schema_only["qty"] == {"uniform": {"min": 1, "max": 9}}
    assert schema_only["weight"]["uniform"]["min"] == 0.5
    assert set(schema_only["yes"]["choice"]) == {"on", "off"}
    run_text(text, tmp_path / "run")
