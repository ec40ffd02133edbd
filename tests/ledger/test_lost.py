"""What a broker lost after acknowledging it (ledger/lost.py): the reader does not count it
published. End to end with real brokers: tests/contract/test_outage.py (a server that
forgets in a crash)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.errors import VerifyError
from headwater.ledger import LedgerReader
from headwater.ledger.lost import lost_mask
from headwater.ledger.writer import ACKS, COMMITTED
from headwater.resolve.load import loads
from headwater.runner import run
from headwater.sinks._stream import ACK_SCHEMA

SCENARIO = """
name: l
seed: 3
clock: {start: 2026-01-01T00:00:00Z, duration: 2m, step: 20s}
entities:
  orders:
    key: id
    arrivals: 1/s
    fields:
      id: {seq: {}}
sinks:
  m: {kind: memory}
"""

ACKS_TABLE = pa.table(
    {
        "event_id": ["o-1", "o-2", "o-3", "o-4", "o-5", "o-6"],
        "route": ["a", "a", "a", "b", "b", "c"],
        "partition": [0, 0, 0, 1, 1, None],
        "offset": [10, 11, 12, 0, None, None],
    },
    schema=ACK_SCHEMA,
)


def gone(*records: dict[str, object]) -> list[str]:
    mask = lost_mask(ACKS_TABLE, list(records))
    return [i for i, lost in zip(ACKS_TABLE["event_id"].to_pylist(), mask, strict=True) if lost]


def test_a_lost_record_takes_back_the_acknowledgements_it_names():
    assert gone() == []
    assert gone({"route": "a"}) == ["o-1", "o-2", "o-3"]  # all of the route
    assert gone({"route": "a", "partition": 1}) == []
    assert gone({"route": "a", "after": "o-1"}) == ["o-2", "o-3"]  # after the last one kept
    assert gone({"route": "a", "after": "x-9"}) == ["o-1", "o-2", "o-3"]  # not this run's
    assert gone({"route": "b", "partition": 1}) == ["o-4", "o-5"]
    assert gone({"route": "c", "known": False}, {"route": "b", "after": "o-4"}) == ["o-5", "o-6"]


@pytest.fixture
def failed(tmp_path: Path) -> Path:
    """The ledger of a run whose sink `m` counts what its broker acknowledged (as message
    sinks do), left as a failed run leaves it: orders 0-9 acknowledged on route 'r', the
    broker then lost those after orders-6."""
    run(loads(SCENARIO), out_dir=tmp_path, duration=timedelta(minutes=1))
    ledger = tmp_path / "ledger"
    manifest = json.loads((ledger / "manifest.json").read_text())
    manifest["complete"] = False
    manifest["sinks"]["m"]["acked"] = True
    (ledger / "manifest.json").write_text(json.dumps(manifest))
    ids = [f"orders-{i}" for i in range(10)]
    acks = pa.table(
        {"event_id": ids, "route": ["r"] * 10, "partition": [None] * 10, "offset": [None] * 10},
        schema=ACK_SCHEMA,
    )
    (ledger / "m" / ACKS).mkdir(parents=True)
    pq.write_table(acks, ledger / "m" / ACKS / "part-000001.parquet")
    committed = json.loads((ledger / COMMITTED).read_text())
    committed["lost"] = {"m": [{"route": "r", "after": "orders-6", "known": True, "why": "t"}]}
    (ledger / COMMITTED).write_text(json.dumps(committed))
    return ledger


def test_the_reader_counts_what_was_acknowledged_and_kept(failed: Path):
    book = LedgerReader(failed)
    handed = book.handed("m", "orders")
    assert handed is not None and handed.num_rows > 10
    events = book.events("m", "orders")
    assert events is not None
    assert sorted(events["seq"].to_pylist()) == list(range(7))
    assert book.published("m") == {"orders": 7}
    assert book.unpublished("m") == {"orders": handed.num_rows - 7}
    assert book.lost("m")[0]["after"] == "orders-6"
    assert "unpublished" not in book.manifest  # as the run left it: m took everything
    intervals = book.intervals("m")
    assert intervals is not None and sum(intervals["events"].to_pylist()) == 7


def test_format_2_is_read_as_nothing_lost_and_an_unknown_format_is_named(tmp_path: Path):
    run(loads(SCENARIO), out_dir=tmp_path, duration=timedelta(minutes=1))
    path = tmp_path / "ledger" / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["format"] == "headwater-ledger/3"
    manifest["format"] = "headwater-ledger/2"
    del manifest["sinks"]["m"]["acked"]
    path.write_text(json.dumps(manifest))
    book = LedgerReader(tmp_path / "ledger")
    assert book.lost("m") == [] and not book.sinks["m"].acked
    handed = book.handed("m", "orders")
    assert handed is not None and book.published("m") == {"orders": handed.num_rows}
    manifest["format"] = "headwater-ledger/9"
    path.write_text(json.dumps(manifest))
    with pytest.raises(VerifyError, match=r"format 'headwater-ledger/9', this version reads"):
        LedgerReader(tmp_path / "ledger")
