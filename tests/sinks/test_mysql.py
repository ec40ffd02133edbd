"""MariaDB/MySQL sink against a real server: schema, final state, attach, outages, bad input."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest

from headwater.errors import SinkError, SinkUnavailable
from headwater.runner import run
from headwater.testing.servers import MariaDBServer
from headwater.world.engine import World

from tests.capture._db import SHORT, TINY, my_database, my_query, my_rows, shop, world_final
from tests.conftest import served
from tests.sinks._durability import AT_THE_END, MID_RUN, lost_commits_fail_the_run
from tests.sinks._streams import Outage

pytest.importorskip("pymysql")


RESTART_RUN = timedelta(minutes=8)


def _sink(url: str, **opts: object) -> str:
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"db: {{kind: mysql, url: '{url}'{extra}}}\n"


@pytest.fixture(scope="module")
def shop_run(mariadb_server, tmp_path_factory):
    url = my_database(mariadb_server, "hw_sink")
    sc = shop(_sink(url, connections=2))
    report = run(sc, duration=SHORT, out_dir=tmp_path_factory.mktemp("my"), ledger=False)
    return sc, url, report


def test_fks_are_declared_and_each_transaction_applied_once(shop_run):
    """Tables equal to the world's are checked by tests/contract for every store."""
    sc, url, report = shop_run
    fks = my_query(
        url,
        "SELECT table_name, column_name, referenced_table_name FROM"
        " information_schema.key_column_usage WHERE table_schema = DATABASE()"
        " AND referenced_table_name IS NOT NULL",
    )
    assert set(fks) >= {
        ("order_items", "order_id", "orders"),
        ("orders", "customer_id", "customers"),
    }
    lanes = my_query(
        url,
        "SELECT SUM(ordinal) FROM headwater.headwater_applied WHERE sink = CONCAT(DATABASE(), '.db')",
    )
    last_txn = max(
        max(t["txn"].to_pylist())
        for ch in World(sc, duration=SHORT).steps()
        for t in ch.tables.values()
    )
    assert int(lanes[0][0]) == last_txn + 1  # each world transaction once, plus the load
    assert report.sinks["db"]["connections"] == 2


def test_attach_lists_every_mismatch(shop_run, tmp_path):
    _, url, _ = shop_run
    run(shop(_sink(url, if_exists="attach")), duration=TINY, out_dir=tmp_path, ledger=False)
    my_query(url, "SET FOREIGN_KEY_CHECKS = 0; TRUNCATE customers")
    my_query(url, "ALTER TABLE orders MODIFY amount VARCHAR(20)")
    my_query(url, "ALTER TABLE customers DROP COLUMN email")
    with pytest.raises(SinkError) as err:
        run(shop(_sink(url, if_exists="attach")), duration=TINY, out_dir=tmp_path, ledger=False)
    assert "orders.amount is varchar(20), the scenario needs double" in str(err.value)
    assert "customers.email is missing" in str(err.value)


