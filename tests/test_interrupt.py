"""Ctrl-C on `headwater run` while it writes Parquet files and the ledger: one line on stderr,
exit 130, the ledger marked incomplete and no temporary file left; nothing else (a Parquet
writer finishing a discarded file at exit printed a traceback)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import SHOP

# a world far longer than any test, paced so the run mostly waits for its clock
SINKS = """
sinks:
  events: {kind: files, entities: [orders, order_items], format: parquet, mode: events, path: events}
  state: {kind: files, entities: [customers], format: parquet, mode: incremental, path: state}
"""
LONG = SHOP.replace("duration: 1h}", "duration: 30d, step: 10s, speed: 60x}") + SINKS


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    scenario = tmp_path / "shop.yaml"
    scenario.write_text(LONG)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", str(scenario), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # only bounds a hang: the run waits for the signal
        while not (out / "ledger" / "committed").exists():  # a step is in the ledger
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never wrote its ledger"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stderr = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, stderr) == (130, "interrupted\n")
    assert json.loads((out / "ledger" / "manifest.json").read_text())["complete"] is False
    assert [p for p in out.rglob("*") if ".tmp" in p.name] == []
