"""Imports go downward only: every headwater import, at any depth (inside functions and
TYPE_CHECKING blocks too), targets the same or a lower layer than the importing module.

Plug-ins looked up by an import *string* through a Registry are not imports and are allowed."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# bottom → top; a module belongs to the longest prefix listed
LAYERS: list[tuple[str, ...]] = [
    (  # L0 base: imports nothing above itself
        "headwater.core",
        "headwater.errors",
        "headwater.secrets",
        "headwater._plugins",
    ),
    ("headwater.scenario",),  # L1 the scenario document: YAML, raw models, error rendering
    ("headwater.generators",),  # L2
    ("headwater.world",),  # L3
    ("headwater.faults",),  # L4
    ("headwater.ledger",),  # L5
    ("headwater.sinks",),  # L6
    ("headwater.capture",),  # L7
    (  # L8 resolution: the document becomes the typed Scenario
        "headwater.resolve",
        # the `serve:` section's model, validated during resolution like a sink's Config;
        # serve/__init__.py imports nothing, so importing it pulls in no server code
        "headwater.serve.config",
    ),
    (  # L9 running and checking a run
        "headwater.runner",
        "headwater.outdir",
        "headwater.pacing",
        "headwater.verify",
        "headwater._api",
        "headwater.init",  # a scenario from existing schemas
    ),
    ("headwater.serve", "headwater.observe"),  # L10 servers beside a run
    (  # L11 entry points
        "headwater.cli",
        "headwater.testing",
        "headwater",
        "headwater.__main__",
    ),
]


def layer_of(module: str) -> int:
    best, found = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), i
    assert found is not None, f"{module} is in no layer: add it to LAYERS"
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((SRC / "headwater").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every headwater import in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            # `from headwater.x import y` may import the submodule headwater.x.y
            for a in node.names:
                sub = f"{target}.{a.name}"
                is_module = (SRC / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    SRC / Path(*sub.split(".")) / "__init__.py"
                ).exists()
                found.append((node.lineno, sub if is_module else target))
    return [(n, t) for n, t in found if t == "headwater" or t.startswith("headwater.")]


def test_every_module_has_a_layer() -> None:
    for module, _ in _modules():
        layer_of(module)


def test_imports_go_downward_only() -> None:
    offending = [
        f"{module}:{line} imports {target} (layer {layer_of(target)} > {layer_of(module)})"
        for module, path in _modules()
        for line, target in _imports(module, path)
        if layer_of(target) > layer_of(module)
    ]
    assert not offending, "imports going up a layer:\n" + "\n".join(offending)


def test_imports_are_found_at_any_depth(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from headwater.serve.store import Store\n"
        "def f():\n"
        "    import headwater.runner\n"
        "    from ..sinks import base\n",
        encoding="utf-8",
    )
    found = _imports("headwater.world.m", module)
    assert found == [
        (3, "headwater.serve.store"),
        (5, "headwater.runner"),
        (6, "headwater.sinks.base"),
    ]
    assert [layer_of(t) > layer_of("headwater.world.m") for _, t in found] == [True] * 3
