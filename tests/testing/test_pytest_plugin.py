"""The pytest plugin, driven through pytester: runs, verify failures, options, marker, seeds."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb  # noqa: F401  (kept loaded: pytester drops modules an inner run imports)
import pytest
import yaml

from tests.capture._db import pg_database

# pytester drives the plugin in sessions of their own; this session uses it too (the
# server test below), as it would once the package is installed with its entry point
pytest_plugins = ["pytester", "pytest_headwater"]

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ("-p", "pytest_headwater", "-p", "no:cacheprovider")
SCENARIO = """
name: crm
seed: 1
clock: {start: 2026-01-01T00:00:00Z, duration: 10m, step: 30s}
entities:
  customers:
    key: id
    initial: 20
    arrivals: 0.1/s
    fields:
      id: {seq: {}}
      email: {fake: email}
      tier: {choice: [basic, gold]}
    updates: {rate: 0.05/s, fields: [tier]}
    deletes: {rate: 0.01/s}
sinks:
  app_db: {kind: sqlite, path: app.db}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A test project with the scenario file next to its tests."""
    pytester.makefile(".yaml", crm=SCENARIO)
    return pytester


def test_a_correct_landing_passes_and_the_result_holds_report_and_ledger(project):
    project.makepyfile(
        """
        import shutil
        import pytest

        @pytest.mark.headwater(scenario="crm.yaml")
        def test_landing(headwater_run, tmp_path):
            result = headwater_run()
            assert result.report.entities["customers"]["r"] == 20
            assert result.seed == 1 and result.ledger == result.out_dir / "ledger"
            assert result.out_dir.is_relative_to(tmp_path)
            assert result.reader.sink("app_db").entities["customers"].key == "id"
            landed = shutil.copy(result.out_dir / "app.db", tmp_path / "landed.db")
            report = result.verify(landed, sink="app_db")
            assert report.ok and report.entities[0].found > 0
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_a_wrong_landing_fails_with_verify_s_report_and_no_traceback(project):
    project.makepyfile(
        """
        import shutil, sqlite3
        import pytest

        @pytest.mark.headwater(scenario="crm.yaml")
        def test_landing(headwater_run, tmp_path):
            result = headwater_run()
            landed = shutil.copy(result.out_dir / "app.db", tmp_path / "landed.db")
            con = sqlite3.connect(landed)
            con.execute("DELETE FROM customers WHERE id = 1")
            con.execute("UPDATE customers SET tier = 'platinum' WHERE id = 2")
            con.commit()
            con.close()
            result.verify(landed, sink="app_db")
        """
    )
    out = project.runpytest(*PLUGIN)
    out.assert_outcomes(failed=1)
    out.stdout.fnmatch_lines(
        [
            "*headwater: scenario 'crm', seed 1, simulated 0:10:00, output *",
            "*verify app_db*",
            "*customers*",
            "*missing 1 rows, e.g. keys [[]1[]]*",
            "*wrong final state: 1 rows; by field {'tier': 1}*",
            "*key 2: {'tier': {'expected': *, 'found': 'platinum'}*",
            "*WRONG: 0/1 entities correct*",
        ]
    )
    out.stdout.no_fnmatch_line("*Traceback*")
    out.stdout.no_fnmatch_line("*site-packages*")
    out.stdout.no_fnmatch_line("*headwater/verify/*")


def test_options_set_seed_and_duration_and_the_header_says_so(project):
    project.makepyfile(
        """
        from datetime import timedelta
        import pytest

        @pytest.mark.headwater(scenario="crm.yaml")
        def test_run(headwater_run):
            result = headwater_run()
            assert result.seed == 7
            assert result.report.simulated == timedelta(minutes=3)
        """
    )
    out = project.runpytest(*PLUGIN, "--headwater-seed", "7", "--headwater-duration", "3m")
    out.assert_outcomes(passed=1)
    out.stdout.fnmatch_lines(["headwater: seed 7, duration 3m"])


def test_ini_values_apply_and_the_command_line_wins_over_them(project):
    project.makeini("[pytest]\nheadwater_seed = 11\nheadwater_duration = 2m\n")
    project.makepyfile(
        """
        import pytest

        @pytest.mark.headwater(scenario="crm.yaml")
        def test_run(headwater_run, pytestconfig):
            result = headwater_run()
            assert result.seed == int(pytestconfig.getoption("expected_seed"))
            assert result.report.simulated.total_seconds() == 120
        """
    )
    project.makeconftest("def pytest_addoption(parser):\n    parser.addoption('--expected-seed')\n")
    project.runpytest(*PLUGIN, "--expected-seed", "11").assert_outcomes(passed=1)
    project.runpytest(*PLUGIN, "--expected-seed", "12", "--headwater-seed", "12").assert_outcomes(
        passed=1
    )


