"""The public API is exactly what __init__ exports, and it works end to end."""

import importlib
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pytest

import headwater
from headwater.generators import GENERATORS
from headwater.sinks import SINKS


def _public(package: ModuleType) -> list[str]:
    """The names a package shows, but its own submodules (bound by importing them) and the
    helpers pytest's assertion rewriting adds (`@py_builtins`): the installed package
    carries a pytest11 plugin, so pytest rewrites its modules."""
    return sorted(
        name
        for name, value in vars(package).items()
        if name.isidentifier()
        and not name.startswith("_")
        and not (isinstance(value, ModuleType) and value.__name__ == f"{package.__name__}.{name}")
    )


def test_all_is_exactly_the_public_names():
    """As httpx's: a helper imported into __init__ is public by accident, a name left out
    of __all__ is missing from `import *` and the docs."""
    assert headwater.__all__ == _public(headwater)


SUBPACKAGES = [
    "headwater.capture",
    "headwater.faults",
    "headwater.generators",
    "headwater.init",
    "headwater.ledger",
    "headwater.sinks",
    "headwater.sinks._stream",
    "headwater.sinks.files.formats",
    "headwater.sinks.logs.formats",
    "headwater.verify",
    "headwater.verify.targets",
]


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_all_is_exactly_its_public_names(name):
    """Order is ruff's (RUF022: constants, classes, functions); the names are exactly these."""
    package = importlib.import_module(name)
    assert sorted(package.__all__) == _public(package)


def test_every_subpackage_declaring_all_is_checked():
    src = Path(headwater.__file__).parent
    declaring = {
        ".".join(("headwater", *p.parent.relative_to(src).parts))
        for p in src.rglob("__init__.py")
        if "__all__" in p.read_text()
    }
    assert declaring - {"headwater"} == set(SUBPACKAGES)


def test_every_registered_plugin_loads():
    for name in GENERATORS.names():
        assert GENERATORS.get(name).name == name
    for name in SINKS.names():
        cls = SINKS.get(name)
        assert cls.kind == name and "kind" in cls.Config.model_fields


def test_python_api_round_trip(tmp_path):
    sc = headwater.loads(
        "entities:\n  a:\n    initial: 5\n    arrivals: 1/s\n    fields:\n      id: {seq: {}}\n      v: {uniform: {min: 1, max: 3}}\n"
    )
    t = headwater.sample(sc, "a", 10)
    assert isinstance(t, pa.Table) and t.num_rows == 10
    assert t.to_pandas().shape == (10, 2)
    report = headwater.run(sc, duration="1m", out_dir=tmp_path)
    assert report.entities["a"]["r"] == 5


def test_importing_the_verify_package_keeps_headwater_verify_the_function():
    """`headwater.verify()` imports headwater.verify, which binds the package over the
    function: a second call found a module."""
    import headwater.verify

    assert callable(headwater.verify) and headwater.verify.__module__ == "headwater._api"
