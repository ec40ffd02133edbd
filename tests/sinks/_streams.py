"""Shared by the message-sink tests: a small world, a run beside a memory sink, and checks.

Each broker test consumes what its sink sent with an independent client, turns every
message into a `Received` (event id, key, route, decoded body, headers) and compares the
list with the world's own change stream taken from a memory sink in the same run.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from headwater.ledger import LedgerReader
from headwater.resolve.scenario import Scenario
from headwater.runner import RunReport, run
from headwater.sinks import SINKS, Sink, SinkContext
from headwater.sinks._project import project
from headwater.world.schema import world_schemas

from tests.helpers import scenario

# Customers change (updates, deletes) so per-key order matters; orders carry a skewed
# country so routes and partitions are uneven.
WORLD = """
name: streams
seed: 3
clock: {start: 2026-01-01T00:00:00Z, duration: 10m, step: 1m}
entities:
  customers:
    key: id
    initial: 200
    arrivals: 1/s
    fields:
      id: {seq: {}}
      email: {fake: email}
      country: {choice: {US: 6, DE: 2, FR: 2}}
      vip: {bool: {p: 0.1}}
      created_at: {event_time: {}}
    updates: {rate: 2/s, fields: [email, vip]}
    deletes: {rate: 0.3/s}
  orders:
    key: order_id
    arrivals: 3/s
    fields:
      order_id: {seq: {}}
      customer_id: {ref: customers.id, skew: {zipf: 1.2}}
      country: {choice: {US: 8, DE: 1, FR: 1}}
      amount: {lognormal: {mu: 3.5, sigma: 0.8}, round: 2}
      note: {choice: ['plain', 'with "quotes"', "back\\\\slash", "line\\nbreak", "ünïcödé ✓"]}
      placed_at: {event_time: {}}
