"""File writing throughput: headwater's format writers vs pyarrow's own, on the same table.

Writes the reference orders table (see generate.py) as CSV, JSON Lines and Parquet through
headwater's publication path (streaming writer, temporary name, fsync, rename, checksum) and,
in the same run, with pyarrow.csv.write_csv / pyarrow.parquet.write_table (JSON Lines: pandas'
to_json(lines=True), as pyarrow has no JSON writer). Target: within 1.5x of pyarrow for CSV
and Parquet.

    .venv/bin/python benchmarks/files.py [--rows 10000000]
Ends with one line of JSON holding the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from generate import SCENARIO

from headwater.resolve.load import loads
from headwater.sinks.files.publish import PublishedFile
from headwater.world.sample import sample

BATCH = 1 << 18


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def ours(table: pa.Table, path: Path, fmt: str) -> float:
    def go() -> None:
        f = PublishedFile(path, fmt, table.schema)
        for batch in table.to_batches(BATCH):
            f.write(batch)
        f.publish()

    return timed(go)


def baseline(table: pa.Table, path: Path, fmt: str) -> float:
    if fmt == "csv":
        return timed(lambda: pacsv.write_csv(table, path))
    if fmt == "parquet":
        return timed(lambda: pq.write_table(table, path, row_group_size=BATCH))
    return timed(
        lambda: table.to_pandas().to_json(path, orient="records", lines=True, date_format="iso")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    table = sample(loads(SCENARIO), "orders", args.rows)
    figures: dict[str, float] = {"rows": args.rows}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, ext in (("csv", "csv"), ("jsonl", "jsonl"), ("parquet", "parquet")):
            mine, base = Path(tmp) / f"ours.{ext}", Path(tmp) / f"base.{ext}"
            t_ours = ours(table, mine, fmt)
            t_base = baseline(table, base, fmt)
            mb = mine.stat().st_size / 2**20
            name = "pandas" if fmt == "jsonl" else "pyarrow"
            print(
                f"{fmt:8s} headwater {args.rows / t_ours:>12,.0f} rows/s {mb / t_ours:8.1f} MB/s | "
                f"{name} {args.rows / t_base:>12,.0f} rows/s {base.stat().st_size / 2**20 / t_base:8.1f} MB/s | "
                f"time ratio {t_ours / t_base:.2f}x"
            )
            figures[f"{fmt}_rows_per_s"] = round(args.rows / t_ours)
            figures[f"{fmt}_mb_per_s"] = round(mb / t_ours, 1)
            figures[f"{fmt}_baseline_rows_per_s"] = round(args.rows / t_base)
            figures[f"{fmt}_time_ratio"] = round(t_ours / t_base, 2)
            mine.unlink()
            base.unlink()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
