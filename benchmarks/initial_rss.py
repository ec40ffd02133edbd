"""Peak memory of loading a large initial population into SQLite: chunked vs whole.

The world hands the snapshot on in chunks of about 256k rows (engine.SNAPSHOT_ROWS), so
memory follows the chunk and the live state, not `initial`. The baseline is the same run
with the whole snapshot as one chunk (what headwater did before), in the same benchmark.
Each run is its own process, so its peak RSS is its own.

    .venv/bin/python benchmarks/initial_rss.py [--rows 5000000]
Ends with one line of JSON holding the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """
name: initial
seed: 1
clock: {{start: 2026-01-01T00:00:00Z, duration: 1m}}
entities:
  customers:
    key: id
    initial: {rows}
    fields:
      id: {{seq: {{}}}}
      name: {{fake: name}}
      email: {{fake: email, name: name}}
      country: {{choice: {{US: 6, DE: 2, FR: 2}}}}
      score: {{lognormal: {{mu: 3, sigma: 1}}, round: 2}}
      created_at: {{event_time: {{}}}}
sinks:
  db: {{kind: sqlite, path: initial.db, entities: [customers]}}
"""


def child(rows: int, whole: bool, out: Path) -> None:
    """One run; prints its peak RSS (MB), seconds and database size as JSON."""
    from headwater.resolve.load import loads
    from headwater.runner import run
    from headwater.world import engine

    if whole:
        engine.SNAPSHOT_ROWS = 1 << 62  # the baseline: the snapshot as one chunk
    sc = loads(SCENARIO.format(rows=rows))
    t0 = time.perf_counter()
    report = run(sc, out_dir=out, ledger=False)
    seconds = time.perf_counter() - t0
    assert report.entities["customers"]["r"] == rows
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    db = out / "initial.db"
    print(
        json.dumps(
            {
                "peak_rss_mb": round(peak_mb),
                "seconds": round(seconds, 1),
                "db_mb": round(db.stat().st_size / 2**20),
            }
        )
    )


def measure(rows: int, whole: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, __file__, "--child", "--rows", str(rows), "--out", tmp]
        proc = subprocess.run(
            args + (["--whole"] if whole else []), capture_output=True, text=True, check=True
        )
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--whole", action="store_true")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.child:
        child(a.rows, a.whole, a.out)
        return
    chunked = measure(a.rows, whole=False)
    print(f"chunked : {chunked}")
    whole = measure(a.rows, whole=True)
    print(f"whole   : {whole}")
    ratio = whole["peak_rss_mb"] / chunked["peak_rss_mb"]
    print(f"peak RSS whole/chunked: {ratio:.1f}x")
    print(
        json.dumps(
            {"rows": a.rows, "chunked": chunked, "whole": whole, "rss_ratio": round(ratio, 2)}
        )
    )


if __name__ == "__main__":
    main()
