"""PostgreSQL logical decoding (wal2json) against a real server."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta

import pytest

from headwater.capture import open_capture
from headwater.errors import SinkError, SinkUnavailable
from headwater.runner import run
from headwater.testing.servers import PostgresServer

from tests.capture import _debezium as debezium
from tests.capture._db import TINY, pg_database
from tests.capture._debezium import (
    check_snapshot,
    check_source_fields,
    check_times,
    check_transactions,
    sequence,
)
from tests.capture._flows import (
    assert_captured_exactly,
    cdc_events,
    cdc_scenario,
    crash_run,
    gap_flow,
    kill_flow,
    open_sink,
    replica_flow,
)
from tests.conftest import start_or_skip

psycopg = pytest.importorskip("psycopg")
RUN = timedelta(minutes=16)


def test_replica_from_the_captured_stream_equals_the_source(pg_server, tmp_path):
    src = pg_database(pg_server, "hw_cap_src")
    rep = pg_database(pg_server, "hw_cap_rep")
    replica_flow("postgres", src, rep, tmp_path)


def test_killed_capture_resumes_without_loss(pg_server, tmp_path):
    kill_flow("postgres", pg_database(pg_server, "hw_cap_kill"), tmp_path)


def crash(server: PostgresServer) -> None:
    """`pg_ctl stop -m immediate` (SIGQUIT to the postmaster), then start it again."""
    os.kill(server.pid, signal.SIGQUIT)
    while server.running:
        time.sleep(0.01)
    server.restart()


def test_server_crash_mid_run_loses_no_change(pg_server, tmp_path):
    """After crash recovery the slot's confirmed_flush_lsn is the one of the last server
    checkpoint, far behind what the capture acknowledged: the capture puts it back."""
    url = pg_database(pg_server, "hw_cap_crash")
    # by step 30 the capture has read more than a peek's 10k rows past the slot's saved LSN
    sc, report = crash_run("postgres", url, tmp_path, lambda: crash(pg_server), 30, RUN)
    assert report.sinks["db"]["reconnects"] >= 1
    assert assert_captured_exactly(sc, tmp_path, RUN) == 0
    assert report.sinks["changes"]["slot_rewinds"] == 1


def test_a_transaction_the_log_skipped_fails_the_capture(pg_server, tmp_path):
    url = pg_database(pg_server, "hw_cap_gap")

    def hide() -> None:  # committed, and the slot moved past it behind the capture's back
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE headwater.headwater_applied SET ordinal = ordinal + 1 WHERE lane = 0"
            )
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            conn.execute("SELECT pg_replication_slot_advance('headwater_gap', %s)", (lsn,))

    gap_flow("postgres", url, tmp_path, hide)


def test_resume_after_the_slot_was_dropped_says_what_is_lost(pg_server, tmp_path):
    url = pg_database(pg_server, "hw_cap_gone")
    sink, _ = open_sink("postgres", "db", url, tmp_path)
    checkpoint = tmp_path / "cp.json"
    cap = open_capture(sink.config, sink.schemas(), name="gone", checkpoint=checkpoint)
    for batch in cap.snapshot():
        cap.ack(batch.position)
    cap.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot('headwater_gone')")
    with pytest.raises(SinkError, match=r"no longer exists .* are lost; delete the checkpoint"):
        open_capture(sink.config, sink.schemas(), name="gone", checkpoint=checkpoint, resume=True)
    sink.close()


def test_missing_tables_and_missing_replication_privilege(pg_server, tmp_path):
    url = pg_database(pg_server, "hw_cap_priv")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN")
        conn.execute("GRANT ALL ON SCHEMA public TO reader")
    sink, _ = open_sink("postgres", "db", url, tmp_path)
    sink.close()
    as_reader = sink.config.model_copy(update={"url": url.replace("postgres@", "reader@")})
    with pytest.raises(SinkUnavailable, match="ALTER ROLE reader WITH REPLICATION"):
        open_capture(as_reader, sink.schemas(), name="priv")
    empty = sink.config.model_copy(update={"url": pg_database(pg_server, "hw_cap_empty")})
    with pytest.raises(SinkError, match="customers, orders, order_items do not exist"):
        open_capture(empty, sink.schemas(), name="empty")


def test_wal_level_not_logical_says_what_to_change(tmp_path):
    server = start_or_skip(PostgresServer(settings={"wal_level": "replica"}))
    try:
        sink, _ = open_sink("postgres", "db", server.url, tmp_path)
        sink.close()
        with pytest.raises(SinkUnavailable, match=r"wal_level = replica.*wal_level = logical"):
            open_capture(sink.config, sink.schemas(), name="wal")
    finally:
        server.stop()


def test_events_are_debeziums_postgresql_events_field_for_field(pg_server, tmp_path):
    """Field set, order and types of tests/capture/_debezium.py's documented event; the
    transaction block as Debezium defines it (positions within the transaction)."""
    url = pg_database(pg_server, "hw_cap_envelope")
    started = time.time_ns() // 1_000_000
    run(cdc_scenario("postgres", url), duration=TINY, out_dir=tmp_path, ledger=False)
    events = cdc_events(tmp_path)
    check_times(events, (started, time.time_ns() // 1_000_000), minutes=3)
    check_source_fields(events, debezium.POSTGRES)
    check_snapshot(events)
    assert {ev["source"]["connector"] for ev in events} == {"postgresql"}
    assert {ev["source"]["schema"] for ev in events} == {"public"}
    changes = [ev for ev in events if ev["op"] != "r"]
    ordering: dict[str, list[tuple[int, int]]] = {}
    for ev in changes:  # each table's events in stream order (its files)
        last_commit, lsn = sequence(ev)
        assert int(lsn) == ev["source"]["lsn"]
        ordering.setdefault(ev["source"]["table"], []).append((int(last_commit), int(lsn)))
        assert ev["transaction"]["id"].startswith(f"{ev['source']['txId']}:")
    # Debezium orders events by (last commit LSN, LSN): it grows along the stream
    assert all(seq == sorted(set(seq)) for seq in ordering.values())
    # positions count in log order: a parent row comes before its children
    by_lsn = sorted(changes, key=lambda ev: ev["source"]["lsn"])
    assert check_transactions(by_lsn, r"\d+:\d+") > 1
    orders = [ev for ev in by_lsn if ev["source"]["table"] == "orders" and ev["op"] == "c"]
    items = {ev["transaction"]["id"] for ev in by_lsn if ev["source"]["table"] == "order_items"}
    assert any(ev["transaction"]["total_order"] == 1 for ev in orders)
    assert items & {ev["transaction"]["id"] for ev in orders}


def test_bookkeeping_stays_out_of_a_capture_of_the_application_schema(pg_server, tmp_path):
    """An independent logical decoding slot reading the application's schema (as a
    Debezium connector with schema.include.list, or a publication FOR TABLES IN SCHEMA
    public) sees the business changes and not one row of the sink's bookkeeping."""
    url = pg_database(pg_server, "hw_cap_book")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot('independent', 'wal2json')")
        try:
            sink, world = open_sink("postgres", "db", url, tmp_path, connections=2)
            for _, changes in zip(range(4), world.steps(), strict=False):
                sink.write(changes)
            sink.close()
            rows = conn.execute(
                "SELECT data FROM pg_logical_slot_get_changes('independent', NULL, NULL,"
                " 'format-version', '2', 'add-tables', 'public.*')"
            ).fetchall()
            tables = {json.loads(data).get("table") for (data,) in rows} - {None}
            kept = conn.execute(
                "SELECT schemaname FROM pg_tables WHERE tablename = 'headwater_applied'"
            ).fetchall()
        finally:
            conn.execute("SELECT pg_drop_replication_slot('independent')")
    assert {"customers", "orders", "order_items"} <= tables
    assert "headwater_applied" not in tables
    assert kept == [("headwater",)]
