"""Simulated CDC (SQLite) events: Debezium's envelope with the documented analogue `source`."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from headwater.ledger import LedgerReader
from headwater.runner import run
from headwater.sinks._project import transaction_order

from tests.capture._debezium import COMMON, INT, STR, check_source_fields, check_transactions
from tests.capture._flows import cdc_events
from tests.helpers import scenario

# _project.debezium: the common fields, then PostgreSQL's table, txId and lsn
SIMULATED = {**COMMON, "table": STR, "txId": INT, "lsn": INT}


def test_simulated_events_number_their_place_in_the_transaction(tmp_path):
    """Issue 13: an order row got total_order 521 and its items 522–524 (global numbers);
    Debezium numbers events within their transaction (1..n) and within its table (1..k)."""
    sc = scenario(
        sinks="db: {kind: sqlite, path: shop.db}\n"
        "changes: {kind: cdc, from: db, to: {kind: files, format: jsonl, path: cdc}}\n"
    )
    run(sc, duration=timedelta(minutes=3), out_dir=tmp_path, ledger=False)
    events = cdc_events(tmp_path)
    check_source_fields(events, SIMULATED)
    assert {ev["source"]["connector"] for ev in events} == {"sqlite"}
    changes = sorted((ev for ev in events if ev["op"] != "r"), key=lambda e: e["source"]["lsn"])
    assert all(ev["transaction"]["id"] == str(ev["source"]["txId"]) for ev in changes)
    assert check_transactions(changes, r"\d+") > 1
    created = [ev for ev in changes if ev["op"] == "c"]
    orders = {ev["transaction"]["id"] for ev in created if ev["source"]["table"] == "orders"}
    for ev in created:
        txn, table = ev["transaction"], ev["source"]["table"]
        if table == "orders":
            assert txn["total_order"] == txn["data_collection_order"] == 1
        elif table == "order_items" and txn["id"] in orders:  # after their order
            assert txn["total_order"] == txn["data_collection_order"] + 1
    assert all(ev["transaction"] is None for ev in events if ev["op"] == "r")
    # simulated: the database's clock is the world's
    assert all(ev["headwater"]["event_time_ms"] == ev["source"]["ts_ms"] for ev in events)


def test_a_duplicated_event_keeps_its_place_in_the_transaction():
    """A duplicate fault re-delivers an event: like a re-sent Debezium event it carries the
    same total_order and data_collection_order, and the events after it keep theirs."""
    orders = pa.table({"seq": [10, 10], "txn": [7, 7]})
    items = pa.table({"seq": [11, 12, 12, 13], "txn": [7, 7, 7, 7]})
    out = transaction_order({"orders": orders, "order_items": items})
    assert out["orders"]["total_order"].to_pylist() == [1, 1]
    assert out["order_items"]["total_order"].to_pylist() == [2, 3, 3, 4]
    assert out["order_items"]["collection_order"].to_pylist() == [1, 2, 2, 3]


def test_the_snapshot_s_last_event_says_last(tmp_path, monkeypatch):
    """Debezium marks the final record of the snapshot `snapshot: "last"` (the source
    schema's enum "true,last,false,incremental"); the snapshot arrives in several chunks."""
    sc = scenario(
        sinks="db: {kind: sqlite, path: shop.db}\n"
        "changes: {kind: cdc, from: db, to: {kind: files, format: jsonl, path: cdc}}\n",
        **{"initial: 300": "initial: 700"},
    )
    from headwater.world import engine

    monkeypatch.setattr(engine, "SNAPSHOT_BLOCK", 256)  # three snapshot chunks, all step 0
    monkeypatch.setattr(engine, "SNAPSHOT_ROWS", 256)
    report = run(sc, duration=timedelta(minutes=1), out_dir=tmp_path)
    events = cdc_events(tmp_path)
    snapshot = [ev for ev in events if ev["op"] == "r"]
    assert len(snapshot) == 700
    marks = [ev["source"]["snapshot"] for ev in snapshot]
    assert marks.count("last") == 1 and marks.count("true") == 699
    last = next(ev for ev in snapshot if ev["source"]["snapshot"] == "last")
    assert last["source"]["lsn"] == max(ev["source"]["lsn"] for ev in snapshot)
    assert {ev["source"]["snapshot"] for ev in events if ev["op"] != "r"} == {"false"}
    published = LedgerReader(tmp_path / "ledger").published("changes")
    assert published == {
        e: sum(ops.values()) for e, ops in report.sinks["changes"]["counts"].items()
    }
