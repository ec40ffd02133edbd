"""After `kill -9` or a sink error, the ledger says exactly what was published.

A run writes page views as Parquet files (one per simulated hour), an application
database in SQLite and its simulated CDC as JSON Lines files. It is killed at points the
test chooses: from inside, right before or after the n-th rename of a data file or right
after the n-th SQLite commit (the windows between publication and the ledger), and from
outside, once n intervals are published. Each time `verify` must find every published
row in the ledger and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headwater.ledger import LedgerReader
from headwater.verify import verify

from tests.verify.test_reference_pipeline import pipeline

SCENARIO = """
name: crash
seed: 11
clock: {start: 2026-01-01T00:00:00Z, duration: 8h, step: 2m}
entities:
  accounts:
    key: id
    initial: 40
    arrivals: 0.02/s
    fields:
      id: {seq: {}}
      plan: {choice: [free, pro]}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 0.05/s, fields: [plan]}
    deletes: {rate: 0.005/s}
  page_views:
    write: insert_only
    arrivals: 0.5/s
    fields:
      view_id: {seq: {}}
      page: {choice: [home, cart, search]}
      viewed_at: {event_time: {}}
sinks:
  app_db: {kind: sqlite, path: app.db}
  changes: {kind: cdc, from: app_db, entities: [accounts], to: {kind: files, format: jsonl, path: cdc}}
  clicks: {kind: files, entities: [page_views], format: parquet, every: 1h, path: page_views}
"""

# Runs `headwater run` and SIGKILLs itself at a chosen point of real I/O:
#   rename BEFORE|AFTER FOLDER SUFFIX N   around the n-th rename of a data file
#   commit N                               right after the n-th SQLite COMMIT
DRIVER = """
import os, signal, sqlite3, sys
from headwater.cli import main

how, args = sys.argv[1], sys.argv[2:]
seen = [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if how == "rename":
    when, folder, suffix, nth = args[0], args[1], args[2], int(args[3])
    real = os.replace
    def replace(src, dst, *a, **k):
        hit = str(dst).startswith(folder) and str(dst).endswith(suffix)
        seen[0] += hit
        if hit and seen[0] == nth and when == "before":
            die()
        real(src, dst, *a, **k)
        if hit and seen[0] == nth:
            die()
    os.replace = replace
    rest = args[4:]
else:
    nth = int(args[0])
    connect = sqlite3.connect
    def traced(*a, **k):
        con = connect(*a, **k)
        def trace(sql):
            if seen[0] >= nth:
                die()  # the statement after the n-th commit
            seen[0] += sql == "COMMIT"
        con.set_trace_callback(trace)
        return con
    sqlite3.connect = traced
    rest = args[1:]
main(rest)
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "crash.yaml"
    path.write_text(SCENARIO)
    return path


def _run(args: list[str], **popen: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(args, env=env, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]


def _killed(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()


def assert_exact(out: Path, tmp: Path) -> dict[str, int]:
    """verify every sink against what it published; returns rows expected per sink."""
    book = LedgerReader(out / "ledger")
    assert not book.complete
    landing = tmp / "cdc.duckdb"
    landing.unlink(missing_ok=True)
    pipeline().load(out / "cdc", landing)
    targets = {
        "clicks": f"parquet:{out / 'page_views'}",
        "app_db": str(out / "app.db"),
        "changes": str(landing),
    }
    expected = {}
    for sink, target in targets.items():
        report = verify(out / "ledger", target, sink=sink)
        for e in report.entities:
            assert e.error is None and e.missing == 0 and e.unexpected == 0, (sink, e.as_dict())
            assert e.wrong == 0 and e.duplicates == 0, (sink, e.as_dict())
        assert report.ok
        expected[sink] = sum(e.expected for e in report.entities)
    return expected


KILLS = {
    "after the 3rd parquet file is renamed": ("rename", "after", "page_views", ".parquet", "3"),
    "before the 5th parquet file is renamed": ("rename", "before", "page_views", ".parquet", "5"),
    "after the 7th cdc file is renamed": ("rename", "after", "cdc", ".jsonl", "7"),
    "after the 6000th sqlite commit": ("commit", "6000"),
}


@pytest.mark.parametrize("point", list(KILLS), ids=list(KILLS))
def test_kill_9_inside_publication_leaves_an_exact_ledger(point, scenario, tmp_path):
    out = tmp_path / "out"
    how, *args = KILLS[point]
    if how == "rename":
        args[1] = str(out / args[1])
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    run = ["run", str(scenario), "--out", str(out), "--json"]
    _killed(_run([sys.executable, str(driver), how, *args, *run], stdout=subprocess.DEVNULL))
    expected = assert_exact(out, tmp_path)
    assert expected["clicks"] > 0 and expected["app_db"] > 0 and expected["changes"] > 0


@pytest.mark.parametrize("intervals", [2, 6])
def test_kill_9_from_outside_leaves_an_exact_ledger(intervals, scenario, tmp_path):
    """SIGKILL once `intervals` page-view hours carry _SUCCESS, wherever the run then is."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from headwater.cli import main; main()"]
    proc = _run([*cmd, "run", str(scenario), "--out", str(out)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while len(list((out / "page_views").rglob("_SUCCESS"))) < intervals:
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    _killed(proc)
    expected = assert_exact(out, tmp_path)
    assert expected["clicks"] > 0


# Makes a sink fail with a real error once the world reaches step 200 (06:40; the sinks
# are up to a ledger window behind): the database refuses page views from then on (a
# trigger), or a file stands where the files sink's next hour folder goes.
BREAK = {
    "sqlite": (
        "app_db",
        """con = sqlite3.connect(out + '/app.db')
con.execute("CREATE TRIGGER refuse BEFORE INSERT ON page_views BEGIN SELECT RAISE(ABORT, 'refused'); END")
con.close()""",
    ),
    "files": (
        "clicks",
        """os.makedirs(out + '/page_views/page_views/dt=2026-01-01', exist_ok=True)
open(out + '/page_views/page_views/dt=2026-01-01/hour=07', 'w').close()""",
    ),
}
FAIL = """
import os, sqlite3, sys
from headwater.cli import main
from headwater import runner
out = sys.argv[sys.argv.index("--out") + 1]
real = runner.World.steps
def steps(self):
    for changes in real(self):
        if changes.step == 200:
%s
        yield changes
runner.World.steps = steps
main(sys.argv[1:])
"""


@pytest.mark.parametrize("failing", list(BREAK))
def test_a_sink_error_mid_run_leaves_an_exact_ledger(failing, scenario, tmp_path):
    """The failing sink stops the run half-way through a step; nothing unpublished (open
    files, transactions not committed) is in the ledger, and the run is a user error."""
    out = tmp_path / "out"
    sink, code = BREAK[failing]
    driver = tmp_path / "driver.py"
    driver.write_text(FAIL % "\n".join("            " + line for line in code.splitlines()))
    proc = _run([sys.executable, str(driver), "run", str(scenario), "--out", str(out)])
    _, err = proc.communicate(timeout=120)
    message = err.decode()
    assert proc.returncode == 2, message
    assert f"sink '{sink}'" in message and "Traceback" not in message
    if failing == "files":
        os.unlink(out / "page_views/page_views/dt=2026-01-01/hour=07")
    expected = assert_exact(out, tmp_path)
    assert expected["clicks"] > 0 and expected["app_db"] > 0
