"""The files sink: modes, intervals and naming, drift and late delivery."""

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from headwater.runner import run
from headwater.sinks.memory import MemorySink

from tests.helpers import scenario


def files(root, pattern):
    return sorted(p for p in root.rglob(pattern) if not p.name.startswith("_"))


def world_changes(report_sinks, entity):
    mem = report_sinks["mem"]
    assert isinstance(mem, MemorySink)
    return mem.table(entity)


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    sc = scenario(
        sinks="""
        events: {kind: files, entities: [orders], format: parquet, every: 15m, mode: events, payload: changes, path: ev}
        incr: {kind: files, entities: [customers], format: csv, every: 30m, mode: incremental, path: inc}
        snap: {kind: files, entities: [customers], format: jsonl, every: 30m, mode: snapshot, path: snap}
        mem: {kind: memory}
        """
    )
    from headwater.runner import build_sinks
    from headwater.world.engine import World

    sinks = build_sinks(sc, World(sc), folder)
    run(sc, out_dir=folder, sinks=sinks)
    return folder, sinks


def test_event_files_hold_every_change_once_in_time_partitions(out):
    folder, sinks = out
    parts = files(folder / "ev", "*.parquet")
    assert [p.parent.name for p in parts][:2] == ["hour=00", "hour=00"]
    assert len(parts) == 4  # one hour in 15-minute files
    seqs = sorted(s for p in parts for s in pq.read_table(p)["_seq"].to_pylist())
    expected = sorted(world_changes(sinks, "orders")["seq"].to_pylist())
    assert seqs == expected


def test_incremental_files_hold_the_last_change_per_key(out):
    folder, sinks = out
    parts = files(folder / "inc", "*.csv")
    assert len(parts) == 2
    changes = world_changes(sinks, "customers")
    first = pacsv.read_csv(parts[0])
    half_hour = pa.scalar(changes["event_time"][0].value + 1800 * 10**6, pa.int64())
    early = changes.filter(pc.less(pc.cast(changes["event_time"], pa.int64()), half_hour))
    assert first.num_rows == len(set(early["key"].to_pylist()))
    assert set(first["_op"].to_pylist()) <= {"r", "c", "u", "d"}


def test_snapshot_files_hold_the_full_table_at_each_interval(out):
    folder, sinks = out
    parts = files(folder / "snap", "*.jsonl")
    assert len(parts) == 2
    ops = pc.value_counts(world_changes(sinks, "customers")["op"]).to_pylist()
    n = {d["values"]: d["counts"] for d in ops}
    last = [json.loads(line) for line in parts[-1].read_text().splitlines()]
    assert len(last) == n["r"] + n["c"] - n["d"]
    assert len({r["id"] for r in last}) == len(last)


def test_drift_starts_a_new_file_and_late_events_land_in_the_current_drop(tmp_path):
    sc = scenario(
        sinks="""
        f:
          kind: files
          entities: [orders]
          format: jsonl
          every: 30m
          path: f
          payload: changes
          faults:
            late: {rate: 0.2, delay: {fixed: 20m}}
            drift: [{at: 2026-01-01T00:40:00Z, rename: {amount: total_amount}}]
        """
    )
    run(sc, out_dir=tmp_path)
    parts = files(tmp_path / "f", "*.jsonl")
    rows = [(p, json.loads(line)) for p in parts for line in p.read_text().splitlines()]
    renamed = [r for _, r in rows if "total_amount" in r]
    assert renamed and all("amount" not in r for r in renamed)
    for p in parts:  # one schema per file
        keys = {tuple(sorted(json.loads(line))) for line in p.read_text().splitlines()}
        assert len(keys) == 1, p
    late = [r for _, r in rows if r["_ingest_time"] != r["_event_time"]]
    assert len(late) / len(rows) == pytest.approx(0.2, abs=0.03)
