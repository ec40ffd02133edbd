"""SQLite sink: schema from the scenario, transactions, final state equals the world's."""

import sqlite3
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from headwater.errors import ScenarioError, SinkError
from headwater.resolve.load import loads
from headwater.runner import run

from tests.helpers import SHOP, scenario


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory):
    out = tmp_path_factory.mktemp("sqlite")
    sc = scenario(sinks="db: {kind: sqlite, path: shop.db}\nmem: {kind: memory}\n")
    report = run(sc, out_dir=out)
    return sqlite3.connect(out / "shop.db"), report


def test_foreign_keys_hold_and_are_declared(shop_db):
    db, _ = shop_db
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    ddl = db.execute("SELECT sql FROM sqlite_master WHERE name = 'order_items'").fetchone()[0]
    assert 'FOREIGN KEY ("order_id") REFERENCES "orders" ("order_id")' in ddl
    assert 'PRIMARY KEY ("item_id")' in ddl
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ix_orders_customer_id" in indexes


def _normalize(row, decimals):
    return tuple(float(v) if i in decimals and v is not None else v for i, v in enumerate(row))


def test_replaying_the_change_stream_reproduces_the_tables(shop_db):
    """Applying the change stream (as CDC consumers do) to an empty replica gives the same rows."""
    from headwater.sinks._live import LiveTable
    from headwater.sinks._sql import row_params
    from headwater.world.engine import World

    db, _ = shop_db
    world = World(scenario())
    replicas = {e: LiveTable(s.schema, s.key) for e, s in world.schemas.items()}
    for ch in world.steps():
        for entity, t in ch.tables.items():
            replicas[entity].apply(t)
    for entity, live in replicas.items():
        schema = world.schemas[entity]
        names = [f.name for f in schema.row_type]
        decimals = {i for i, f in enumerate(schema.row_type) if pa.types.is_decimal(f.type)}
        rows = pa.StructArray.from_arrays(
            [c.combine_chunks() for c in live.rows.columns], fields=list(schema.row_type)
        )
        expected = {_normalize(r, decimals) for r in row_params(rows, names)}
        got = {_normalize(r, decimals) for r in db.execute(f'SELECT * FROM "{entity}"')}
        assert got == expected, entity


def test_if_exists_fail_keeps_the_file(tmp_path):
    (tmp_path / "x.db").write_bytes(b"precious")  # outside the (new) output folder
    sc = scenario(sinks=f"db: {{kind: sqlite, path: '{tmp_path / 'x.db'}', if_exists: fail}}\n")
    with pytest.raises(SinkError, match="already exists"):
        run(sc, out_dir=tmp_path / "out")
    assert (tmp_path / "x.db").read_bytes() == b"precious"


def test_insert_only_tables_key_on_version(tmp_path):
    text = SHOP.replace(
        "  customers:\n    key: id", "  customers:\n    key: id\n    write: insert_only"
    )
    sc = loads(text + "sinks:\n  db: {kind: sqlite, path: v.db, entities: [customers]}\n")
    run(sc, out_dir=tmp_path)
    db = sqlite3.connect(tmp_path / "v.db")
    assert db.execute("SELECT max(version) FROM customers").fetchone()[0] >= 2
    most_open = db.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM customers WHERE valid_to IS NULL GROUP BY id)"
    ).fetchone()[0]
    assert most_open == 1  # at most one current version per key; deleted keys have none


# -- if_exists: replace replaces only what headwater made (issue 11, item 4) -------------------

TINY = timedelta(minutes=2)


def one(path: Path) -> str:
    """A sqlite sink at `path`, outside the runs' output folders (which must start empty)."""
    return f"db: {{kind: sqlite, path: '{path}'}}\n"


def test_replace_keeps_a_file_that_is_not_a_database(tmp_path):
    (tmp_path / "x.db").write_bytes(b"precious")
    with pytest.raises(SinkError) as err:
        run(scenario(sinks=one(tmp_path / "x.db")), duration=TINY, out_dir=tmp_path / "out")
    assert f"{tmp_path / 'x.db'} is not a SQLite database" in str(err.value)
    assert "move or delete it, or set path to another file" in str(err.value)
    assert (tmp_path / "x.db").read_bytes() == b"precious"


def test_replace_keeps_a_database_headwater_did_not_make(tmp_path):
    with sqlite3.connect(tmp_path / "x.db") as db:
        db.execute("CREATE TABLE customers (mine TEXT)")
        db.execute("INSERT INTO customers VALUES ('keep me')")
    db.close()
    with pytest.raises(SinkError, match="is a SQLite database headwater did not create"):
        run(scenario(sinks=one(tmp_path / "x.db")), duration=TINY, out_dir=tmp_path / "out")
    with sqlite3.connect(tmp_path / "x.db") as db:
        assert db.execute("SELECT mine FROM customers").fetchall() == [("keep me",)]


def test_replace_replaces_a_database_of_an_earlier_run(tmp_path):
    run(scenario(sinks=one(tmp_path / "x.db")), duration=TINY, out_dir=tmp_path / "out1")
    with sqlite3.connect(tmp_path / "x.db") as db:
        db.execute("CREATE TABLE leftover (x)")
    db.close()
    run(scenario(sinks=one(tmp_path / "x.db")), duration=TINY, out_dir=tmp_path / "out2")
    with sqlite3.connect(tmp_path / "x.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"customers", "orders", "order_items", "headwater_applied"}


def test_a_folder_at_path_is_an_error_naming_it(tmp_path):
    (tmp_path / "x.db").mkdir()
    (tmp_path / "x.db" / "inside").write_text("mine")
    with pytest.raises(ScenarioError, match=f"{tmp_path / 'x.db'} is a folder; set path to a"):
        scenario(sinks=one(tmp_path / "x.db"))  # an existing folder is known before running
    assert (tmp_path / "x.db" / "inside").read_text() == "mine"


@pytest.mark.parametrize("path", ["out/", ".", "{tmp}"])
def test_validate_refuses_a_path_that_names_a_folder(tmp_path, path):
    path = path.format(tmp=tmp_path)
    with pytest.raises(ScenarioError) as err:
        scenario(sinks=f"db: {{kind: sqlite, path: '{path}'}}\n")
    assert f"sinks.db.path: {path} is a folder; set path to a database file name" in str(err.value)


def test_a_file_where_the_folder_of_path_should_be_is_an_error_naming_it(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(SinkError, match=f"cannot create the folder {tmp_path / 'f'} for"):
        run(scenario(sinks=one(tmp_path / "f" / "x.db")), duration=TINY, out_dir=tmp_path / "o")
    assert (tmp_path / "f").read_text() == "mine"
