"""Capture scenarios shared by the PostgreSQL and MariaDB tests (one base, two dialects)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from headwater.capture import CaptureBatch, open_capture
from headwater.errors import SinkError
from headwater.runner import RunReport, run
from headwater.sinks import SINKS, Sink, SinkContext
from headwater.world.changes import Changes
from headwater.world.engine import World

from tests.capture._db import db_rows, replay, shop

ROOT = Path(__file__).resolve().parents[2]
DURATION = timedelta(minutes=8)
STEP = timedelta(seconds=30)


def open_sink(kind: str, name: str, url: str, out: Path, **opts: Any) -> tuple[Sink, World]:
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    sc = shop(f"{name}: {{kind: {kind}, url: '{url}'{extra}}}\n")
    world = World(sc, duration=DURATION, step=STEP)
    context = SinkContext(world.schemas, out, world.seed, sc.name, dict(sc.sinks))
    sink = SINKS.get(kind)(name, sc.sinks[name], context)
    sink.open()
    return sink, world


def txn_keys(ch: Changes, ranges: list[tuple[str, int, int]]) -> frozenset[tuple[str, Any, str]]:
    keys = set()
    for e, a, b in ranges:
        t = ch.tables[e].slice(a, b - a)
        keys |= set(zip([e] * t.num_rows, t["key"].to_pylist(), t["op"].to_pylist(), strict=True))
    return frozenset(keys)


def captured_txns(batches: list[CaptureBatch]) -> list[tuple[int, frozenset[Any], list[int]]]:
    """(txn id, its keys, its seqs) in stream order, from the captured change tables."""
    rows = []
    for b in batches:
        for e, t in b.tables.items():
            for seq, txn, op, key, ts in zip(
                t["seq"].to_pylist(),
                t["txn"].to_pylist(),
                t["op"].to_pylist(),
                t["key"].to_pylist(),
                pc.cast(t["event_time"], pa.int64()).to_pylist(),
                strict=True,
            ):
                if op != "r":
                    rows.append((seq, txn, (e, key, op), ts))
    rows.sort()
    out: list[tuple[int, frozenset[Any], list[int]]] = []
    times = [r[3] for r in rows]
    assert times == sorted(times), "events are not in commit order"
    for seq, txn, key, _ in rows:
        if out and out[-1][0] == txn:
            out[-1][1].add(key)  # type: ignore[attr-defined]
            out[-1][2].append(seq)
        else:
            out.append((txn, {key}, [seq]))  # type: ignore[arg-type]
    return [(t, frozenset(k), s) for t, k, s in out]


def replica_flow(kind: str, src_url: str, rep_url: str, out: Path, connections: int = 2) -> None:
    """Capture a source while the world runs into it; apply the stream to an empty replica."""
    src, world = open_sink(kind, "db", src_url, out, connections=connections)
    rep, _ = open_sink(kind, "replica", rep_url, out)
    steps = world.steps()
    src.write(next(steps))
    cap = open_capture(
        src.config,
        src.schemas(),
        name="replica-test",
        checkpoint=out / "cp.json",
        committed_by="db",
    )
    batches: list[CaptureBatch] = []

    def take(batch: CaptureBatch) -> None:
        rep.write(batch.changes())
        cap.ack(batch.position)
        batches.append(batch)

    for batch in cap.snapshot():
        take(batch)
    expected: Counter[frozenset[Any]] = Counter()
    for ch in steps:
        src.write(ch)
        expected.update(txn_keys(ch, r) for r in ch.transactions())
        take(cap.poll(timeout=0))
    for batch in cap.catch_up():
        take(batch)
    cap.close()
    src.close()
    rep.close()
    for entity, schema in world.schemas.items():
        names = [f.name for f in schema.row_type]
        source_rows = db_rows(kind, src_url, entity, names)
        assert source_rows and db_rows(kind, rep_url, entity, names) == source_rows, entity
    got = captured_txns(batches)
    # one database transaction per world transaction, with exactly its changes…
    assert Counter(keys for _, keys, _ in got) == expected
    # …whose events are contiguous: a transaction id never comes back later in the stream
    ids = [txn for txn, _, _ in got]
    assert len(ids) == len(set(ids))
    assert sum(b.transactions for b in batches) == sum(expected.values())


def kill_flow(kind: str, src_url: str, out: Path) -> None:
    """SIGKILL the capture process mid-stream, start it again: nothing is lost."""
    src, world = open_sink(kind, "db", src_url, out)
    steps = list(world.steps())
    src.write(steps[0])
    files, checkpoint, stop = out / "events", out / "capture.json", out / "stop"
    files.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.capture._child",
                kind,
                src_url,
                str(checkpoint),
                str(files),
                str(stop),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", "the capture process did not start"
        return proc

    third = len(steps) // 3
    proc = start()
    for ch in steps[1:third]:
        src.write(ch)
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while len(list(files.glob("*.arrow"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-stream: batches read but maybe not acknowledged
    proc.wait()
    for ch in steps[third : 2 * third]:
        src.write(ch)  # written while no capture runs
    proc = start()
    for ch in steps[2 * third :]:
        src.write(ch)
    stop.touch()
    assert proc.wait(timeout=60) == 0
    src.close()
    tables: dict[str, list[pa.Table]] = {}
    for path in sorted(files.glob("*.arrow")):
        with pa.memory_map(str(path)) as f:
            tables.setdefault(path.name.rsplit("-", 1)[0], []).append(
                pa.ipc.open_file(f).read_all()
            )
    merged = {e: pa.concat_tables(ts) for e, ts in tables.items()}
    seqs = sorted(s for t in merged.values() for s in t["seq"].to_pylist())
    unique = sorted(set(seqs))
    assert unique == list(range(len(unique))), "a gap in the captured sequence: events lost"
    # re-delivered events (read, not acknowledged, before the kill) carry the same seq
    deduped = {}
    for e, t in merged.items():
        _, first = _unique_rows(t)
        deduped[e] = t.take(pa.array(first))
    got = replay([Changes(0, 0, 0, deduped)], world.schemas)
    assert got == replay(steps, world.schemas)


def _unique_rows(t: pa.Table) -> tuple[list[int], list[int]]:
    seen: dict[int, int] = {}
    for i, s in enumerate(t["seq"].to_pylist()):
        seen.setdefault(s, i)
    return list(seen), sorted(seen.values())


def cdc_scenario(kind: str, url: str) -> Any:
    """The shop written into `url` (2 connections), its CDC to JSONL files under cdc/."""
    return shop(
        f"db: {{kind: {kind}, url: '{url}', connections: 2}}\n"
        "changes: {kind: cdc, from: db, to: {kind: files, format: jsonl, path: cdc}}\n",
        **{"duration: 1h}": "duration: 1h, step: 20s}"},
    )


def cdc_events(out: Path) -> list[dict[str, Any]]:
    """The change events a run wrote under out/cdc, file by file."""
    return [
        json.loads(line)
        for path in sorted((out / "cdc").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def crash_run(
    kind: str, url: str, out: Path, crash: Callable[[], None], at: int, duration: timedelta
) -> Any:
    """A run into `url` (2 connections) with CDC to files, steps of 20 s; `crash()` after
    step `at`. Returns the scenario and the run's report (the run raises what it raises).
    """
    sc = cdc_scenario(kind, url)

    def on_step(changes: Changes, report: RunReport) -> None:
        if changes.step == at:
            crash()

    return sc, run(sc, duration=duration, out_dir=out, ledger=False, on_step=on_step)


def assert_captured_exactly(sc: Any, out: Path, duration: timedelta) -> int:
    """Every change committed after the capture's snapshot (steps 2…) is in the CDC files
    once; returns how many events were delivered twice (same Debezium `source`)."""
    world = World(sc, duration=duration)
    keys = {e: s.key for e, s in world.schemas.items()}
    expected: Counter[tuple[str, Any, str]] = Counter()
    for ch in world.steps():
        if ch.step >= 2:  # the capture opens at step 1: its snapshot holds steps 0 and 1
            for e, t in ch.tables.items():
                ops = zip(t["key"].to_pylist(), t["op"].to_pylist(), strict=True)
                expected.update((e, k, op) for k, op in ops)
    seen: dict[tuple[str, str], tuple[str, Any, str]] = {}
    delivered = 0
    for ev in cdc_events(out):
        if ev["op"] == "r":
            continue
        e, image = ev["source"]["table"], ev["after"] or ev["before"]
        # the log position in `source` (PostgreSQL lsn, binlog file/pos/row) names a change
        seen[(e, json.dumps(ev["source"], sort_keys=True))] = (e, image[keys[e]], ev["op"])
        delivered += 1
    got = Counter(seen.values())
    lost, extra = expected - got, got - expected
    assert not extra, f"{sum(extra.values())} captured changes the world never made"
    assert not lost, f"lost events: {sum(lost.values())} of {sum(expected.values())}"
    return delivered - len(seen)


def gap_flow(kind: str, url: str, out: Path, hide: Callable[[], None]) -> None:
    """`hide()` commits a transaction of sink 'db' that the capture's log never shows: the
    capture says it ends short of what the sink committed, then that its chain broke."""
    src, world = open_sink(kind, "db", url, out, connections=2)
    steps = world.steps()
    src.write(next(steps))
    cap = open_capture(src.config, src.schemas(), name="gap", committed_by="db")
    for batch in [*cap.snapshot(), *(cap.catch_up())]:
        cap.ack(batch.position)
    src.write(next(steps))
    hide()
    with pytest.raises(SinkError, match=r"ends before the last transactions sink 'db' commit"):
        for batch in cap.catch_up():
            cap.ack(batch.position)
    src.write(next(steps))
    with pytest.raises(SinkError, match=r"breaks the chain of sink 'db': after transaction"):
        for batch in cap.catch_up():
            cap.ack(batch.position)
    cap.drop()
    cap.close()
    src.close()
