"""The ledger records exactly what each sink published, deterministically, and survives kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from headwater.errors import VerifyError
from headwater.ledger import LedgerReader, checksum
from headwater.resolve.load import loads
from headwater.runner import build_sinks, run
from headwater.world.engine import World

SCENARIO = """
name: l
seed: 3
clock: {start: 2026-01-01T00:00:00Z, duration: 40m, step: 20s}
entities:
  accounts:
    key: id
    initial: 100
    arrivals: 1/s
    fields:
      id: {seq: {}}
      plan: {choice: [free, pro]}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 2/s, fields: [plan]}
    deletes: {rate: 0.2/s}
  visits:
    write: insert_only
    arrivals: 4/s
    fields:
      visit_id: {seq: {}}
      page: {choice: [a, b, c]}
sinks:
  faulty:
    kind: memory
    faults:
      late: {rate: 0.1, delay: {mean: 3m}}
      duplicate: 0.03
      outage: [{at: 2026-01-01T00:15:00Z, length: 4m}]
  plain: {kind: memory, entities: [accounts]}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("run")
    sc = loads(SCENARIO)
    sinks = build_sinks(sc, World(sc), out)
    run(sc, out_dir=out, sinks=sinks)
    return out, sinks


def test_ledger_matches_what_each_sink_received(finished):
    out, sinks = finished
    book = LedgerReader(out / "ledger")
    assert book.complete and set(book.sinks) == {"faulty", "plain"}
    assert list(book.sinks["plain"].entities) == ["accounts"]
    info = book.sinks["faulty"].entities["accounts"]
    assert info.key == "id" and info.primary_key == ("id",) and info.write == "crud"
    assert book.sinks["faulty"].entities["visits"].primary_key == ("visit_id", "version")
    assert book.sinks["faulty"].faults["duplicate"] == {"rate": 0.03}
    for name in ("faulty", "plain"):
        sink = sinks[name]
        for entity in book.sinks[name].entities:
            ev = book.events(name, entity)
            got = sink.changes[entity]  # type: ignore[attr-defined]
            received = pa.concat_tables([t.select(["seq"]) for t in got])
            assert sorted(ev["seq"].to_pylist()) == sorted(received["seq"].to_pylist())
    ev = book.events("faulty", "accounts")
    assert set(ev.column_names) >= {"seq", "key", "op", "event_time", "ingest_time", "fault"}
    assert pc.sum(pc.equal(ev["copy"], 1)).as_py() > 0
    assert pc.sum(pc.match_substring(ev["fault"].fill_null(""), "outage")).as_py() > 0


def test_intervals_add_up_and_checksums_match(finished):
    out, _ = finished
    book = LedgerReader(out / "ledger")
    iv = book.intervals("faulty")
    for entity in book.sinks["faulty"].entities:
        ev = book.events("faulty", entity)
        mine = iv.filter(pc.equal(iv["entity"], entity))
        assert pc.sum(mine["events"]).as_py() == ev.num_rows
        assert pc.sum(mine["duplicates"]).as_py() == pc.sum(pc.cast(ev["copy"], pa.int64())).as_py()
        total = sum(mine["checksum"].to_pylist()) % 2**64
        originals = ev.filter(pc.equal(ev["copy"], 0))["seq"]
        assert total == checksum(originals)
        assert mine["interval_start"].type == pa.timestamp("us", tz="UTC")


def test_same_seed_same_ledger_bytes(finished, tmp_path):
    out, _ = finished
    run(loads(SCENARIO), out_dir=tmp_path)
    for p in sorted((out / "ledger").rglob("*")):
        if p.is_file():
            assert (
                p.read_bytes() == (tmp_path / "ledger" / p.relative_to(out / "ledger")).read_bytes()
            ), p


def test_run_without_ledger(tmp_path):
    run(loads(SCENARIO), out_dir=tmp_path, ledger=False, duration=timedelta(minutes=2))
    assert not (tmp_path / "ledger").exists()


