"""Every plug-in's docstring YAML example loads through the real scenario loader.

Each plug-in family is a Registry (sinks, generators, faults, file formats, log formats);
every plug-in's class or module docstring holds a ```yaml block that uses it. A block is
wrapped into a scenario by its top-level key: `sinks:` goes beside the example world,
`fields:` becomes a new entity of it, `faults:` goes under a memory sink.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import headwater
from headwater._plugins import Registry
from headwater.faults import FAULTS
from headwater.generators import GENERATORS
from headwater.sinks import SINKS
from headwater.sinks.files.formats._registry import FORMATS as FILE_FORMATS
from headwater.sinks.logs.formats._registry import FORMATS as LOG_FORMATS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _world() -> str:
    """The shop's entities with the IoT devices and readings beside them, and no sinks."""
    world = (EXAMPLES / "shop.yaml").read_text().split("\nsinks:")[0]
    iot = (EXAMPLES / "iot.yaml").read_text().split("\nsinks:")[0]
    return world.rstrip() + "\n" + iot.split("entities:\n", 1)[1].rstrip() + "\n"


REGISTRIES: dict[str, Registry[Any]] = {
    "sink": SINKS,
    "generator": GENERATORS,
    "fault": FAULTS,
    "file format": FILE_FORMATS,
    "log format": LOG_FORMATS,
}


def _blocks(registry: Registry[Any], name: str) -> list[str]:
    """The ```yaml blocks of a plug-in's docstring (a class's) and of its module's."""
    obj = registry.get(name)  # imports its module
    own = (obj.__doc__ or "") if isinstance(obj, type) else ""  # an instance has its class's
    docs = [own, sys.modules[registry.module(name)].__doc__ or ""]
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
    if top == "entities":  # a world of its own, under the shop's clock
        header = (EXAMPLES / "shop.yaml").read_text().split("\nentities:")[0]
        return header + "\n" + body
    raise AssertionError(f"no scenario wraps a block starting with {top}:")


PLUGINS = [(family, name) for family, registry in REGISTRIES.items() for name in registry.names()]


@pytest.mark.parametrize(("family", "name"), PLUGINS, ids=[f"{f}:{n}" for f, n in PLUGINS])
def test_the_docstring_yaml_uses_the_plugin_and_loads(family: str, name: str) -> None:
    blocks = [b for b in _blocks(REGISTRIES[family], name) if _uses(yaml.safe_load(b), name)]
    assert blocks, (
        f"{family} {name}: its docstring (or its module's) needs a ```yaml example using it"
    )
    for block in blocks:
        headwater.loads(_scenario(block))


def test_every_family_has_plugins() -> None:
    assert {f for f, _ in PLUGINS} == set(REGISTRIES)