"""


def world(sinks: str, **replace: str) -> Scenario:
    return scenario(WORLD, sinks + "\nmem: {kind: memory}\n", **replace)


@dataclass
class Run:
    report: RunReport
    sinks: dict[str, Sink]
    out: Path

    @property
    def memory(self) -> Any:
        return self.sinks["mem"]

    def stats(self, name: str) -> dict[str, Any]:
        return self.report.sinks[name]


def run_world(sc: Scenario, out: Path, ledger: bool = False, **kwargs: Any) -> Run:
    """Run `sc` with sinks we keep hold of (the memory sink holds the world's changes)."""
    context = SinkContext(world_schemas(sc), out, sc.seed, sc.name, dict(sc.sinks))
    sinks = {n: SINKS.get(c.kind)(n, c, context) for n, c in sc.sinks.items()}
    report = run(sc, out_dir=out, sinks=sinks, ledger=ledger, **kwargs)
    return Run(report, sinks, out)


@dataclass
class Event:
    """One change of the world as the sink should have sent it (payload `rows`)."""

    event_id: str
    entity: str
    key: str
    op: str
    row: dict[str, Any]


def expected_events(r: Run, entities: list[str] | None = None) -> list[Event]:
    """The world's changes, in seq order per entity, projected as `rows`."""
    mem = r.memory
    out: list[Event] = []
    for entity, schema in mem.context.schemas.items():
        if entities is not None and entity not in entities:
            continue
        records = project(mem.table(entity), schema, "rows")
        ids = records.event_ids.to_pylist()
        keys = [str(k) for k in records.key.to_pylist()]
        ops = records.op.to_pylist()
        for i, row in enumerate(records.values.to_pylist()):
            out.append(Event(ids[i], entity, keys[i], ops[i], normalize(row)))
    return out


def event_millis(r: Run) -> dict[str, int]:
    """Event id → the event time (ms) of every change of the world (the memory sink's copy)."""
    out = {}
    for entity in r.memory.context.schemas:
        table = r.memory.table(entity)
        seqs = table["seq"].to_pylist()
        micros = table["event_time"].cast("int64").to_pylist()
        out.update({f"{entity}-{s}": us // 1000 for s, us in zip(seqs, micros, strict=True)})
    return out


def iso_millis(text: str) -> int:
    """An ISO 8601 time (a header) as ms since the epoch."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def normalize(value: Any) -> Any:
    """A Python row as it reads back from JSON: ISO times with Z, decimals as floats."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if isinstance(value, Decimal):
        return float(value)
    return value


@dataclass
class Received:
    """One message read back from a broker."""

    event_id: str
    key: str | None
    route: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    offset: int | None = None  # where the broker put it, when it numbers messages


def check_same_events(received: list[Received], expected: list[Event]) -> None:
    """Same set of events, each body equal to the world's row, each once."""
    got = [m.event_id for m in received]
    assert len(got) == len(set(got)), "duplicates delivered"
    by_id = {e.event_id: e for e in expected}
    assert set(got) == set(by_id), (
        f"missing {len(set(by_id) - set(got))}, unexpected {len(set(got) - set(by_id))}"
    )
    for m in received:
        e = by_id[m.event_id]
        body = json.loads(m.body) if isinstance(m.body, bytes | str) else m.body
        assert body == e.row, (m.event_id, body, e.row)
        if m.key is not None:
            assert m.key == e.key


def check_order_per(
    received: list[Received], expected: list[Event], group: Callable[[Received], Any]
) -> None:
    """Within each group (a key on its route, a route…), messages keep the world's order."""
    rank = {e.event_id: i for i, e in enumerate(expected)}
    seen: dict[Any, list[int]] = defaultdict(list)
    for m in received:
        seen[group(m)].append(rank[m.event_id])
    for name, ranks in seen.items():
        assert ranks == sorted(ranks), f"out of order within {name!r}"


def check_acks_match(r: Run, sink: str, received: list[Received]) -> None:
    """The ledger acknowledges exactly what the broker holds: every message read back once,
    at its route (and offset, where the broker numbers messages), and nothing else."""
    acks = LedgerReader(r.out / "ledger").acks(sink)
    assert acks is not None, "the ledger holds no acknowledgement"
    rows = acks.to_pylist()
    twice = [i for i, n in Counter(a["event_id"] for a in rows).items() if n > 1]
    assert not twice, f"{len(twice)} messages acknowledged more than once, e.g. {twice[:3]}"
    held = {m.event_id: m for m in received}
    absent = [a["event_id"] for a in rows if a["event_id"] not in held]
    assert not absent, f"{len(absent)} acknowledged messages are not in the broker: {absent[:3]}"
    unacked = held.keys() - {a["event_id"] for a in rows}
    assert not unacked, f"{len(unacked)} messages in the broker lack an acknowledgement"
    for a in rows:
        m = held[a["event_id"]]
        assert a["route"] == m.route, (a, m.route)
        if m.offset is not None:
            assert a["offset"] == m.offset, (a, m.offset)


def by_key(m: Received) -> tuple[str, str | None]:
    return m.route, m.key


class Outage:
    """An `on_step` hook: at step `at`, stop the server with `sig`; start it `down` s later
    (then call `then`, if given).

    The server is gone before the run takes its next step, and the restart runs on a thread,
    so the run goes on writing into a server that is away, however fast the machine.
    """

    def __init__(
        self,
        server: Any,
        at: int,
        down: float = 1.0,
        sig: int = signal.SIGTERM,
        then: Callable[[], Any] = lambda: None,
    ):
        self.server, self.at, self.down, self.sig, self.then = server, at, down, sig, then
        self.thread: threading.Thread | None = None

    def __call__(self, changes: Any, report: RunReport) -> None:
        if report.steps != self.at:
            return
        pid = self.server.pid
        os.kill(pid, self.sig)
        deadline = time.monotonic() + 30
        while self.server.running and time.monotonic() < deadline:
            time.sleep(0.01)

        def restart() -> None:
            time.sleep(self.down)
            self.server.restart()
            self.then()

        self.thread = threading.Thread(target=restart)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
