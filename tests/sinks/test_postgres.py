"""PostgreSQL sink against a real server: schema, final state, parallel connections, outages."""

from __future__ import annotations

import logging
import os
import signal
import time
from datetime import timedelta

import pyarrow as pa
import pytest

from headwater.errors import SinkError, SinkUnavailable
from headwater.resolve.load import loads
from headwater.runner import run
from headwater.sinks.postgres import copy_buffer
from headwater.testing.servers import PostgresServer
from headwater.world.engine import World

from tests.capture._db import (
    SHORT,
    TINY,
    password_server,
    pg_database,
    pg_rows,
    shop,
    world_final,
)
from tests.conftest import served
from tests.sinks._durability import AT_THE_END, MID_RUN, lost_commits_fail_the_run
from tests.sinks._streams import Outage

psycopg = pytest.importorskip("psycopg")


RESTART_RUN = timedelta(minutes=8)


def _sink(url: str, **opts: object) -> str:
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    return f"db: {{kind: postgres, url: '{url}'{extra}}}\n"


@pytest.fixture(scope="module")
def shop_run(pg_server, tmp_path_factory):
    url = pg_database(pg_server, "hw_sink")
    sc = shop(_sink(url, connections=3))
    report = run(sc, duration=SHORT, out_dir=tmp_path_factory.mktemp("pg"), ledger=False)
    return sc, url, report


def test_the_configured_connections_are_used(shop_run):
    """Tables equal to the world's are checked by tests/contract for every store."""
    _, _, report = shop_run
    assert report.sinks["db"]["connections"] == 3


def test_schema_has_keys_foreign_keys_and_replica_identity(shop_run):
    _, url, _ = shop_run
    with psycopg.connect(url) as conn:
        fks = conn.execute(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' ORDER BY 1"
        ).fetchall()
        assert ("order_items", "FOREIGN KEY (order_id) REFERENCES orders(order_id)") in fks
        assert ("orders", "FOREIGN KEY (customer_id) REFERENCES customers(id)") in fks
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'order_items'"
            ).fetchall()
        )
        assert types["price"] == "numeric" and types["item_id"] == "bigint"
        idents = {
            r[0]
            for r in conn.execute(
                "SELECT relreplident FROM pg_class WHERE relname"
                " IN ('customers', 'orders', 'order_items')"
            )
        }
        assert idents == {"f"}
        lanes = conn.execute(
            "SELECT lane, ordinal FROM headwater.headwater_applied ORDER BY lane"
        ).fetchall()
    assert [lane for lane, _ in lanes] == [0, 1, 2]
    world = World(shop_run[0], duration=SHORT)
    last_txn = max(max(t["txn"].to_pylist()) for ch in world.steps() for t in ch.tables.values())
    # every world transaction committed once, plus the initial load (one transaction)
    assert sum(n for _, n in lanes) == last_txn + 1


def test_attach_checks_the_existing_tables(shop_run, tmp_path):
    _, url, _ = shop_run
    run(shop(_sink(url, if_exists="attach")), duration=TINY, out_dir=tmp_path, ledger=False)
    assert pg_rows(url, "orders", ["order_id"])  # attached, emptied and filled again
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE customers CASCADE")
        conn.execute("ALTER TABLE orders ALTER COLUMN amount TYPE text")
        conn.execute("ALTER TABLE customers DROP COLUMN email")
        conn.execute("ALTER TABLE customers ADD COLUMN vip boolean NOT NULL")
    with pytest.raises(SinkError) as err:
        run(shop(_sink(url, if_exists="attach")), duration=TINY, out_dir=tmp_path, ledger=False)
    text = str(err.value)
    assert "orders.amount is text, the scenario needs double precision" in text
    assert "customers.email is missing" in text
    assert "customers.vip (boolean) is NOT NULL without a default" in text


def test_if_exists_fail_leaves_tables_alone(pg_server, tmp_path):
    url = pg_database(pg_server, "hw_fail")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (x int)")
        conn.execute("INSERT INTO orders VALUES (7)")
    with pytest.raises(SinkError, match="orders already exist"):
        run(shop(_sink(url, if_exists="fail")), duration=SHORT, out_dir=tmp_path, ledger=False)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT x FROM orders").fetchall() == [(7,)]


