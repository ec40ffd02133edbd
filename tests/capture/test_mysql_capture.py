"""MariaDB row-binlog capture against a real server."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest

from headwater.capture import open_capture
from headwater.errors import SinkError, SinkUnavailable
from headwater.runner import run
from headwater.testing.servers import MariaDBServer

from tests.capture import _debezium as debezium
from tests.capture._db import TINY, my_admin, my_database, my_query
from tests.capture._debezium import (
    check_snapshot,
    check_source_fields,
    check_times,
    check_transactions,
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

pytest.importorskip("pymysqlreplication")
RUN = timedelta(minutes=5)


def test_replica_from_the_captured_stream_equals_the_source(mariadb_server, tmp_path):
    src = my_database(mariadb_server, "hw_cap_src")
    rep = my_database(mariadb_server, "hw_cap_rep")
    replica_flow("mysql", src, rep, tmp_path)


def test_killed_capture_resumes_without_loss(mariadb_server, tmp_path):
    kill_flow("mysql", my_database(mariadb_server, "hw_cap_kill"), tmp_path)


def crash(server: MariaDBServer, *while_down: str) -> None:
    """SIGKILL the server and start it again; `while_down` runs before the capture is back."""
    os.kill(server.pid, signal.SIGKILL)
    while server.running:
        time.sleep(0.01)
    server.restart()
    my_admin(server, *while_down)


def test_server_killed_mid_run_loses_no_change(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_cap_crash")
    sc, report = crash_run("mysql", url, tmp_path, lambda: crash(mariadb_server), 6, RUN)
    assert report.sinks["db"]["reconnects"] >= 1
    assert assert_captured_exactly(sc, tmp_path, RUN) == 0


def test_binlog_rotated_while_the_server_was_down_loses_no_change(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_cap_rotate")
    rotate = lambda: crash(mariadb_server, "FLUSH BINARY LOGS", "FLUSH BINARY LOGS")  # noqa: E731
    sc, _ = crash_run("mysql", url, tmp_path, rotate, 6, RUN)
    assert assert_captured_exactly(sc, tmp_path, RUN) == 0


PURGE = ("FLUSH BINARY LOGS", "PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 DAY")  # all but the new


def test_binlog_purged_while_the_server_was_down_fails_naming_the_sink(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_cap_purge")
    # the capture's position is in a file the server no longer has: whether or not events
    # after it were lost, nobody can tell, so the run must fail
    with pytest.raises(SinkError, match=r"sink 'changes': binlog .* \(purged"):
        crash_run("mysql", url, tmp_path, lambda: crash(mariadb_server, *PURGE), 6, RUN)


def test_a_transaction_the_binlog_lacks_fails_the_capture(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_cap_gap")
    hide = lambda: my_query(  # noqa: E731 - committed, never written to the binlog
        url,
        "SET sql_log_bin = 0; UPDATE headwater.headwater_applied SET ordinal = ordinal + 1 WHERE lane = 0",
    )
    gap_flow("mysql", url, tmp_path, hide)


def test_binlog_settings_and_privileges_say_what_to_change(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_cap_bad")
    sink, _ = open_sink("mysql", "db", url, tmp_path)
    sink.close()
    my_query(url, "CREATE USER IF NOT EXISTS 'nobinlog'@'%' IDENTIFIED BY 'pw'")
    my_query(url, "GRANT ALL ON hw_cap_bad.* TO 'nobinlog'@'%'")
    weak = sink.config.model_copy(update={"url": url.replace("root@", "nobinlog:pw@")})
    with pytest.raises(SinkUnavailable, match=r"GRANT REPLICATION SLAVE, BINLOG MONITOR"):
        open_capture(weak, sink.schemas(), name="weak")
    my_query(url, "SET GLOBAL binlog_row_image = MINIMAL")
    try:
        with pytest.raises(
            SinkUnavailable, match="binlog_row_image = MINIMAL; binlog CDC needs FULL"
        ):
            open_capture(sink.config, sink.schemas(), name="minimal")
    finally:
        my_query(url, "SET GLOBAL binlog_row_image = FULL")


def test_events_are_debeziums_mariadb_events_field_for_field(mariadb_server, tmp_path):
    """Field set, order and types of tests/capture/_debezium.py's documented MySQL event
    (MariaDB: connector "mariadb"); the transaction block as Debezium defines it."""
    url = my_database(mariadb_server, "hw_cap_envelope")
    started = time.time_ns() // 1_000_000
    run(cdc_scenario("mysql", url), duration=TINY, out_dir=tmp_path, ledger=False)
    events = cdc_events(tmp_path)
    check_times(events, (started, time.time_ns() // 1_000_000), minutes=3)
    check_source_fields(events, debezium.MYSQL)
    check_snapshot(events)
    assert {ev["source"]["connector"] for ev in events} == {"mariadb"}
    snapshot = [ev["source"] for ev in events if ev["op"] == "r"]
    assert {(s["server_id"], s["gtid"], s["thread"]) for s in snapshot} == {(0, None, None)}
    changes = [ev for ev in events if ev["op"] != "r"]
    server_id = int(my_query(url, "SELECT @@server_id")[0][0])
    logs = {str(row[0]) for row in my_query(url, "SHOW BINARY LOGS")}
    for ev in changes:
        src = ev["source"]
        assert src["server_id"] == server_id and src["file"] in logs
        assert src["gtid"] == ev["transaction"]["id"]  # MariaDB GTID domain-server-sequence
    # positions count in binlog order: a parent row comes before its children
    by_position = sorted(changes, key=lambda ev: (ev["source"]["pos"], ev["source"]["row"]))
    assert check_transactions(by_position, r"\d+-\d+-\d+") > 1


@pytest.mark.filterwarnings("ignore:'db' is deprecated:DeprecationWarning")
def test_bookkeeping_stays_out_of_a_binlog_reader_of_the_application_database(
    mariadb_server, tmp_path
):
    """A raw binlog reader of the application's database (as Debezium with
    database.include.list) sees its row events and not one of the sink's bookkeeping."""
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    url = my_database(mariadb_server, "hw_cap_book")
    log_file, log_pos = my_query(url, "SHOW MASTER STATUS")[0][:2]
    sink, world = open_sink("mysql", "db", url, tmp_path, connections=2)
    for _, changes in zip(range(4), world.steps(), strict=False):
        sink.write(changes)
    sink.close()
    reader = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": mariadb_server.port, "user": "root"},
        server_id=4242,
        blocking=False,
        log_file=log_file,
        log_pos=int(log_pos),
        resume_stream=True,
        only_schemas=["hw_cap_book"],
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
    )
    try:
        tables = {(event.schema, event.table) for event in reader}
    finally:
        reader.close()
    assert {("hw_cap_book", e) for e in ("customers", "orders", "order_items")} <= tables
    assert not [t for t in tables if t[1] == "headwater_applied"]
