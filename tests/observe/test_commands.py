"""`run` and `serve` are seen through the same flags: the server starts, its token and URLs
are printed once (on stderr, so `--json` stays clean), and `serve`'s world is observed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from headwater.observe.probe import RunProbe
from headwater.observe.server import TOKEN_ENV, ObserveServer

from tests.observe._world import TOKEN, WORLD, get, world
from tests.observe.test_metrics import per_sink, scrape


def test_run_prints_where_to_look_and_keeps_json_clean(tmp_path: Path) -> None:
    scenario = tmp_path / "seen.yaml"
    scenario.write_text(WORLD)
    env = {**os.environ, TOKEN_ENV: TOKEN}
    done = subprocess.run(
        [sys.executable, "-m", "headwater", "run", str(scenario), "--out", str(tmp_path / "o")]
        + ["--metrics-port", "0", "--ui", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scenario"] == "seen"
    lines = done.stderr.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["metrics", "live"]
    assert lines[0].startswith("metrics    http://127.0.0.1:")
    assert lines[0].endswith(f"/metrics   (Authorization: Bearer {TOKEN})")
    assert lines[1].startswith("live view  http://127.0.0.1:") and lines[1].endswith(TOKEN)
    assert done.stderr.count(TOKEN) == 2


def test_serve_is_observed(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from headwater.serve.runtime import Serving

    probe = RunProbe()
    with ObserveServer(probe, token=TOKEN, ui=True) as server:
        serving = Serving(world(), port=0, out_dir=tmp_path / "o", stepped=True, observer=probe)
        with serving:
            while serving.advance(5):
                pass
            assert serving.wait(timeout=60)
        report: Any = serving.report
        final = scrape(server.url)
        state = json.loads(get(f"{server.url}/api/state")[1])
    assert set(report.sinks) == {"db", "drop", "_serve"}
    for name, info in report.sinks.items():
        assert per_sink(final, name) == info["counts"]
    assert final["headwater_run_done"][()] == 1
    assert state["done"] and state["steps"] == report.steps


def test_the_flags_are_registered_on_both_commands() -> None:
    for command in ("run", "serve"):
        done = subprocess.run(
            [sys.executable, "-m", "headwater", command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0
        for flag in ("--metrics-port", "--metrics-host", "--ui"):
            assert flag in done.stdout


def test_a_taken_port_is_a_user_error(tmp_path: Path) -> None:
    scenario = tmp_path / "seen.yaml"
    scenario.write_text(WORLD)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "headwater", "run", str(scenario), "--out", str(tmp_path / "o")]
            + ["--metrics-port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert f"metrics: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()  # nothing ran
