"""Speed paces delivery only: what is generated depends on the scenario and seed alone.

The paced run uses a low factor on a short clock (2 s of wall time) because the step used
to shrink only when the factor was below the step; the assertions are on data, never on
timing.
"""

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from headwater.ledger import LedgerReader
from headwater.runner import build_sinks, run
from headwater.world.engine import World

from tests.helpers import scenario

SINKS = """
mem: {kind: memory}
ev: {kind: files, entities: [orders, order_items], format: jsonl, every: 10s, path: ev}
csv: {kind: files, entities: [customers], format: csv, every: 10s, path: csv}
inc: {kind: files, entities: [customers], format: csv, every: 10s, mode: incremental, path: inc}
snap: {kind: files, entities: [orders], format: jsonl, every: 10s, mode: snapshot, path: snap}
"""


def _run(out: Path, speed: str) -> dict[str, pa.Table]:
    sc = scenario(sinks=SINKS, **{"duration: 1h": "duration: 30s"})
    sinks = build_sinks(sc, World(sc), out)
    run(sc, speed=speed, out_dir=out, sinks=sinks)
    mem = sinks["mem"]
    return {e: mem.table(e) for e in sc.entities}  # type: ignore[attr-defined]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "ledger" not in p.parts
    }


def _ledger(root: Path) -> dict[tuple[str, str], pa.Table]:
    book = LedgerReader(root / "ledger")
    out = {}
    keys = ["entity", "interval_start", "op"]
    for sink, info in book.sinks.items():
        for entity in info.entities:
            events = book.events(sink, entity)
            if events is not None:
                out[sink, entity] = events
        intervals = book.intervals(sink)  # one row per record: compare the sums
        assert intervals is not None
        sums = intervals.group_by(keys).aggregate([("events", "sum"), ("faulted", "sum")])
        out[sink, "_intervals"] = sums.sort_by([(k, "ascending") for k in keys])
    return out


def test_same_data_at_max_and_paced_speed(tmp_path):
    fast = _run(tmp_path / "max", "max")
    paced = _run(tmp_path / "paced", "15x")
    assert set(fast) == set(paced)
    for entity in fast:
        assert fast[entity].num_rows > 0
        assert fast[entity].equals(paced[entity]), entity
    files_fast, files_paced = _files(tmp_path / "max"), _files(tmp_path / "paced")
    assert any(name.endswith(".jsonl") for name in files_fast)
    assert files_fast == files_paced
    ledger_fast, ledger_paced = _ledger(tmp_path / "max"), _ledger(tmp_path / "paced")
    assert ledger_fast.keys() == ledger_paced.keys()
    for key, events in ledger_fast.items():
        assert events.equals(ledger_paced[key]), key


def test_step_depends_on_the_scenario_not_on_speed():
    fast = World(scenario())
    for speed in ("realtime", "10x", "3600x"):
        sc = scenario(**{"duration: 1h": f"duration: 1h, speed: {speed}"})
        assert World(sc).step_us == fast.step_us


BUSY = """
name: busy
seed: 3
clock: {start: 2026-01-01T00:00:00Z, duration: 5m}
entities:
  hits:
    arrivals: 444/s
    fields:
      id: {seq: {}}
      at: {event_time: {}}
"""


def _inserts(duration: timedelta) -> pa.Table:
    world = World(scenario(BUSY), duration=duration)
    tables = [ch.tables["hits"] for ch in world.steps() if "hits" in ch.tables]
    t = pa.concat_tables(tables)
    return t.filter(pc.is_in(t["op"], pa.array(["r", "c"]))).select(["key", "event_time"])


def test_a_shorter_run_is_a_prefix_of_a_longer_one():
    """Auto steps divide a minute, so whole-minute durations end on a step boundary."""
    short, long = _inserts(timedelta(seconds=150)), _inserts(timedelta(seconds=300))
    assert 0 < short.num_rows < long.num_rows
    assert short.equals(long.slice(0, short.num_rows))


def test_a_step_delivered_in_windows_never_repeats_log_trace_ids(tmp_path):
    sc = scenario(
        sinks="app: {kind: logs, entities: [order_items], format: json, path: app}",
        **{"duration: 1h": "duration: 30s"},
    )
    run(sc, speed="15x", out_dir=tmp_path, ledger=False)
    lines = [line for p in (tmp_path / "app").iterdir() for line in p.read_text().splitlines()]
    traces = [json.loads(line)["trace_id"] for line in lines]
    assert len(traces) > 20
    assert len(set(traces)) == len(traces)


def test_every_change_of_a_shorter_run_is_a_prefix_of_a_longer_one():
    def changes(minutes: int) -> dict[str, pa.Table]:
        world = World(scenario(), duration=timedelta(minutes=minutes))
        out: dict[str, list[pa.Table]] = {}
        for ch in world.steps():
            for entity, table in ch.tables.items():
                out.setdefault(entity, []).append(table)
        return {e: pa.concat_tables(ts) for e, ts in out.items()}

    short, long = changes(10), changes(20)
    last = max(pc.max(t["seq"]).as_py() for t in short.values())
    for entity, table in short.items():
        assert table.equals(long[entity].filter(pc.less_equal(long[entity]["seq"], last)))
