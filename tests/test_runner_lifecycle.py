"""The runner opens and closes sinks through an exit stack: whatever fails, every sink that
was opened (or half-opened) is closed, and the ledger is closed and marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.runner import build_sinks, run
from headwater.sinks.memory import MemorySink
from headwater.world.engine import World

from tests.helpers import scenario

WORLD = """
name: t
seed: 1
clock: {start: 2026-01-01T00:00:00Z, duration: 1m}
entities:
  a:
    key: id
    initial: 3
    arrivals: 1/s
    fields:
      id: {seq: {}}
"""


class Faulty(MemorySink):
    """A memory sink that fails where it is told to and remembers its close() calls."""

    def __init__(self, *args, fail: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fail = fail
        self.closed = 0

    def open(self) -> None:
        super().open()
        if self.fail == "open":
            raise RuntimeError(f"{self.name}: open failed")

    def write(self, changes) -> None:
        super().write(changes)
        if self.fail == "write":
            raise RuntimeError(f"{self.name}: write failed")

    def close(self) -> None:
        self.closed += 1
        if self.fail == "close":
            raise RuntimeError(f"{self.name}: close failed")


def _run(tmp_path: Path, **fail: str) -> tuple[dict[str, Faulty], BaseException | None]:
    """Run three sinks a, b, c (opened in that order), failing as `fail` says per sink."""
    sc = scenario(WORLD, sinks="a: {kind: memory}\nb: {kind: memory}\nc: {kind: memory}\n")
    built = build_sinks(sc, World(sc), tmp_path)
    sinks = {n: Faulty(n, s.config, s.context, fail=fail.get(n, "")) for n, s in built.items()}
    try:
        run(sc, out_dir=tmp_path / "out", sinks=dict(sinks))
    except Exception as exc:
        return sinks, exc
    return sinks, None


def _manifest(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "ledger" / "manifest.json").read_text())


def test_a_failing_close_fails_the_run_and_the_others_still_close(tmp_path):
    sinks, error = _run(tmp_path, b="close")
    assert str(error) == "b: close failed"  # a successful run whose close failed is no success
    assert [s.closed for s in sinks.values()] == [1, 1, 1]
    manifest = _manifest(tmp_path)
    assert manifest["complete"] is False and "totals" in manifest  # closed, marked incomplete


def test_several_failing_closes_raise_the_first_and_note_the_others(tmp_path):
    sinks, error = _run(tmp_path, a="close", c="close")
    assert str(error) == "c: close failed"  # closed in reverse order: c fails first
    assert any("a: close failed" in note for note in error.__notes__)
    assert [s.closed for s in sinks.values()] == [1, 1, 1]
    assert _manifest(tmp_path)["complete"] is False


def test_the_runs_own_error_wins_over_close_errors(tmp_path):
    sinks, error = _run(tmp_path, a="write", b="close")
    assert str(error) == "a: write failed"
    assert any("b: close failed" in note for note in error.__notes__)
    assert [s.closed for s in sinks.values()] == [1, 1, 1]
    assert _manifest(tmp_path)["complete"] is False


def test_a_failed_open_closes_that_sink_and_those_opened_before(tmp_path):
    sinks, error = _run(tmp_path, b="open")
    assert str(error) == "b: open failed"
    assert [s.closed for s in sinks.values()] == [1, 1, 0]  # c was never opened
    assert _manifest(tmp_path)["complete"] is False


def test_a_clean_run_closes_everything_once_and_is_complete(tmp_path):
    sinks, error = _run(tmp_path)
    assert error is None
    assert [s.closed for s in sinks.values()] == [1, 1, 1]
    assert _manifest(tmp_path)["complete"] is True


@pytest.mark.parametrize("where", ["open", "write", "close"])
def test_the_ledger_is_marked_incomplete_whatever_fails(tmp_path, where):
    _, error = _run(tmp_path, c=where)
    assert error is not None
    assert _manifest(tmp_path)["complete"] is False
