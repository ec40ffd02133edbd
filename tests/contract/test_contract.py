"""The sink contract (docs: CONTRACT.md), checked for every registered sink kind.

Each check is parametrized over the harnesses (tests/contract/harnesses.py), filtered by
what the sink declares or what its harness can read back. Servers are the session's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

import headwater
from headwater.errors import ScenarioError, SinkUnavailable
from headwater.ledger import LedgerReader
from headwater.runner import run
from headwater.sinks import SINKS, SinkConfig, SinkContext
from headwater.testing.servers import free_port
from headwater.world.changes import Changes, change_schema
from headwater.world.schema import world_schemas

from tests.contract._harness import (
    NAME,
    PASSWORD,
    Harness,
    Landings,
    final_rows,
    land,
    scenario,
    scenario_text,
    server_for,
)
from tests.contract.harnesses import HARNESSES


def harnesses(applies: Callable[[Harness], bool] = lambda h: True) -> list[Any]:
    """The registered kinds that have a harness and to which a check applies."""
    return [
        pytest.param(HARNESSES[k], id=k)
        for k in SINKS.names()
        if k in HARNESSES and applies(HARNESSES[k])
    ]


def test_every_registered_sink_has_a_harness() -> None:
    missing = sorted(set(SINKS.names()) - set(HARNESSES))
    assert not missing, f"add a harness to tests/contract/harnesses.py for: {missing}"
    assert set(HARNESSES) <= set(SINKS.names()), "a harness for a sink kind not registered"
    for h in HARNESSES.values():
        stateful = h.capabilities.sql
        assert (h.rows is not None) == stateful, f"{h.kind}: rows reads back a sql store's tables"
        assert (h.landed is not None) != stateful, f"{h.kind}: landed reads back deliveries"
        assert (h.dead is not None) == (h.server is not None), f"{h.kind}: dead address"
        if h.capabilities.files:
            assert h.files is not None, f"{h.kind}: name the folder its files land in"


# -- pure validation --------------------------------------------------------------------------


def offline_yaml(h: Harness) -> str:
    """The sink's YAML without touching a server: its dead address when it has one."""
    return h.dead(free_port()) if h.dead else h.sink(None, "offline")


def own_option(kind: str) -> str:
    """The first option the sink's Config adds to those every sink shares ('entities'), as
    written in YAML."""
    config = SINKS.get(kind).Config
    fields = config.model_fields.items()
    own = [f.alias or n for n, f in fields if n not in SinkConfig.model_fields]
    return own[0] if own else "entities"


@pytest.mark.parametrize("h", harnesses())
def test_unknown_key_names_its_yaml_path_and_suggests(h: Harness) -> None:
    option = own_option(h.kind)
    typo = option + option[-1]
    text = offline_yaml(h).replace(f"{NAME}: {{", f"{NAME}: {{{typo}: 1, ", 1)
    with pytest.raises(ScenarioError) as err:
        scenario(text)
    message = str(err.value)
    assert f"sinks.{NAME}.{typo}" in message, message
    assert f"did you mean '{option}'" in message, message


