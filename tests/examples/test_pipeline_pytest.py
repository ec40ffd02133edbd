"""examples/pipelines/test_duckdb_cdc.py, run as a user would: green for the reference
pipeline, failing with verify's readable report for the naive one (PIPELINE=naive).

The example lives outside `testpaths`, so the suite never collects its failing variant
itself; it runs in a pytest subprocess here."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
ARGS = (str(EXAMPLE), "-p", "pytest_headwater", "-p", "no:cacheprovider")


def test_the_reference_pipeline_passes(pytester, monkeypatch):
    monkeypatch.delenv("PIPELINE", raising=False)
    pytester.runpytest_subprocess(*ARGS).assert_outcomes(passed=1)


def test_the_naive_pipeline_fails_with_verify_s_report(pytester, monkeypatch):
    monkeypatch.setenv("PIPELINE", "naive")
    out = pytester.runpytest_subprocess(*ARGS)
    out.assert_outcomes(failed=1)
    out.stdout.fnmatch_lines(
        [
            "headwater: scenario 'shop_cdc', seed 5, simulated 0:30:00, output *",
            "*verify changes → duckdb*",
            "*✗ customers*",
            "*✗ orders*",
            "orders",
            "  duplicates: * keys landed more than once*",
            "  wrong final state: * rows, * of them an older version (stale update)*",
            "WRONG: 0/2 entities correct",
        ]
    )
    out.stdout.no_fnmatch_line("*Traceback*")
    out.stdout.no_fnmatch_line("*site-packages*")