def test_restart_mid_run_loses_and_repeats_nothing(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_restart")
    sc = shop(
        _sink(url)
        + "changes: {kind: cdc, from: db, to: {kind: files, format: jsonl, path: cdc}}\n",
        **{"duration: 1h}": "duration: 1h, step: 20s}"},
    )
    outage = Outage(  # fast commits again after the restart (test speed)
        mariadb_server, at=3, down=0.5, then=lambda: my_database(mariadb_server, "hw_scratch")
    )
    txns_after: list[int] = []

    def on_step(changes, report):
        outage(changes, report)  # stopped before the run goes on: it writes into the outage
        if changes.step >= 2:
            txns_after.append(len(list(changes.transactions())))

    try:
        report = run(sc, duration=RESTART_RUN, out_dir=tmp_path, ledger=False, on_step=on_step)
    finally:
        outage.join()
    assert report.sinks["db"]["reconnects"] >= 1
    schemas = World(sc).schemas
    for entity, rows in world_final(sc, RESTART_RUN).items():
        assert my_rows(url, entity, [f.name for f in schemas[entity].row_type]) == rows, entity
    assert report.sinks["changes"]["transactions"] == sum(txns_after)


def test_wrong_password_is_clear_and_never_printed(mariadb_server, tmp_path, monkeypatch):
    url = my_database(mariadb_server, "hw_auth")
    my_query(url, "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-s3cret'")
    my_query(url, "GRANT ALL ON hw_auth.* TO 'app'@'%'")
    my_query(url, "GRANT ALL ON headwater.* TO 'app'@'%'")  # the bookkeeping database
    monkeypatch.setenv("MY_TEST_PASSWORD", "not-the-password")
    bad = f"mysql://app:${{MY_TEST_PASSWORD}}@127.0.0.1:{mariadb_server.port}/hw_auth"
    with pytest.raises(SinkUnavailable) as err:
        run(shop(_sink(bad)), duration=TINY, out_dir=tmp_path, ledger=False)
    assert "rejected user 'app' and its password" in str(err.value)
    assert "not-the-password" not in str(err.value)
    monkeypatch.setenv("MY_TEST_PASSWORD", "app-s3cret")
    run(shop(_sink(bad)), duration=TINY, out_dir=tmp_path, ledger=False)
    assert my_rows(url, "customers", ["id"])


def test_replace_drops_only_tables_headwater_made(mariadb_server, tmp_path):
    url = my_database(mariadb_server, "hw_replace")
    sc = shop(_sink(url))
    run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    run(sc, duration=TINY, out_dir=tmp_path, ledger=False)  # its own tables: replaced
    my_query(url, "DROP TABLE order_items; CREATE TABLE order_items (x int)")
    my_query(url, "INSERT INTO order_items VALUES (7)")
    with pytest.raises(SinkError) as err:
        run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    assert "table(s) order_items in " in str(err.value)
    assert "were not created by headwater, so if_exists: replace leaves them alone" in str(
        err.value
    )
    assert my_query(url, "SELECT x FROM order_items") == [(7,)]


@pytest.fixture(scope="module")
def lazy_commit_server():
    """Commits confirmed before InnoDB writes its log (once a second) or syncs the binlog."""
    yield from served(
        MariaDBServer(settings={"innodb-flush-log-at-trx-commit": "0", "sync-binlog": "0"})
    )


@pytest.mark.parametrize("steps", [MID_RUN, AT_THE_END], ids=["mid_run", "at_the_end"])
def test_commits_lost_in_a_server_crash_fail_the_run(lazy_commit_server, tmp_path, steps):
    """SIGKILL loses the latest confirmed commits: never a successful run."""
    server = lazy_commit_server
    url = server.url

    def applied() -> dict[int, int]:
        return dict(my_query(url, "SELECT lane, ordinal FROM headwater.headwater_applied"))

    def crash() -> None:
        os.kill(server.pid, signal.SIGKILL)
        while server.running:
            time.sleep(0.01)
        server.restart()

    text = lost_commits_fail_the_run("mysql", url, tmp_path, crash, applied, steps)
    assert "innodb_flush_log_at_trx_commit = 1" in text


def test_a_user_that_may_not_create_the_bookkeeping_database_is_told_what_to_grant(
    mariadb_server, tmp_path
):
    """The bookkeeping table lives in its own database `headwater` (out of a capture of
    the application's database); a user limited to the application's database cannot
    create it, and the error says what an administrator runs."""
    url = my_database(mariadb_server, "hw_plain")
    my_query(url, "DROP DATABASE IF EXISTS headwater")
    my_query(url, "CREATE USER IF NOT EXISTS 'plain'@'%' IDENTIFIED BY 'pw'")
    my_query(url, "GRANT ALL ON hw_plain.* TO 'plain'@'%'")
    limited = url.replace("root@", "plain:pw@")
    with pytest.raises(SinkError, match=r"user 'plain' may not create the schema 'headwater'"):
        run(shop(_sink(limited)), duration=TINY, out_dir=tmp_path, ledger=False)
    my_query(url, "CREATE DATABASE headwater; GRANT ALL ON headwater.* TO 'plain'@'%'")
    run(shop(_sink(limited)), duration=TINY, out_dir=tmp_path, ledger=False)
    assert my_rows(url, "customers", ["id"])
