"""Every module imports alone in a fresh interpreter.

An import cycle only shows when the cycle's "wrong" member is imported first, which a test run
(whose conftest and earlier tests already imported the rest) never does; so each module gets a
fresh interpreter of its own. Several run at once to keep the test quick.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import headwater


def _modules() -> list[str]:
    found = pkgutil.walk_packages(headwater.__path__, prefix="headwater.")
    # `__main__` runs the command line when imported; headwater.cli covers its one import.
    return ["headwater", *sorted(i.name for i in found if not i.name.endswith(".__main__"))]


def _import_alone(name: str) -> str | None:
    """Return the last line of stderr when importing `name` alone fails, else None."""
    src = os.path.dirname(os.path.dirname(headwater.__file__))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


def test_every_module_imports_alone() -> None:
    names = _modules()
    assert len(names) > 100  # discovery found the package, not an empty path
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(names, pool.map(_import_alone, names), strict=True))
    failures = {name: error for name, error in results.items() if error is not None}
    assert not failures, "modules that fail to import alone:\n" + "\n".join(
        f"{name} -> {error}" for name, error in failures.items()
    )
