"""The live view in headless Chromium (Debian's `chromium`): the page, fed by its JSON
endpoint, shows what the run report says, during the run and at its end; the test writes a
screenshot."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from headwater.observe.probe import RunProbe
from headwater.observe.server import ObserveServer
from headwater.runner import run

from tests.observe._world import TOKEN, get, world

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed: run `make test`, which installs it"
)
SIZE = (1200, 1400)


def browse(url: str, profile: Path, *args: str) -> str:
    """Chromium, headless, on the page for a few seconds of virtual time (the page polls)."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--window-size={SIZE[0]},{SIZE[1]}",
            "--virtual-time-budget=3000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def shown_sinks(dom: str) -> dict[str, dict[str, str]]:
    """Per sink row of the page: its cells by class."""
    rows = {}
    for name, cells in re.findall(r'<tr data-sink="([^"]+)">(.*?)</tr>', dom, re.S):
        rows[html.unescape(name)] = {
            cls.removeprefix("n "): html.unescape(text)
            for cls, text in re.findall(r'<td class="([^"]+)">(.*?)</td>', cells, re.S)
        }
    return rows


def total(counts: dict[str, dict[str, int]]) -> int:
    return sum(sum(ops.values()) for ops in counts.values())


def test_the_live_view_shows_the_run(tmp_path: Path) -> None:
    probe = RunProbe()
    during: list[tuple[dict[str, Any], str]] = []
    with ObserveServer(probe, token=TOKEN, ui=True) as server:
        page = f"{server.url}/?token={TOKEN}"

        def on_step(changes: Any, report: Any) -> None:
            if report.steps == 8:  # the run waits while the browser looks
                now = {e: dict(ops) for e, ops in report.entities.items()}
                during.append((now, browse(page, tmp_path / "profile", "--dump-dom")))

        report = run(world(), out_dir=tmp_path / "out", on_step=on_step, observer=probe)
        dom = browse(page, tmp_path / "profile", "--dump-dom")
        shot = tmp_path / "liveview.png"
        browse(page, tmp_path / "profile", f"--screenshot={shot}")
        state = get(f"{server.url}/api/state")[1]

    # during the run: the fault-free sink had every event the world made so far
    now, early = during[0]
    assert 'data-done="0"' in early and "running" in early
    assert shown_sinks(early)["db"]["events"] == str(total(now))
    window = (
        "<td>drop</td><td>outage</td><td>2026-01-01T00:03:00Z</td><td>2026-01-01T00:05:00Z</td>"
    )
    assert f'<tr class="active">{window}<td>active</td></tr>' in early  # 00:03:30 is inside

    # at the end: every sink's kind, events, bytes and faults as in the report
    assert 'data-done="1"' in dom and "finished" in dom
    assert f"headwater: {report.scenario} (seed {report.seed})" in dom
    rows = shown_sinks(dom)
    assert set(rows) == set(report.sinks)
    for name, info in report.sinks.items():
        assert rows[name]["kind"] == info["kind"]
        assert rows[name]["events"] == str(total(info["counts"]))
        assert rows[name]["bytes"] == str(info["bytes"])
    faults = report.sinks["drop"]["faults"]
    assert rows["drop"]["faults"] == (
        f"duplicate={faults['duplicate']['events']}, outage={faults['outage']['held']}"
    )
    assert f"{report.steps} steps" in dom
    # the chart has a line per sink; the outage window is listed; sample rows per entity
    assert sorted(re.findall(r'<polyline [^>]*data-sink="([^"]+)"', dom)) == sorted(report.sinks)
    assert f"<tr>{window}<td></td></tr>" in dom  # over by the end
    for entity in report.entities:
        assert f'data-entity="{entity}"' in dom
    # no secret reaches the page or its data: a URL's password is masked
    assert "hunter2pass" not in dom and "hunter2pass" not in state
    assert (
        "postgresql://app:***@db.internal/app"
        in json.loads(state)["samples"]["customers"][0]["dsn"]
    )

    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert struct.unpack(">II", data[16:24]) == SIZE  # IHDR: width, height


def test_an_unauthenticated_browser_gets_401(tmp_path: Path) -> None:
    with ObserveServer(RunProbe(), token=TOKEN, ui=True) as server:
        assert get(server.url + "/", token=None)[0] == 401
        dom = browse(f"{server.url}/", tmp_path / "profile", "--dump-dom")
    assert "a token is required" in dom and "live view" not in dom
