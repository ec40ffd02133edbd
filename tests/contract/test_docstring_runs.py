"""The docstring's YAML example of every sink kind runs briefly into its harness.

tests/test_docstring_yaml.py shows each example validates; here the example's sink, with the
harness's address (url, path, topic… win over the example's), runs thirty simulated seconds of
the example world with small initial tables, and must publish something and end cleanly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from headwater.resolve.load import loads
from headwater.sinks import SINKS

from tests.contract._harness import NAME, Harness, server_for
from tests.contract.test_contract import harnesses
from tests.sinks._streams import run_world
from tests.test_docstring_yaml import _blocks, _scenario


def _example(kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The example scenario (as data) and, in it, the config of the first sink of `kind`."""
    for block in _blocks(SINKS, kind):
        doc = yaml.safe_load(_scenario(block))
        for config in (doc.get("sinks") or {}).values():
            if isinstance(config, dict) and config.get("kind") == kind:
                return doc, config
    raise AssertionError(f"{kind}: no docstring example declares a sink of this kind")


def _brief(doc: dict[str, Any]) -> None:
    """Thirty simulated seconds, initial tables of at most 20 rows."""
    doc["clock"] = {**doc["clock"], "duration": "30s", "speed": "max"}
    for entity in doc["entities"].values():
        if isinstance(entity.get("initial"), int):
            entity["initial"] = min(entity["initial"], 20)


@pytest.mark.parametrize("h", harnesses())
def test_the_docstring_example_runs_into_the_harness(
    h: Harness, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    doc, example = _example(h.kind)
    ns = f"docs_{h.kind}"
    ours = yaml.safe_load(h.sink(server_for(request, h), ns))  # the session's server
    sinks = {n: c for n, c in ours.items() if n != NAME}  # what the harness's sink reads from
    # the example's options with the harness's address, whose URL carries its credentials
    secrets = ("password_env", "password_file", "secret_env", "secret_file")
    example = {k: v for k, v in example.items() if k not in secrets}
    sinks[NAME] = {**example, **ours[NAME]}
    doc["sinks"] = sinks
    _brief(doc)
    text = yaml.safe_dump(doc, sort_keys=False)
    text = re.sub(r"\$\{(\w+)\}", r"$${\1}", text)  # no environment in the example's text
    server = server_for(request, h)
    reader = h.listen(server, ns) if h.listen else server
    r = run_world(loads(text), tmp_path, ledger=True)
    published = r.stats(NAME)
    assert r.report.steps > 0 and sum(n for o in published["counts"].values() for n in o.values())
    # read back with the harness's own client (which also drains a shared receiver); a
    # store's reader knows the contract world's tables only, so its report stands
    if h.landed is not None:
        assert h.landed(reader, ns, r), f"{h.kind}: nothing landed"