def test_restart_mid_run_loses_and_repeats_nothing(pg_server, tmp_path):
    """The server stops and starts again while the run goes: every transaction lands once."""
    url = pg_database(pg_server, "hw_restart")
    sc = shop(
        _sink(url, connections=2)
        + "changes: {kind: cdc, from: db, to: {kind: files, format: jsonl, path: cdc}}\n",
        **{"duration: 1h}": "duration: 1h, step: 20s}"},
    )
    outage = Outage(pg_server, at=3, down=0.5, sig=signal.SIGINT)  # fast shutdown
    txns_after: list[int] = []

    def on_step(changes, report):
        outage(changes, report)  # stopped before the run goes on: it writes into the outage
        if changes.step >= 2:  # the capture's snapshot covers steps 0 and 1
            txns_after.append(len(list(changes.transactions())))

    slots = "SELECT slot_name FROM pg_replication_slots ORDER BY 1"
    with psycopg.connect(url) as conn:  # other tests' slots on the shared server are not ours
        before = conn.execute(slots).fetchall()
    try:
        report = run(sc, duration=RESTART_RUN, out_dir=tmp_path, ledger=False, on_step=on_step)
    finally:
        outage.join()
    db = report.sinks["db"]
    assert db["reconnects"] >= 1
    expected = world_final(sc, RESTART_RUN)
    schemas = World(sc).schemas
    for entity, rows in expected.items():
        assert pg_rows(url, entity, [f.name for f in schemas[entity].row_type]) == rows, entity
    assert report.steps > 20
    # The log holds each world transaction exactly once: none lost, none committed twice.
    assert report.sinks["changes"]["transactions"] == sum(txns_after)
    with psycopg.connect(url) as conn:  # the run's slot is gone: it would hold WAL forever
        assert conn.execute(slots).fetchall() == before


@pytest.fixture(scope="module")
def async_commit_server():
    """Commits confirmed before their WAL leaves shared memory (written at most every 10 s)."""
    yield from served(
        PostgresServer(settings={"synchronous_commit": "off", "wal_writer_delay": "10000ms"})
    )


@pytest.mark.parametrize("steps", [MID_RUN, AT_THE_END], ids=["mid_run", "at_the_end"])
def test_commits_lost_in_a_server_crash_fail_the_run(async_commit_server, tmp_path, steps):
    """`pg_ctl stop -m immediate` loses the latest confirmed commits: never a successful run."""
    server = async_commit_server
    url = pg_database(server, "hw_async")
    with_password = url.replace("postgres@", "postgres:pg-s3cret@")  # trust auth ignores it

    def applied() -> dict[int, int]:
        with psycopg.connect(url) as conn:
            return dict(
                conn.execute("SELECT lane, ordinal FROM headwater.headwater_applied").fetchall()
            )

    def crash() -> None:
        os.kill(server.pid, signal.SIGQUIT)
        while server.running:
            time.sleep(0.01)
        server.restart()

    text = lost_commits_fail_the_run("postgres", with_password, tmp_path, crash, applied, steps)
    assert "pg-s3cret" not in text and "postgres:***@" in text
    assert "synchronous_commit" in text


def test_commit_per_step_gives_the_same_tables(pg_server, tmp_path):
    url = pg_database(pg_server, "hw_step")
    sc = shop(_sink(url, commit="step", connections=2))
    run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    schemas = World(sc).schemas
    for entity, rows in world_final(sc, TINY).items():
        assert pg_rows(url, entity, [f.name for f in schemas[entity].row_type]) == rows, entity


