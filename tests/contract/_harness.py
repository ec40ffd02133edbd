"""What the contract suite needs to know of one sink kind, and the short world it runs.

A `Harness` says how to configure the sink under test (always named `s`) against a server,
how to read back what landed with a client that is not headwater's, and how to point it at
a dead address. Checks compare what landed with the world's own change stream, kept by a
memory sink (`mem`) in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from headwater.resolve.load import loads
from headwater.resolve.scenario import Scenario
from headwater.sinks import SINKS, Capabilities, Ordering

from tests.capture._db import world_final
from tests.sinks._streams import WORLD, Run, expected_events, normalize, run_world

#: The sink under test's name in every scenario of the suite.
NAME = "s"
#: A password in every dead address: it must appear nowhere.
PASSWORD = "p4ssw0rdXYZ"
DURATION = dt.timedelta(minutes=1)
#: tests/sinks/_streams.py's world, cut to a few hundred events.
SHORT = {"duration: 10m, step: 1m": "duration: 1m, step: 15s", "initial: 200": "initial: 50"}

Landed = Counter[Any]
#: What landed in the order a reader met it (duplicates included).
Arrived = list[Any]
Rows = dict[str, set[tuple[Any, ...]]]


@dataclass(frozen=True)
class Harness:
    """One sink kind as the contract suite drives it.

    `sink(server, ns)` is the YAML of the scenario's sinks (the one under test named `s`,
    plus any it reads from); `ns` keeps runs apart on a shared server (a topic prefix, a
    database). `listen(server, ns)`, when given, subscribes before the run and replaces the
    server for `landed(server, ns, run)`, which reads back what arrived as a Counter of the
    same identities `expected(run)` derives from the memory sink, in the order they arrived.
    `rows(server, ns, run)` reads a stateful store's tables. `dead(port)` is the sink at
    127.0.0.1:<port> with PASSWORD. `files` is the folder (under the output folder) of what
    lands as files; `driver` the client library open() imports and the pip extra that
    installs it. `unobserved` names the capabilities the sink declares that this harness's
    configuration does not exercise (a CDC sink's acks are its transport's: none into files).

    Sinks that carry event ids: `event_id(identity)` is the world's id ("orders-12") of one
    landed identity; `acks(run)` the ids the receiving end acknowledged, one per ack.
    Server-backed sinks: `stop(server)` takes the server away as a crash does, `start(server)`
    brings it back on the same port and data; `ride_out` is the YAML (`, key: value…`) that
    lets the sink outlast a short outage; `forgetful` names a server fixture of the kind
    configured to lose what it acknowledged in a crash (the run must then fail cleanly).
    """

    kind: str
    sink: Callable[[Any, str], str]
    server: str | None = None
    listen: Callable[[Any, str], Any] | None = None
    landed: Callable[[Any, str, Run], Arrived] | None = None
    expected: Callable[[Run], Landed] | None = None
    rows: Callable[[Any, str, Run], Rows] | None = None
    dead: Callable[[int], str] | None = None
    files: str | None = None
    driver: tuple[str, str] | None = None  # (client module, pip extra) open() imports
    unobserved: frozenset[str] = frozenset()
    event_id: Callable[[Any], str] | None = None
    acks: Callable[[Run], list[str]] | None = None
    stop: Callable[[Any], None] | None = None
    start: Callable[[Any], None] = lambda server: server.restart()
    ride_out: str = ""
    forgetful: str | None = None

    @property
    def capabilities(self) -> Capabilities:
        return SINKS.get(self.kind).capabilities


def declares(h: Harness, capability: str) -> bool:
    """Whether the sink declares `capability`: the one place the suite reads capabilities."""
    value = getattr(h.capabilities, capability)
    return value is not Ordering.NONE if capability == "ordering" else bool(value)


def scenario_text(sinks: str) -> str:
    """The short world's YAML with these sinks and a memory sink `mem`."""
    body = WORLD
    for old, new in SHORT.items():
        body = body.replace(old, new)
    return body + "sinks:\n" + textwrap.indent(sinks + "mem: {kind: memory}\n", "  ")


