"""Capability truth (CONTRACT.md): what a sink's delivery run shows, it declares; what it
declares, the run shows, wherever its harness can observe it. And the registry's capture
plug-ins resolve for every sink that declares log_capture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from headwater.capture import Capture, capture_class
from headwater.errors import SinkError
from headwater.ledger import LedgerReader
from headwater.sinks import SINKS, Capabilities, Sink

from tests.contract._harness import NAME, Harness, Landing, Landings, declares, server_for
from tests.contract.test_contract import harnesses


def ops(landing: Landing) -> set[str]:
    """The operations the sink reported landing (the report equals the ledger and what
    was read back: test_contract.py)."""
    counts = landing.run.stats(NAME)["counts"]
    return {op for by_op in counts.values() for op, n in by_op.items() if n}


def acks(landing: Landing) -> Any:
    return LedgerReader(landing.run.out / "ledger").acks(NAME)


def folder(landing: Landing) -> bool:
    """The sink's own `path` is a folder it filled (a database file is not)."""
    path = getattr(landing.run.sinks[NAME].config, "path", None)
    return isinstance(path, str) and (Path(landing.run.out) / path).is_dir()


def overrides(name: str) -> Callable[[Harness, Landing], bool]:
    """The sink's class implements `name` rather than inheriting Sink's default."""
    return lambda h, landing: (
        getattr(type(landing.run.sinks[NAME]), name) is not getattr(Sink, name)
    )


#: capability → what the delivery run shows when the sink does it.
OBSERVED: dict[str, Callable[[Harness, Landing], bool]] = {
    "updates": lambda h, landing: "u" in ops(landing),
    "deletes": lambda h, landing: "d" in ops(landing),
    "acks": lambda h, landing: (a := acks(landing)) is not None and a.num_rows > 0,
    "partitions": lambda h, landing: (
        (a := acks(landing)) is not None and a.num_rows > a["partition"].null_count
    ),
    "tombstones": lambda h, landing: landing.run.stats(NAME).get("tombstones", 0) > 0,
    "files": lambda h, landing: folder(landing),
    "lines": lambda h, landing: landing.run.stats(NAME).get("lines", 0) > 0,
    "store": lambda h, landing: landing.rows is not None,
    "carries_records": overrides("write_records"),
}


def test_observations_name_capabilities() -> None:
    names = {f.name for f in fields(Capabilities)}
    assert set(OBSERVED) <= names


@pytest.mark.parametrize("h", harnesses())
def test_what_lands_is_declared_and_what_is_declared_lands(
    h: Harness, request: pytest.FixtureRequest, landings: Landings
) -> None:
    landing = landings.get(h, server_for(request, h))
    caps = h.capabilities
    declared = {f.name for f in fields(caps) if declares(h, f.name)}
    assert h.unobserved <= declared, "unobserved: undeclared"
    wrong = []
    for name, seen in OBSERVED.items():
        declared, shown = getattr(caps, name), seen(h, landing)
        if shown and not declared:
            wrong.append(f"the run shows {name}, which {h.kind} does not declare")
        if declared and not shown and name not in h.unobserved:
            wrong.append(f"{h.kind} declares {name}, which its delivery run does not show")
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize("kind", SINKS.names())
def test_every_sink_says_how_often_a_change_lands(kind: str) -> None:
    caps = SINKS.get(kind).capabilities
    assert caps.exactly_once != caps.at_least_once, f"{kind}: exactly_once or at_least_once"


@pytest.mark.parametrize("kind", SINKS.names())
def test_acks_are_handed_to_the_ledger_by_the_sinks_that_declare_them(kind: str) -> None:
    cls = SINKS.get(kind)
    assert (cls.take_acks is not Sink.take_acks) == cls.capabilities.acks


@pytest.mark.parametrize("kind", SINKS.names())
def test_capture_plugins_resolve_for_every_sink_declaring_log_capture(kind: str) -> None:
    cls = SINKS.get(kind)
    assert (cls.capture is not None) == cls.capabilities.log_capture, kind
    if cls.capabilities.log_capture:
        found = capture_class(kind, "changes")
        assert isinstance(found, type) and issubclass(found, Capture)
    else:
        with pytest.raises(SinkError, match=f"a {kind} sink has no change log to capture"):
            capture_class(kind, "changes")