def test_the_marker_wins_over_options_and_the_call_wins_over_the_marker(project):
    project.makepyfile(
        """
        import pytest

        @pytest.mark.headwater(scenario="crm.yaml", seed=3, duration="4m")
        def test_marker(headwater_run):
            result = headwater_run()
            assert (result.seed, result.report.simulated.total_seconds()) == (3, 240)

        @pytest.mark.headwater(scenario="crm.yaml", seed=3)
        def test_call(headwater_run):
            result = headwater_run(seed=5, duration="1m")
            assert (result.seed, result.report.simulated.total_seconds()) == (5, 60)
        """
    )
    out = project.runpytest(*PLUGIN, "--headwater-seed", "9", "--headwater-duration", "8m")
    out.assert_outcomes(passed=2)


def test_overrides_put_a_sink_where_the_test_says_and_a_dict_is_a_scenario(project):
    project.makepyfile(
        """
        from pathlib import Path
        import yaml
        import pytest

        SCENARIO = yaml.safe_load(Path(__file__).with_name("crm.yaml").read_text())

        def test_dict_with_override(headwater_run, tmp_path):
            target = tmp_path / "elsewhere" / "crm.db"
            target.parent.mkdir()
            result = headwater_run(SCENARIO, overrides={"sinks.app_db.path": target})
            assert target.exists() and not (result.out_dir / "app.db").exists()
            result.verify(target)

        @pytest.mark.headwater(
            scenario="crm.yaml",
            overrides={"entities.customers.initial": 3, "entities.customers.arrivals": "0/s"},
        )
        def test_marker_override(headwater_run):
            assert headwater_run().report.entities["customers"]["r"] == 3
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_the_same_seed_gives_the_same_ledger_and_another_seed_another(project):
    project.makepyfile(
        """
        import pytest

        def published(result):
            return result.reader.events("app_db", "customers")

        @pytest.mark.headwater(scenario="crm.yaml", seed=21)
        def test_determinism(headwater_run):
            first, second = headwater_run(), headwater_run()
            assert first.out_dir != second.out_dir
            assert published(first).equals(published(second))
            assert not published(first).equals(published(headwater_run(seed=22)))
        """
    )
    project.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_scenario_errors_and_unknown_marker_arguments_fail_readably(project):
    project.makepyfile(
        """
        import pytest

        def test_bad_scenario(headwater_run):
            headwater_run({"entities": {"a": {"fields": {"x": {"nope": 1}}}}})

        @pytest.mark.headwater(scenario="crm.yaml", sede=1)
        def test_typo(headwater_run):
            headwater_run()

        def test_no_scenario(headwater_run):
            headwater_run()

        def test_bad_override(headwater_run):
            headwater_run("crm.yaml", overrides={"sinks.app_db.path.deeper": "x"})
        """
    )
    out = project.runpytest(*PLUGIN)
    out.assert_outcomes(failed=3, errors=1)  # a marker's arguments fail the test's setup
    out.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_typo*",
            "@pytest.mark.headwater: unknown argument sede (expected duration, overrides, scenario, seed, speed)",
        ]
    )
    out.stdout.fnmatch_lines(
        [
            "*test_bad_scenario*",
            "headwater run failed: invalid scenario: 2 problems",
            "  - entities.a.fields.x: unknown generator 'nope'*",
        ]
    )
    out.stdout.fnmatch_lines(["headwater_run: no scenario; pass one or mark the test*"])
    out.stdout.fnmatch_lines(
        ["headwater run failed: overrides: sinks.app_db.path has no 'deeper' to set *"]
    )
    out.stdout.no_fnmatch_line("*Traceback*")


def test_loading_the_plugin_imports_neither_headwater_nor_its_dependencies():
    code = (
        "import sys, pytest_headwater\n"
        "heavy = [m for m in ('headwater', 'numpy', 'pyarrow', 'pydantic') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env)


def test_the_entry_point_loads_the_plugin_and_no_headwater_turns_it_off(project):
    """A distribution declaring pyproject's pytest11 entry points, as an install writes it."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "pytest_headwater" in meta["tool"]["setuptools"]["py-modules"]
    points = meta["project"]["entry-points"]["pytest11"]
    info = project.mkdir("headwater_entry-0.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: headwater-entry\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )
    project.makepyfile("def test_run(headwater_run):\n    assert callable(headwater_run)\n")
    project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    out = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:headwater")
    out.assert_outcomes(errors=1)
    out.stdout.fnmatch_lines(["*fixture 'headwater_run' not found*"])


def test_a_server_the_test_already_has_is_a_sink_by_override(headwater_run, pg_server):
    pytest.importorskip("psycopg")
    url = pg_database(pg_server, "hw_pytest_plugin")
    scenario = yaml.safe_load(SCENARIO)
    scenario["sinks"] = {"app_db": {"kind": "postgres", "url": "postgresql://unset"}}
    result = headwater_run(scenario, duration="5m", overrides={"sinks.app_db.url": url})
    assert result.report.sinks["app_db"]["kind"] == "postgres"
    assert result.verify(url, sink="app_db").entities[0].found > 0
