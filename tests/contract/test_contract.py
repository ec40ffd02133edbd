"""The sink contract (docs: CONTRACT.md), checked for every registered sink kind.

Each check is parametrized over the harnesses (tests/contract/harnesses.py), filtered by
what the sink declares or what its harness can read back. Servers are the session's.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import headwater
from headwater import runner
from headwater.errors import ScenarioError, SinkUnavailable
from headwater.ledger import LedgerReader
from headwater.runner import run
from headwater.sinks import SINKS, SinkConfig, SinkContext
from headwater.testing.servers import free_port
from headwater.world.changes import Changes, change_schema
from headwater.world.schema import world_schemas

from tests.contract._checks import (
    check_acks,
    check_delivery,
    check_final_state,
    check_report_is_ledger,
)
from tests.contract._harness import (
    NAME,
    PASSWORD,
    Harness,
    Landings,
    declares,
    land,
    scenario,
    scenario_text,
    server_for,
)
from tests.contract.harnesses import HARNESSES, harnesses
from tests.sinks._streams import expected_events

#: Server-backed kinds the server-stopped-mid-run check leaves out, and why.
OUTAGE_UNCHECKED = {
    "mqtt": "Mosquitto here keeps nothing across a restart, and a subscriber misses what is "
    "published while it reconnects: nothing independent can read back what landed",
}


def test_every_registered_sink_has_a_harness() -> None:
    missing = sorted(set(SINKS.names()) - set(HARNESSES))
    assert not missing, f"add a harness to tests/contract/harnesses.py for: {missing}"
    assert set(HARNESSES) <= set(SINKS.names()), "a harness for a sink kind not registered"
    for h in HARNESSES.values():
        stateful = declares(h, "store")
        assert (h.rows is not None) == stateful, f"{h.kind}: rows reads back a store's state"
        assert (h.landed is not None) != stateful, f"{h.kind}: landed reads back deliveries"
        assert (h.dead is not None) == (h.server is not None), f"{h.kind}: dead address"
        if declares(h, "files"):
            assert h.files is not None, f"{h.kind}: name the folder its files land in"
        if declares(h, "ordering") and "ordering" not in h.unobserved:
            assert h.event_id is not None, f"{h.kind}: name the event id of what landed"
        if h.server is not None:
            assert (h.stop is None) == (h.kind in OUTAGE_UNCHECKED), f"{h.kind}: stop its server"


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
from typing import Any

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


@pytest.mark.parametrize("h", harnesses(lambda h: not declares(h, "store")))
def test_delivery_equals_the_worlds_changes(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    assert landing.landed is not None
    check_delivery(h, landing.run, landing.landed)


@pytest.mark.parametrize("h", harnesses(lambda h: declares(h, "store")))
def test_final_state_equals_the_worlds_row_by_row(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    assert landing.rows is not None
    check_final_state(landing.sc, landing.rows)


@pytest.mark.parametrize("h", harnesses())
def test_report_counts_equal_ledger_counts(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    check_report_is_ledger(landing.run)


@pytest.mark.parametrize("h", harnesses(lambda h: not declares(h, "store")))
def test_report_counts_what_landed(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    """The report counts every change that landed once (duplicates are counted apart)."""
    landing = landings.get(h, server_for(request, h))
    assert landing.landed is not None and h.expected is not None
    once = sum((landing.landed & h.expected(landing.run)).values())
    reported = sum(sum(ops.values()) for ops in landing.run.stats(NAME)["counts"].values())
    assert reported == once, f"{once} changes landed, the report counts {reported}"


@pytest.mark.parametrize(
    "h", harnesses(lambda h: declares(h, "ordering") and "ordering" not in h.unobserved)
)
def test_each_keys_changes_land_in_the_worlds_order(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    assert h.event_id is not None and landing.arrived is not None, f"{h.kind}: name event ids"
    world = expected_events(landing.run)
    rank = {e.event_id: i for i, e in enumerate(world)}
    key = {e.event_id: (e.entity, e.key) for e in world}
    seen: set[str] = set()
    per_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for identity in landing.arrived:
        event = h.event_id(identity)
        if event not in seen:  # a copy sent again comes after its original: not an order
            seen.add(event)
            per_key[key[event]].append(rank[event])
    assert any(len(ranks) > 1 for ranks in per_key.values()), "no key changed twice"
    disordered = [k for k, ranks in per_key.items() if ranks != sorted(ranks)]
    assert not disordered, f"{len(disordered)} keys out of the world's order, e.g. {disordered[:3]}"


@pytest.mark.parametrize("h", harnesses(lambda h: h.acks is None))
def test_a_sink_whose_acks_go_unchecked_reports_none(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    acks = LedgerReader(landing.run.out / "ledger").acks(NAME)
    assert acks is None, f"{h.kind} reports acknowledgements: give its harness `acks`"


@pytest.mark.parametrize("h", harnesses(lambda h: h.acks is not None))
def test_acknowledgements_cover_deliveries_exactly_once(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    assert (landing.arrived is None) == declares(h, "store")
    check_acks(h, landing.run, landing.arrived)


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


@pytest.mark.parametrize("h", harnesses(lambda h: declares(h, "at_least_once")))
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
def test_dead_address_names_sink_and_address_never_the_password(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert h.dead is not None
    reports: list[runner.RunReport] = []

    class Kept(runner.RunReport):
        """The run's report, kept: a failed run fills it in, then raises."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            reports.append(self)

    monkeypatch.setattr(runner, "RunReport", Kept)
    port = free_port()
    out = tmp_path / "out"
    with pytest.raises(SinkUnavailable) as err:  # a SinkError saying the server is away
        run(scenario(h.dead(port)), out_dir=out, ledger=True)
    message = str(err.value)
    assert f"sink '{NAME}'" in message and f"127.0.0.1:{port}" in message, message
    assert PASSWORD not in message
    [report] = reports
    assert NAME in report.sinks, "the report says nothing of the sink"
    assert PASSWORD not in json.dumps(report.as_dict(), default=str), report.sinks[NAME]
    assert (out / "ledger" / "manifest.json").exists(), "the ledger was not started"
    leaks = [p for p in out.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not leaks, f"the password is written in the ledger or beside it: {leaks}"
