"""The reference DuckDB pipeline lands faulty CDC files correctly; without dedup it is caught."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from headwater.resolve.load import loads
from headwater.runner import run
from headwater.verify import verify

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """
name: ref
seed: 5
clock: {start: 2026-01-01T00:00:00Z, duration: 40m, step: 30s}
entities:
  customers:
    key: id
    initial: 200
    arrivals: 0.3/s
    fields:
      id: {seq: {}}
      email: {fake: email}
      tier: {choice: [basic, gold]}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 0.5/s, fields: [email, tier]}
    deletes: {rate: 0.05/s}
  orders:
    key: order_id
    arrivals: 1/s
    fields:
      order_id: {seq: {}}
      customer_id: {ref: customers.id}
      amount: {lognormal: {mu: 3, sigma: 0.5}, round: 2}
      status: {state: {placed: {paid: 0.9, cancelled: 0.1, after: 2m}, paid: {shipped: 1, after: 5m}}}
      updated_at: {event_time: {on_update: true}}
sinks:
  app_db: {kind: sqlite, path: app.db}
  changes:
    kind: cdc
    from: app_db
    to: {kind: files, format: jsonl, path: cdc, every: 10m}
    faults:
      late: {rate: 0.05, delay: {median: 2m, sigma: 1}}
      reorder: {rate: 0.2, window: 20s}
      duplicate: 0.03
      outage: [{at: 2026-01-01T00:20:00Z, length: 3m}]
"""


def pipeline() -> Any:
    path = ROOT / "examples" / "pipelines" / "duckdb_cdc.py"
    spec = importlib.util.spec_from_file_location("duckdb_cdc", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cdc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    report = run(loads(SCENARIO), out_dir=out)
    faults = report.sinks["changes"]["faults"]
    assert faults["duplicate"]["events"] > 0 and faults["late"]["events"] > 0
    assert faults["outage"]["held"] > 0
    return out


def test_dedup_and_merge_is_verified_correct(cdc_run, tmp_path):
    loaded = pipeline().load(cdc_run / "cdc", tmp_path / "land.duckdb")
    assert set(loaded) == {"customers", "orders"}
    report = verify(cdc_run / "ledger", tmp_path / "land.duckdb", sink="changes", watermark_s=60)
    assert report.ok, report.as_dict()
    orders = next(e for e in report.entities if e.entity == "orders")
    assert orders.delivered["redelivered"] > 0 and orders.late["late_events"] > 0
    assert orders.lag is not None  # the pipeline stamps _loaded_at


def test_the_same_pipeline_without_dedup_is_reported_wrong(cdc_run, tmp_path):
    pipeline().load(cdc_run / "cdc", tmp_path / "naive.duckdb", dedup=False)
    report = verify(cdc_run / "ledger", tmp_path / "naive.duckdb", sink="changes")
    assert not report.ok
    orders = next(e for e in report.entities if e.entity == "orders")
    assert orders.duplicates > 0
    assert orders.wrong > 0 and orders.stale > 0  # late updates landed over newer ones


def test_incremental_loads_converge(cdc_run, tmp_path):
    """Loading files as they arrive, in two batches, gives the same correct landing."""
    cdc = tmp_path / "cdc"
    shutil.copytree(cdc_run / "cdc", cdc)
    module = pipeline()
    files = sorted((p for p in cdc.rglob("*.jsonl")), key=module._arrival)
    later = files[len(files) // 2 :]
    parked = tmp_path / "parked"
    for p in later:
        dest = parked / p.relative_to(cdc)
        dest.parent.mkdir(parents=True, exist_ok=True)
        p.rename(dest)
    db = tmp_path / "inc.duckdb"
    module.load(cdc, db)
    for p in later:
        (parked / p.relative_to(cdc)).rename(p)
    module.load(cdc, db)
    assert module.load(cdc, db) == {}  # nothing new the third time
    report = verify(cdc_run / "ledger", db, sink="changes")
    assert report.ok, report.as_dict()
