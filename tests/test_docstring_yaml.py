"""Every plug-in's docstring YAML example loads through the real scenario loader.

Each plug-in family is a registry (sinks, generators, faults, file formats, log formats);
every plug-in's class or module docstring holds a ```yaml block that uses it. A block is
wrapped into a scenario by its top-level key: `sinks:` goes beside the example world,
`fields:` becomes a new entity of it, `faults:` goes under a memory sink.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import headwater
from headwater.faults import FAULTS
from headwater.generators import GENERATORS
from headwater.sinks import SINKS
from headwater.sinks.files.formats._registry import FORMATS
from headwater.sinks.logs.formats import FORMATTERS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _world() -> str:
    """The shop's entities with the IoT devices and readings beside them, and no sinks."""
    world = (EXAMPLES / "shop.yaml").read_text().split("\nsinks:")[0]
    iot = (EXAMPLES / "iot.yaml").read_text().split("\nsinks:")[0]
    return world.rstrip() + "\n" + iot.split("entities:\n", 1)[1].rstrip() + "\n"


def _plugins() -> Iterator[tuple[str, str, Any]]:
    """(family, name, the plug-in object) for every registered plug-in."""
    registries: dict[str, Callable[[], dict[str, Any]]] = {
        "sink": lambda: {n: SINKS.get(n) for n in SINKS.names()},
        "generator": lambda: {n: GENERATORS.get(n) for n in GENERATORS.names()},
        "fault": lambda: {n: FAULTS.get(n) for n in FAULTS.names()},
        "file format": lambda: dict(FORMATS),
        "log format": lambda: dict(FORMATTERS),
    }
    for family, members in registries.items():
        for name, obj in members().items():
            yield family, name, getattr(obj, "func", obj)  # a formatter may be a partial


def _blocks(obj: Any) -> list[str]:
    docs = [obj.__doc__ or "", sys.modules[obj.__module__].__doc__ or ""]
    return [b for doc in docs for b in re.findall(r"```yaml\n(.*?)```", doc, re.S)]


def _uses(data: Any, name: str) -> bool:
    """Whether parsed YAML names `name` as a key or as a `kind:` or `format:`."""
    if isinstance(data, dict):
        return (
            name in data
            or data.get("kind") == name
            or data.get("format") == name
            or any(_uses(v, name) for v in data.values())
        )
    if isinstance(data, list):
        return any(_uses(v, name) for v in data)
    return False


def _scenario(block: str) -> str:
    """A whole scenario around a docstring's YAML block."""
    top = next(iter(yaml.safe_load(block)))
    body = textwrap.dedent(block)
    if top == "sinks":
        return _world() + "\n" + body
    if top == "fields":  # a new entity, keyed by a field of its own
        fields = body.split("\n", 1)[1]
        entity = "  example:\n    key: example_id\n    initial: 5\n    arrivals: 1/s\n    fields:\n"
        return _world() + entity + "      example_id: {seq: {}}\n" + textwrap.indent(fields, "    ")
    if top == "faults":
        return _world() + "sinks:\n  s:\n    kind: memory\n" + textwrap.indent(body, "    ")
    raise AssertionError(f"no scenario wraps a block starting with {top}:")


PLUGINS = list(_plugins())


@pytest.mark.parametrize(
    ("family", "name", "obj"), PLUGINS, ids=[f"{f}:{n}" for f, n, _ in PLUGINS]
)
def test_the_docstring_yaml_uses_the_plugin_and_loads(family: str, name: str, obj: Any) -> None:
    blocks = [b for b in _blocks(obj) if _uses(yaml.safe_load(b), name)]
    assert blocks, (
        f"{family} {name}: its docstring (or its module's) needs a ```yaml example using it"
    )
    for block in blocks:
        headwater.loads(_scenario(block))


def test_every_family_has_plugins() -> None:
    assert {f for f, _, _ in PLUGINS} == {"sink", "generator", "fault", "file format", "log format"}
