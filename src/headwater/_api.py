"""The top-level functions of the public API (re-exported by headwater/__init__.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater.core.units import parse_duration
from headwater.resolve.load import load
from headwater.resolve.scenario import Scenario
from headwater.runner import RunReport

# imported with headwater, not at the first call: importing the package later would rebind
# the attribute headwater.verify from this module's function to it
from headwater.verify import verify as _verify


def run(
    scenario: Scenario | str | Path,
    *,
    seed: int | None = None,
    duration: str | timedelta | None = None,
    speed: str | None = None,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    **kwargs: Any,
) -> RunReport:
    """Run a scenario (a loaded Scenario or a path) into its sinks and return the report.

    The output folder must be new or empty; `overwrite` replaces an earlier run's output."""
    from headwater.runner import run as _run

    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    span = parse_duration(duration) if isinstance(duration, str) else duration
    return _run(
        sc, seed=seed, duration=span, speed=speed, out_dir=out_dir, overwrite=overwrite, **kwargs
    )


def verify(ledger: str | Path, target: str | Path, **options: Any) -> Any:
    """Compare what a pipeline landed with a run's ledger; see headwater.verify.verify."""
    return _verify(ledger, target, **options)


def validate(path: str | Path) -> Scenario:
    """Load and validate a scenario file without connecting to anything; a scenario whose
    estimated size passes its `limits:` is refused."""
    from headwater.resolve.estimate import checked

    scenario = load(path)
    checked(scenario)
    return scenario
