"""Every module imports alone in a fresh interpreter.

An import cycle only shows when the cycle's "wrong" member is imported first, which a test run
(whose conftest and earlier tests already imported the rest) never does; so each module gets an
interpreter of its own. To stay quick on a busy machine, one driver interpreter imports the
third-party dependencies once (no headwater module) and forks a child per module, four at a time;
a child imports its one module and reports the last line of its traceback.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import headwater

_DRIVER = """
import os, sys, traceback
import click, faker, numpy, pyarrow, pydantic, rich, yaml  # headwater's hard dependencies

running, failures = {}, []

def reap():
    pid, status = os.wait()
    name, pipe = running.pop(pid)
    with os.fdopen(pipe) as r:
        error = r.read()
    if status:
        failures.append(f"{name} -> {error or status}")

for name in sys.argv[1:]:
    if len(running) >= 4:
        reap()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            __import__(name)
        except BaseException:
            os.write(w, traceback.format_exc().strip().splitlines()[-1].encode())
            os._exit(1)
        os._exit(0)
    os.close(w)
    running[pid] = (name, r)
while running:
    reap()
print("\\n".join(failures))
"""


def _modules() -> list[str]:
    found = pkgutil.walk_packages(headwater.__path__, prefix="headwater.")
    # `__main__` runs the command line when imported; headwater.cli covers its one import.
    return ["headwater", *sorted(i.name for i in found if not i.name.endswith(".__main__"))]


def test_every_module_imports_alone() -> None:
    names = _modules()
    assert len(names) > 100  # discovery found the package, not an empty path
    src = os.path.dirname(os.path.dirname(headwater.__file__))
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    # One BLAS thread: the driver forks, and a forked child must not inherit busy worker threads.
    env = {**os.environ, "PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, *names],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    failures = done.stdout.strip()
    assert not failures, "modules that fail to import alone:\n" + failures
