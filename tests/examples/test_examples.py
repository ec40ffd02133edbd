"""Every shipped example validates and runs; the shop's CDC files replay into its SQLite tables.

Sinks that need a server (Kafka…) are left out here; tests with private servers run them
(tests/examples/test_seed_event.py)."""

import hashlib
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from headwater.resolve.load import load
from headwater.resolve.scenario import Scenario
from headwater.runner import run

EXAMPLES = sorted(Path(__file__).resolve().parents[2].joinpath("examples").glob("*.yaml"))
SERVER_KINDS = {
    "kafka",
    "nats",
    "redis_streams",
    "rabbitmq",
    "mqtt",
    "postgres",
    "mysql",
    "webhook",
}


def serverless(scenario: Scenario) -> Scenario:
    """The scenario without the sinks that need a server."""
    sinks = {n: c for n, c in scenario.sinks.items() if c.kind not in SERVER_KINDS}
    return scenario.model_copy(update={"sinks": sinks})


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path, tmp_path):
    report = run(serverless(load(path)), duration=timedelta(minutes=20), out_dir=tmp_path)
    assert report.events > 0
    for name, info in report.sinks.items():
        assert sum(sum(ops.values()) for ops in info["counts"].values()) > 0, name


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("shop")
    report = run(
        load(EXAMPLES[[p.stem for p in EXAMPLES].index("shop")]),
        duration=timedelta(minutes=90),
        out_dir=out,
    )
    return out, report


def _cdc_events(root: Path):
    for path in sorted(root.glob("*/dt=*/hour=*/*.jsonl")):
        for line in path.read_text().splitlines():
            yield json.loads(line)


def test_cdc_replay_reproduces_sqlite_tables(shop_run):
    out, _ = shop_run
    events = sorted(_cdc_events(out / "cdc"), key=lambda e: e["source"]["lsn"])
    assert events and {e["op"] for e in events} == {"r", "c", "u", "d"}
    replica: dict[str, dict] = {}
    keys = {
        "customers": "id",
        "products": "product_id",
        "orders": "order_id",
        "order_items": "item_id",
        "payments": "payment_id",
    }
    for e in events:
        table, key = e["source"]["table"], keys[e["source"]["table"]]
        rows = replica.setdefault(table, {})
        if e["op"] == "d":
            del rows[e["before"][key]]
        else:
            rows[e["after"][key]] = e["after"]
    db = sqlite3.connect(out / "shop.db")
    db.row_factory = sqlite3.Row
    for table, rows in replica.items():
        got = {r[keys[table]]: dict(r) for r in db.execute(f'SELECT * FROM "{table}"')}
        assert got.keys() == rows.keys(), table
        for k, row in rows.items():
            for col, value in row.items():
                db_value = got[k][col]
                if isinstance(db_value, float) or isinstance(value, float):
                    assert float(db_value) == pytest.approx(float(value)), (table, k, col)
                else:
                    assert db_value == value, (table, k, col)


def test_cdc_transactions_group_parent_and_children(shop_run):
    out, _ = shop_run
    by_txn: dict[str, set[str]] = {}
    for e in _cdc_events(out / "cdc"):
        if e["op"] == "c":
            by_txn.setdefault(e["transaction"]["id"], set()).add(e["source"]["table"])
    assert any(tables == {"orders", "order_items", "payments"} for tables in by_txn.values())


def test_manifests_list_exactly_the_files(shop_run):
    out, _ = shop_run
    manifests = list(out.rglob("_manifest.json"))
    assert manifests
    for m in manifests:
        listed = {f["file"]: f for f in json.loads(m.read_text())["files"]}
        present = {p.name for p in m.parent.iterdir() if not p.name.startswith("_")}
        assert set(listed) == present
        for name, entry in listed.items():
            data = (m.parent / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert entry["bytes"] == len(data)


def _digest(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.endswith((".db", ".db-wal", ".db-shm")):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _dump(db_path: Path) -> list[str]:
    return list(sqlite3.connect(db_path).iterdump())


def test_same_seed_gives_byte_identical_outputs(tmp_path):
    sc = load(EXAMPLES[[p.stem for p in EXAMPLES].index("shop")])
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((a, None), (b, None), (c, 5)):
        run(sc, seed=seed, duration=timedelta(minutes=15), out_dir=folder)
    assert _digest(a) == _digest(b)
    assert _dump(a / "shop.db") == _dump(b / "shop.db")
    assert _digest(a) != _digest(c)
