"""verify compares values, not the target's storage type, unless asked to be strict.

A pipeline may land decimals as text or DOUBLE, timestamps as ISO-8601 text, booleans as
'true'/'false' and BIGINT keys as INTEGER: the values are right, so the landing is right
(a note says how it was stored). A value that differs, or does not read as the expected
type, is wrong; `strict=True` / `--strict-types` also fails on the storage type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.resolve.load import loads
from headwater.runner import build_sinks, run
from headwater.sinks._live import LiveTable
from headwater.verify import verify
from headwater.world.engine import World

SCENARIO = """
name: st
seed: 5
clock: {start: 2026-01-01T00:00:00Z, duration: 3m, step: 30s}
entities:
  accounts:
    key: id
    initial: 60
    arrivals: 0.2/s
    fields:
      id: {seq: {}}
      price: {decimal: {min: 1, max: 900, scale: 2}}
      balance: {decimal: {min: 1000000000000, max: 9999999999999999, scale: 2}}
      paid: {bool: {p: 0.5}}
      opened_at: {event_time: {on_update: true}}
    updates: {rate: 0.3/s, fields: [price, balance]}
    deletes: {rate: 0.05/s}
sinks:
  src: {kind: memory}
"""
BASE = ["seq", "txn", "op", "event_time", "key", "before", "after"]
# the same values, stored as a pipeline that does not keep types might store them
AS_TEXT = """SELECT id::INTEGER AS id, price::VARCHAR AS price, balance::VARCHAR AS balance,
    paid::VARCHAR AS paid, strftime(opened_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS opened_at FROM t"""


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("run")
    sc = loads(SCENARIO)
    world = World(sc)
    sinks = build_sinks(sc, world, out)
    run(sc, out_dir=out, sinks=sinks)
    schema = world.schemas["accounts"]
    live = LiveTable(schema.schema, schema.key)
    for part in sinks["src"].changes["accounts"]:  # type: ignore[attr-defined]
        live.apply(part.select(BASE))
    assert live.rows.num_rows > 50
    return {"ledger": out / "ledger", "rows": live.rows}


def land(ledger: dict[str, Any], path: Path, select: str, *sql: str) -> Path:
    """A DuckDB target holding the correct final state as `select` (over `t`) stores it."""
    con = duckdb.connect(str(path))
    con.register("t", ledger["rows"])
    con.execute(f"CREATE TABLE accounts AS {select}")
    for statement in sql:
        con.execute(statement)
    con.close()
    return path


def accounts(report: Any) -> Any:
    return next(e for e in report.entities if e.entity == "accounts")


def test_values_stored_as_text_pass_with_a_note(ledger, tmp_path):
    db = land(ledger, tmp_path / "text.duckdb", AS_TEXT)
    report = verify(ledger["ledger"], db)
    r = accounts(report)
    assert report.ok and r.ok, report.as_dict()
    assert r.matched == r.expected == ledger["rows"].num_rows
    assert {c["field"]: c["found"] for c in r.column_types} == {
        "id": "INTEGER",
        "price": "VARCHAR",
        "balance": "VARCHAR",
        "paid": "VARCHAR",
        "opened_at": "VARCHAR",
    }
    assert any("accounts.price" in n and "DECIMAL(18,2)" in n for n in report.notes)
    assert report.as_dict()["entities"]["accounts"]["ok"]


def test_decimals_as_double_pass(ledger, tmp_path):
    select = "SELECT * REPLACE (price::DOUBLE AS price, balance::DOUBLE AS balance) FROM t"
    report = verify(ledger["ledger"], land(ledger, tmp_path / "double.duckdb", select))
    assert report.ok, report.as_dict()


def test_timestamps_as_text_with_an_offset_pass(ledger, tmp_path):
    select = """SELECT * REPLACE (strftime(opened_at + INTERVAL 2 HOUR,
        '%Y-%m-%dT%H:%M:%S.%f+02:00') AS opened_at) FROM t"""
    report = verify(ledger["ledger"], land(ledger, tmp_path / "tz.duckdb", select))
    assert report.ok, report.as_dict()


def test_a_decimal_that_differs_is_wrong_even_where_a_double_cannot_tell(ledger, tmp_path):
    first = ledger["rows"]["id"][0].as_py()
    second = ledger["rows"]["id"][1].as_py()
    third = ledger["rows"]["id"][2].as_py()
    db = land(
        ledger,
        tmp_path / "wrong.duckdb",
        AS_TEXT,
        # one cent off a 16-digit balance: equal as DOUBLEs, not as decimals
        f"UPDATE accounts SET balance = (balance::DECIMAL(18,2) + 0.01)::VARCHAR WHERE id = {first}",
        f"UPDATE accounts SET price = price || '1' WHERE id = {second}",  # 12.34 → 12.341
        f"UPDATE accounts SET price = 'n/a' WHERE id = {third}",
    )
    r = accounts(verify(ledger["ledger"], db))
    assert not r.ok
    assert (r.wrong, r.diffs, r.type_errors) == (3, {"balance": 1, "price": 2}, {"price": 1})
    samples = {s["key"]: s["fields"] for s in r.samples["wrong"]}
    assert samples[second]["price"]["found"].endswith("1")
    assert samples[third]["price"]["found"] == "n/a"


def test_a_double_off_the_decimal_is_wrong(ledger, tmp_path):
    first = ledger["rows"]["id"][0].as_py()
    select = "SELECT * REPLACE (price::DOUBLE AS price) FROM t"
    sql = f"UPDATE accounts SET price = price + 0.001 WHERE id = {first}"
    r = accounts(verify(ledger["ledger"], land(ledger, tmp_path / "d.duckdb", select, sql)))
    assert (r.wrong, r.diffs) == (1, {"price": 1})


def test_strict_types_fail_on_the_storage_type(ledger, tmp_path):
    db = land(ledger, tmp_path / "text.duckdb", AS_TEXT)
    report = verify(ledger["ledger"], db, strict=True)
    r = accounts(report)
    assert not report.ok and not r.ok and r.wrong == 0
    assert {"field": "price", "expected": "DECIMAL(18,2)", "found": "VARCHAR"} in r.column_types
    same = land(ledger, tmp_path / "same.duckdb", "SELECT * FROM t")
    assert verify(ledger["ledger"], same, strict=True).ok


def test_cli_strict_types(ledger, tmp_path):
    db = land(ledger, tmp_path / "text.duckdb", AS_TEXT)
    cli = CliRunner()
    args = ["verify", "--ledger", str(ledger["ledger"]), "--target", str(db)]
    text = cli.invoke(main, args)
    assert text.exit_code == 0, text.output
    assert "note:" in text.output and "accounts.price" in text.output
    as_json = cli.invoke(main, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["ok"] and any("accounts.price" in n for n in data["notes"])
    strict = cli.invoke(main, [*args, "--strict-types"])
    assert strict.exit_code == 1, strict.output
    assert "target has VARCHAR" in strict.output
    strict_json = json.loads(cli.invoke(main, [*args, "--strict-types", "--json"]).output)
    assert not strict_json["ok"] and strict_json["strict_types"]


def test_a_key_that_is_not_an_integer_does_not_match_a_rounded_one(ledger, tmp_path):
    first = ledger["rows"]["id"][0].as_py()
    db = land(
        ledger,
        tmp_path / "keys.duckdb",
        "SELECT * REPLACE (id::VARCHAR AS id) FROM t",
        f"UPDATE accounts SET id = id || '.4' WHERE id = '{first}'",  # reads as {first} rounded
    )
    r = accounts(verify(ledger["ledger"], db))
    assert (r.missing, r.unexpected, r.samples["missing"]) == (1, 1, [first])