@pytest.mark.parametrize("h", harnesses())
def test_validate_opens_no_socket(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario_text(offline_yaml(h)), encoding="utf-8")

    def refuse(*args: object) -> None:
        raise AssertionError(f"validate connected to {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    assert NAME in headwater.validate(path).sinks


@pytest.mark.parametrize("h", harnesses())
def test_module_imports_alone(h: Harness) -> None:
    module = SINKS.get(h.kind).__module__
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


#: Run in a fresh interpreter: import the sink's module with its client library hidden,
#: then open the sink of the scenario on stdin; print what open() raised.
WITHOUT_DRIVER = """
import sys
from pathlib import Path

DRIVER = sys.argv[1]


class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == DRIVER or name.startswith(DRIVER + "."):
            raise ImportError(f"{name} is hidden")


sys.meta_path.insert(0, Hide())
from headwater.resolve.load import loads
from headwater.sinks import SINKS, SinkContext
from headwater.world.schema import world_schemas

sc = loads(sys.stdin.read())
config = sc.sinks["s"]
SINKS.get(config.kind)  # imports the module
context = SinkContext(world_schemas(sc), Path(sys.argv[2]), sc.seed, sc.name, {})
try:
    SINKS.get(config.kind)("s", config, context).open()
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize("h", harnesses(lambda h: h.server is not None))
def test_without_its_driver_the_module_imports_and_open_names_the_pip_extra(
    h: Harness, tmp_path: Path
) -> None:
    assert h.driver is not None and h.dead is not None, f"{h.kind}: name its client library"
    module, extra = h.driver
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DRIVER, module, str(tmp_path)],
        input=scenario_text(h.dead(free_port())),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("MissingExtra "), done.stdout
    assert f'pip install "headwater[{extra}]"' in done.stdout, done.stdout


# -- lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("h", harnesses())
def test_an_empty_step_then_flush_and_close(
    h: Harness, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    sc = scenario(h.sink(server_for(request, h), f"contract_life_{h.kind}"))
    schemas = world_schemas(sc)
    context = SinkContext(schemas, tmp_path, sc.seed, sc.name, dict(sc.sinks))
    sinks = [SINKS.get(c.kind)(n, c, context) for n, c in sc.sinks.items()]
    empty = {e: change_schema(s.key_type, s.row_type).empty_table() for e, s in schemas.items()}
    opened = []
    try:
        for sink in sinks:
            sink.open()
            opened.append(sink)
        for sink in sinks:
            sink.write(Changes(0, 0, 60_000_000, {e: empty[e] for e in sink.entities}))
            sink.advance(60_000_000)
        for sink in sinks:
            sink.flush()
    finally:
        for sink in reversed(opened):
            sink.close()
    assert all(sink.stats.total() == 0 for sink in sinks)


# -- what lands -------------------------------------------------------------------------------


@pytest.mark.parametrize("h", harnesses(lambda h: not h.capabilities.sql))
def test_delivery_equals_the_worlds_changes(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    assert h.expected is not None and landing.landed is not None
    expected, landed = h.expected(landing.run), landing.landed
    assert expected, "the world changed nothing"
    missing = expected - landed
    unexpected = {k: n for k, n in (landed - expected).items() if k not in expected}
    assert not missing and not unexpected, (
        f"{sum(missing.values())} missing, e.g. {list(missing)[:2]}; "
        f"{sum(unexpected.values())} unexpected, e.g. {list(unexpected)[:2]}"
    )
    doubled = sum((landed - expected).values())
    if h.capabilities.at_least_once:
        counted = landing.run.stats(NAME).get("resent", 0)
        assert doubled <= counted, f"{doubled} duplicates landed, the report counts {counted}"
    else:
        assert doubled == 0, f"{doubled} duplicates landed"


@pytest.mark.parametrize("h", harnesses(lambda h: h.capabilities.sql))
def test_final_state_equals_the_worlds_row_by_row(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    want = final_rows(landing.sc)
    assert landing.rows is not None and set(landing.rows) == set(want)
    for entity, rows in want.items():
        got = landing.rows[entity]
        assert got == rows, (
            f"{entity}: {len(rows - got)} rows missing, e.g. {sorted(rows - got)[:1]}; "
            f"{len(got - rows)} differ or extra, e.g. {sorted(got - rows)[:1]}"
        )


@pytest.mark.parametrize("h", harnesses())
def test_report_counts_equal_ledger_counts(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    ledger = LedgerReader(landing.run.out / "ledger")
    counted: dict[str, dict[str, int]] = {}
    for entity in ledger.sinks[NAME].entities:
        events = ledger.events(NAME, entity)
        if events is not None:
            ops = pc.value_counts(events["op"]).to_pylist()
            counted[entity] = {d["values"]: d["counts"] for d in ops}
    reported = {e: dict(ops) for e, ops in landing.run.stats(NAME)["counts"].items() if ops}
    assert reported == counted


@pytest.mark.parametrize("h", harnesses(lambda h: not h.capabilities.sql))
def test_report_counts_what_landed(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    """The report counts every change that landed once (duplicates are counted apart)."""
    landing = landings.get(h, server_for(request, h))
    assert landing.landed is not None and h.expected is not None
    once = sum((landing.landed & h.expected(landing.run)).values())
    reported = sum(sum(ops.values()) for ops in landing.run.stats(NAME)["counts"].values())
    assert reported == once, f"{once} changes landed, the report counts {reported}"


# -- determinism ------------------------------------------------------------------------------


def file_bytes(root: Path) -> dict[str, bytes]:
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root.parent)): p.read_bytes() for p in paths}


@pytest.mark.parametrize("h", harnesses(lambda h: h.files is not None))
def test_same_seed_same_bytes(
    h: Harness, request: pytest.FixtureRequest, landings: Landings, tmp_path: Path
) -> None:
    first = landings.get(h, server_for(request, h)).run.out
    land(h, server_for(request, h), f"contract_again_{h.kind}", tmp_path)
    assert h.files is not None
    again, before = file_bytes(tmp_path / h.files), file_bytes(first / h.files)
    assert again.keys() == before.keys()
    differ = [p for p in before if before[p] != again[p]]
    assert not differ, f"not byte-identical: {differ[:3]}"


@pytest.mark.parametrize("h", harnesses(lambda h: h.capabilities.at_least_once))
def test_same_seed_same_events(
    h: Harness, request: pytest.FixtureRequest, landings: Landings, tmp_path: Path
) -> None:
    server = server_for(request, h)
    before = landings.get(h, server).landed
    again = land(h, server, f"contract_again_{h.kind}", tmp_path).landed
    assert before is not None and again is not None
    assert set(again) == set(before)


# -- failure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "h",
    harnesses(lambda h: h.server is not None),
)
def test_dead_address_names_sink_and_address_never_the_password(h: Harness, tmp_path: Path) -> None:
    assert h.dead is not None
    port = free_port()
    out = tmp_path / "out"
    with pytest.raises(SinkUnavailable) as err:  # a SinkError saying the server is away
        run(scenario(h.dead(port)), out_dir=out, ledger=True)
    message = str(err.value)
    assert f"sink '{NAME}'" in message and f"127.0.0.1:{port}" in message, message
    assert PASSWORD not in message
    assert (out / "ledger" / "manifest.json").exists(), "the ledger was not started"
    leaks = [p for p in out.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not leaks, f"the password is written in {leaks}"
