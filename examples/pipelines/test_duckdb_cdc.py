"""The reference DuckDB CDC pipeline, tested with headwater's pytest plugin.

    pytest examples/pipelines                  # the reference pipeline: passes
    PIPELINE=naive pytest examples/pipelines   # the naive one: fails with verify's report

The plugin runs shop_cdc.yaml (late, reordered and duplicated change events, an outage)
into the test's tmp_path; the pipeline loads the CDC files it wrote into DuckDB; verify
compares the tables with what headwater delivered.
"""

import os

import duckdb_cdc
import pytest

DEDUP = os.environ.get("PIPELINE", "reference") != "naive"


@pytest.mark.headwater(scenario="shop_cdc.yaml")
def test_the_pipeline_lands_every_change_exactly_once_in_order(headwater_run, tmp_path):
    run = headwater_run()
    landing = tmp_path / "landing.duckdb"
    duckdb_cdc.load(run.out_dir / "cdc", landing, dedup=DEDUP)
    run.verify(landing, sink="changes", watermark_s=60)
