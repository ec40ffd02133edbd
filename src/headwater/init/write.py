"""The scenario mapping as YAML in the examples' style: structure in blocks, each field,
sink and small setting on one line, names quoted where YAML needs it."""

from __future__ import annotations

from typing import Any

import yaml

# mappings under these keys are written one entry per line, each entry's value in flow style
_BLOCK = {"entities", "fields", "sinks"}


def _flow(value: Any) -> str:
    text: str = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=10**9, allow_unicode=True
    )
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _lines(data: dict[str, Any], depth: int, block: bool) -> list[str]:
    pad = "  " * depth
    out = []
    for k, v in data.items():
        key = _flow(k)
        if isinstance(v, dict) and (block or k in _BLOCK):
            out.append(f"{pad}{key}:")
            out += _lines(v, depth + 1, block=k == "entities")
        else:
            out.append(f"{pad}{key}: {_flow(v)}")
    return out


def to_yaml(scenario: dict[str, Any], header: list[str]) -> str:
    comments = [f"# {line}" if line else "#" for line in header]
    body = []
    for k, v in scenario.items():
        if isinstance(v, dict) and k in _BLOCK:
            body.append(f"{_flow(k)}:")
            body += _lines(v, 1, block=k == "entities")
        else:
            body.append(f"{_flow(k)}: {_flow(v)}")
    return "\n".join([*comments, *body]) + "\n"