def test_unreadable_ledgers_are_user_errors(tmp_path):
    with pytest.raises(VerifyError, match="no ledger at"):
        LedgerReader(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(VerifyError, match="not a headwater ledger"):
        LedgerReader(tmp_path)


def test_ledger_valid_after_kill_9(finished, tmp_path):
    """A paced run killed with SIGKILL leaves a ledger that is a prefix of the full one."""
    full, _ = finished
    paced = SCENARIO.replace("duration: 40m, step: 20s}", "duration: 40m, step: 20s, speed: 120x}")
    path = tmp_path / "paced.yaml"
    path.write_text(paced)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from headwater.cli import main; main()"]
        + ["run", str(path), "--out", str(out), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    parts = out / "ledger" / "faulty" / "accounts"
    deadline = time.monotonic() + 30
    try:
        while len(list(parts.glob("part-*.parquet"))) < 4:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the paced run wrote no ledger parts"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        errors = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, errors
    book = LedgerReader(out / "ledger")
    assert not book.complete
    whole = LedgerReader(full / "ledger")
    for sink in ("faulty", "plain"):
        for entity in book.sinks[sink].entities:
            got = book.events(sink, entity)
            if got is None:
                continue
            last = pc.max(got["ingest_time"])
            ref = whole.events(sink, entity)
            ref = ref.filter(pc.less_equal(ref["ingest_time"], last))
            key = [("seq", "ascending"), ("copy", "ascending")]
            assert got.sort_by(key).equals(ref.sort_by(key)), (sink, entity)
    # the intervals are as complete as the events
    iv = book.intervals("faulty")
    ev = book.events("faulty", "accounts")
    mine = iv.filter(pc.equal(iv["entity"], "accounts"))
    assert pc.sum(mine["events"]).as_py() == ev.num_rows


def test_parts_of_an_unfinished_flush_are_ignored(finished, tmp_path):
    import shutil

    out, _ = finished
    copy = tmp_path / "ledger"
    shutil.copytree(out / "ledger", copy)
    book = LedgerReader(copy)
    before = book.events("faulty", "accounts").num_rows
    last = book.parts("faulty", "accounts")[-1]
    stray = last.with_name(f"part-{book.committed + 1:06d}.parquet")
    shutil.copy(last, stray)  # written by a flush that was cut short
    again = LedgerReader(copy)
    assert again.events("faulty", "accounts").num_rows == before
    assert stray not in again.parts("faulty", "accounts")


def test_a_failed_run_publishes_what_each_sink_took_and_no_more(tmp_path):
    """The ledger is written a window of steps ahead of the sinks; when a sink fails in the
    middle of one, a sink that took every delivery it was given (memory) is published up to
    its last write, not up to the end of the window."""
    import sqlite3

    from headwater.errors import SinkError

    text = SCENARIO.replace(
        "  plain: {kind: memory, entities: [accounts]}",
        "  plain: {kind: memory, entities: [accounts]}\n  db: {kind: sqlite, path: db.sqlite}",
    )
    sc = loads(text)
    sinks = build_sinks(sc, World(sc), tmp_path)

    def refuse(changes, report):  # the database refuses visits from step 11 on
        if changes.step == 10:
            con = sqlite3.connect(tmp_path / "db.sqlite")
            con.execute(
                "CREATE TRIGGER no BEFORE INSERT ON visits BEGIN SELECT RAISE(ABORT, 'no'); END"
            )
            con.close()

    with pytest.raises(SinkError, match="sink 'db'"):
        run(sc, out_dir=tmp_path, sinks=sinks, on_step=refuse)
    book = LedgerReader(tmp_path / "ledger")
    assert not book.complete
    for name in ("faulty", "plain"):
        for entity in book.sinks[name].entities:
            took = pa.concat_tables(sinks[name].changes.get(entity, []))  # type: ignore[attr-defined]
            ev = book.events(name, entity)
            assert (0 if ev is None else ev.num_rows) == took.num_rows, (name, entity)
    assert book.unpublished("plain")  # handed ahead, never written


def test_a_finished_run_whose_sink_kept_rows_back_is_a_bug(tmp_path):
    """A sink whose flush leaves rows unpublished lost them: the run says so (not exit 0)."""
    from headwater.sinks.files.sink import FilesSink

    class Forgetful(FilesSink):
        def flush(self) -> None:  # the bug: the files still open are never published
            self.publisher.write_manifests()

    text = SCENARIO.split("sinks:")[0] + "sinks:\n  f: {kind: files, every: 1h}\n"
    sc = loads(text)
    sinks = build_sinks(sc, World(sc), tmp_path)
    sinks["f"].__class__ = Forgetful
    with pytest.raises(RuntimeError, match=r"never published.*'f'.*this is a bug"):
        run(sc, out_dir=tmp_path, sinks=sinks)
    book = LedgerReader(tmp_path / "ledger")
    assert not book.complete and book.events("f", "visits") is None  # nothing was published
    assert book.unpublished("f")["visits"] > 0


def test_a_file_proof_holds_only_for_the_announced_file_not_an_earlier_one_of_its_name(tmp_path):
    """A fixed `naming:` replaces files: after a kill between announcing and renaming, the
    earlier file at that path must not count as the new one published."""
    from headwater.ledger.proof import settle

    earlier = tmp_path / "orders.csv"
    earlier.write_text("old\n")
    announced = tmp_path / ".orders.csv.tmp"
    announced.write_text("new\n")
    proof = {"file": "orders.csv", "inode": announced.stat().st_ino, "rows": {"orders": 5}}
    assert settle(proof, tmp_path, lambda e: None) == {}  # killed before the rename
    announced.replace(earlier)
    assert settle(proof, tmp_path, lambda e: None) == {"orders": 5}