def test_binary_copy_encodes_nulls_text_numeric_and_times(pg_server):
    url = pg_database(pg_server, "hw_copy")
    table = pa.table(
        {
            "i": pa.array([1, None, -3], pa.int64()),
            "s": pa.array(["zoë", "", None]),
            "n": pa.array([12345.67, -0.05, None]).cast(pa.decimal128(18, 2)),
            "t": pa.array([0, 1_700_000_000_123_456, None], pa.timestamp("us", tz="UTC")),
            "b": pa.array([True, False, None]),
            "f": pa.array([0.1, None, 1e300]),
        }
    )
    types = ["int8", "text", "numeric", "timestamptz", "bool", "float8"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE c (i int8, s text, n numeric(18,2), t timestamptz, b bool, f float8)"
        )
        with conn.cursor().copy("COPY c FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(copy_buffer(table, types))
        got = conn.execute("SELECT * FROM c ORDER BY i NULLS LAST").fetchall()
    expected = sorted(
        zip(*[c.to_pylist() for c in table.columns], strict=True),
        key=lambda r: (r[0] is None, r[0] or 0),
    )
    assert got == expected


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server():
    """A private server with password authentication and wal_level=replica (no logical)."""
    roles = {"postgres": "sup3r-s3cret", "app": "app-s3cret"}
    with password_server(roles, wal_level="replica") as server:
        yield server


def _app_url(server: PostgresServer, password: str = "${PG_TEST_PASSWORD}") -> str:
    return f"postgresql://app:{password}@127.0.0.1:{server.port}/postgres"


def test_wrong_password_is_clear_and_never_printed(auth_server, tmp_path, monkeypatch):
    monkeypatch.setenv("PG_TEST_PASSWORD", "not-the-password")
    with pytest.raises(SinkUnavailable) as err:
        run(shop(_sink(_app_url(auth_server))), duration=SHORT, out_dir=tmp_path, ledger=False)
    text = str(err.value)
    assert "rejected the password of user 'app'" in text and "not-the-password" not in text
    with pytest.raises(SinkUnavailable) as err:
        run(
            shop(_sink(_app_url(auth_server, "wrong-literal"))),
            duration=SHORT,
            out_dir=tmp_path,
            ledger=False,
        )
    assert "wrong-literal" not in str(err.value) and "app:***@" in str(err.value)


def test_password_from_env_works(auth_server, tmp_path, monkeypatch):
    monkeypatch.setenv("PG_TEST_PASSWORD", "app-s3cret")
    url = f"postgresql://app@127.0.0.1:{auth_server.port}/postgres"
    report = run(
        shop(_sink(url, password_env="PG_TEST_PASSWORD")),
        duration=TINY,
        out_dir=tmp_path,
        ledger=False,
    )
    assert report.sinks["db"]["counts"]["orders"]["c"] > 0
    unset = _sink(url, password_env="PG_NOT_SET_ANYWHERE")
    with pytest.raises(SinkError, match="PG_NOT_SET_ANYWHERE"):
        run(shop(unset), duration=SHORT, out_dir=tmp_path, ledger=False)


@pytest.mark.parametrize("commit", ["transaction", "step"])
def test_sessions_ended_between_steps_reconnect_without_stray_warnings(
    pg_server, tmp_path, caplog, commit
):
    """The server ends the sink's sessions twice during the run: the sink reconnects and
    resumes, every row lands once, and nothing is logged on the way (psycopg used to warn
    `error ignored terminating <psycopg.Pipeline [BAD]>` while the pipeline unwound)."""
    url = pg_database(pg_server, f"hw_ended_{commit}")
    sc = shop(
        _sink(url, connections=2, commit=commit), **{"duration: 1h}": "duration: 1h, step: 20s}"}
    )
    kill = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    def on_step(changes, report):
        if changes.step in (3, 6):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(kill)

    with caplog.at_level(logging.WARNING):
        report = run(sc, duration=TINY, out_dir=tmp_path, ledger=False, on_step=on_step)
    assert report.sinks["db"]["reconnects"] >= 2
    assert [r.getMessage() for r in caplog.records] == []
    schemas = World(sc).schemas
    for entity, rows in world_final(sc, TINY).items():
        assert pg_rows(url, entity, [f.name for f in schemas[entity].row_type]) == rows, entity


def test_a_value_postgres_cannot_store_is_a_sink_error_naming_the_transaction(pg_server, tmp_path):
    """A data error after the snapshot is rolled back and reported, not a traceback (it was an
    AttributeError: psycopg 3 calls the deadlock family TransactionRollback)."""
    url = pg_database(pg_server, "hw_nul")
    sc = loads(
        f"""
clock: {{start: 2026-01-01T00:00:00Z, duration: 1m}}
entities:
  notes:
    arrivals: 1/s
    fields:
      id: {{seq: {{}}}}
      text: {{choice: {{"nul\\0byte": 1}}}}
sinks:
  {_sink(url)}"""
    )
    with pytest.raises(SinkError) as err:
        run(sc, out_dir=tmp_path, ledger=False)
    text = str(err.value)
    assert "world transaction" in text and "and was rolled back" in text, text
    assert "cannot contain NUL" in text


def test_replace_drops_only_what_headwater_made(pg_server, tmp_path):
    """if_exists: replace recreates the tables of earlier runs; a table of the same name that
    headwater did not create, or a view on one of its tables, is an error, and kept."""
    url = pg_database(pg_server, "hw_replace")
    sc = shop(_sink(url))
    run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    run(sc, duration=TINY, out_dir=tmp_path, ledger=False)  # its own tables: replaced
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE order_items")
        conn.execute("CREATE TABLE order_items (x int)")
        conn.execute("INSERT INTO order_items VALUES (7)")
    with pytest.raises(SinkError) as err:
        run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    assert "table(s) order_items in " in str(err.value)
    assert "were not created by headwater, so if_exists: replace leaves them alone" in str(
        err.value
    )
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT x FROM order_items").fetchall() == [(7,)]
        conn.execute("DROP TABLE order_items")
        conn.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100")
    with pytest.raises(SinkError, match="big_orders depends on table orders"):
        run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM big_orders").fetchone()[0] >= 0


def test_a_user_that_may_not_create_the_bookkeeping_schema_is_told_what_to_grant(
    pg_server, tmp_path
):
    """The bookkeeping table lives in its own schema `headwater` (out of a capture of the
    application's schema); a user who may not create schemas in the database is told what
    an administrator runs, and with that schema in place the sink works."""
    url = pg_database(pg_server, "hw_plain")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS plain")
        conn.execute("CREATE ROLE plain LOGIN")
        conn.execute("GRANT ALL ON SCHEMA public TO plain")
    limited = url.replace("://postgres@", "://plain@")
    assert limited != url
    with pytest.raises(SinkError, match=r"user 'plain' may not create the schema 'headwater'"):
        run(shop(_sink(limited)), duration=TINY, out_dir=tmp_path, ledger=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA headwater AUTHORIZATION plain")
    run(shop(_sink(limited)), duration=TINY, out_dir=tmp_path, ledger=False)
