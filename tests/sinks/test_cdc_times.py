"""CDC on the simulated timeline, also where the database stamps its own clock.

Issue 13, "The three kinds of time, consistent everywhere": "Captured CDC landed in
`cdc/*/dt=2026-12-03/hour=07/` for a scenario clocked at 2026-05-01: partition CDC drops by
the simulated timeline (event or ingestion time, documented), not by the machine's clock.
Where the real database stamps wall time (commit time in the WAL), keep it where Debezium
keeps it, and carry the simulated event time too."
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from headwater.runner import run

from tests.capture._db import TINY, my_database, pg_database, shop
from tests.sinks._streams import iso_millis

START = "2026-05-01T06:00:00Z"
CLOCKED = {"2026-01-01T00:00:00Z": START}


def landed(root) -> list:
    """(dt, hour, envelope) of every CDC event written under `root`."""
    out = []
    for path in sorted(root.rglob("*.jsonl")):
        parts = dict(p.split("=", 1) for p in path.parts if "=" in p)
        out += [(parts["dt"], parts["hour"], json.loads(line)) for line in path.open()]
    return out


def check_simulated(events: list, duration: timedelta) -> None:
    """Each event lies in the folder of its simulated time, within the scenario's clock."""
    start = iso_millis(START)
    end = start + duration // timedelta(milliseconds=1)
    assert events
    for day, hour, envelope in events:
        assert (day, hour) == ("2026-05-01", "06"), envelope
        assert start <= envelope["ts_ms"] <= end, envelope


def test_simulated_cdc_lands_in_the_scenario_clock(tmp_path):
    sc = shop(
        "app: {kind: sqlite, path: app.db}\n"
        "changes: {kind: cdc, from: app, to: {kind: files, format: jsonl, path: cdc}}\n",
        **CLOCKED,
    )
    run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    events = landed(tmp_path / "cdc")
    check_simulated(events, TINY)
    for _, _, envelope in events:  # no database clock here: the commit is the event time
        assert envelope["source"]["ts_ms"] <= envelope["ts_ms"]


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_log_capture_lands_in_the_scenario_clock_and_keeps_the_commit_time(kind, request, tmp_path):
    if kind == "postgres":
        pytest.importorskip("psycopg")
        url = pg_database(request.getfixturevalue("pg_server"), "hw_cdc_times")
    else:
        pytest.importorskip("pymysql")
        url = my_database(request.getfixturevalue("mariadb_server"), "hw_cdc_times")
    sc = shop(
        f"db: {{kind: {kind}, url: '{url}'}}\n"
        "changes: {kind: cdc, from: db, to: {kind: files, format: jsonl, path: cdc}}\n",
        **CLOCKED,
    )
    before = int(time.time() * 1000)
    report = run(sc, duration=TINY, out_dir=tmp_path, ledger=False)
    after = int(time.time() * 1000)
    assert report.sinks["changes"]["capture"] == "log"
    events = landed(tmp_path / "cdc")
    check_simulated(events, TINY)
    assert {envelope["op"] for _, _, envelope in events} == {"r", "c", "u", "d"}
    for _, _, envelope in events:
        # the commit time the database logged (its clock, s for MariaDB), where Debezium has it
        assert before // 1000 * 1000 <= envelope["source"]["ts_ms"] <= after, envelope