def scenario(sinks: str) -> Scenario:
    return loads(scenario_text(sinks))


@dataclass
class Landing:
    """One run of the short world into a sink, and what was read back right after."""

    run: Run
    sc: Scenario
    arrived: Arrived | None
    rows: Rows | None

    @property
    def landed(self) -> Landed | None:
        return None if self.arrived is None else Counter(self.arrived)


def land(h: Harness, server: Any, ns: str, out: Path) -> Landing:
    """Run the short world into the harness's sink (with a ledger) and read back."""
    sc = scenario(h.sink(server, ns))
    reader = h.listen(server, ns) if h.listen else server
    r = run_world(sc, out, ledger=True)
    arrived = h.landed(reader, ns, r) if h.landed else None
    rows = h.rows(server, ns, r) if h.rows else None
    return Landing(r, sc, arrived, rows)


def server_for(request: pytest.FixtureRequest, h: Harness) -> Any:
    """The harness's server (a session fixture), or None for sinks that need none."""
    return request.getfixturevalue(h.server) if h.server else None


class Landings:
    """The one delivery run per sink kind, made on first use."""

    def __init__(self, root: Path):
        self.root = root
        self.done: dict[str, Landing] = {}
        self.failed: dict[str, str] = {}

    def get(self, h: Harness, server: Any) -> Landing:
        if h.kind in self.failed:  # the first check that asked shows the traceback
            pytest.fail(f"the delivery run into {h.kind} failed: {self.failed[h.kind]}")
        if h.kind not in self.done:
            try:
                self.done[h.kind] = land(h, server, f"contract_{h.kind}", self.root / h.kind)
            except Exception as exc:
                self.failed[h.kind] = repr(exc)
                raise
        return self.done[h.kind]


# -- identities of what landed ---------------------------------------------------------------


def canon(value: Any) -> str:
    """A row image as one comparable string: times ISO with Z, every number a float (JSON
    has one number type: a writer may print 63.0 as 63), without `_ingest_time` (a sink
    with faults says when the source delivered the change: not part of the world's row)."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "_ingest_time"}
    return json.dumps(numbers(normalize(value)), sort_keys=True, ensure_ascii=False)


def numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def event_images(r: Run) -> Landed:
    """(event id, row image with `_op`) of every change of the world."""
    return Counter(event_list(r))


def event_list(r: Run) -> Arrived:
    """(event id, row image with `_op`) of every change of the world, in its order."""
    return [(e.event_id, canon(e.row)) for e in expected_events(r)]


def row_images(r: Run) -> Landed:
    """(entity, row image with `_op`) of every change of the world."""
    return Counter((e.entity, canon(e.row)) for e in expected_events(r))


def debezium_images(r: Run) -> Landed:
    """(table, op, row image without `_op`): what every Debezium record carries, whatever
    its connector's `source` fields."""
    out: Landed = Counter()
    for e in expected_events(r):
        image = {k: v for k, v in e.row.items() if k != "_op"}
        out[(e.entity, e.op, canon(image))] += 1
    return out


def activity(r: Run) -> Landed:
    """(entity, op) of every change that is activity (not the initial snapshot)."""
    return Counter((e.entity, e.op) for e in expected_events(r) if e.op != "r")


def final_rows(sc: Scenario) -> Rows:
    """The world's final rows per entity, each value made comparable by `cell`."""
    return {
        e: {tuple(cell(v) for v in row) for row in rows}
        for e, rows in world_final(sc, DURATION).items()
    }


def cell(v: Any) -> Any:
    """A stored value as every store and the world agree on: times ISO UTC, bools as ints."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(timespec="microseconds") + "Z"
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Decimal):
        return float(v)
    return v


def jsonl(folder: Path, pattern: str = "*.jsonl") -> list[Any]:
    """Every JSON line of every file matching `pattern` under `folder`."""
    return [
        json.loads(line)
        for p in sorted(folder.rglob(pattern))
        for line in p.read_text(encoding="utf-8").splitlines()
        if line
    ]
