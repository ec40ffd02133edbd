"""Shared pieces of the API tests: a small shop that keeps changing, a server over it, and an
oracle that replays the same world independently to know its rows at any position."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from headwater.resolve.load import loads
from headwater.resolve.scenario import Scenario
from headwater.serve.runtime import Serving
from headwater.sinks._text import jsonable
from headwater.world.engine import World

SHOP = """
name: apishop
seed: 5
clock: {start: 2026-01-01T00:00:00Z, duration: 7m, step: 5s}
entities:
  customers:
    key: id
    initial: 150
    arrivals: 0.3/s
    fields:
      id: {seq: {}}
      email: {fake: email}
      country: {choice: {US: 6, DE: 2, FR: 2}}
      created_at: {event_time: {}}
    updates: {rate: 0.4/s, fields: [email]}
    deletes: {rate: 0.15/s}
  orders:
    key: order_id
    initial: 0
    arrivals: 1/s
    fields:
      order_id: {seq: {}}
      customer_id: {ref: customers.id}
      amount: {lognormal: {mu: 3.5, sigma: 0.8}, round: 2}
      price: {decimal: {min: 1, max: 200}}
      status: {state: {placed: {paid: 0.9, cancelled: 0.1, after: 1m}, paid: {shipped: 1, after: 3m}}}
    deletes: {rate: 0.1/s}
  items:
    parent: {entity: orders, count: {min: 1, max: 3}}
    fields:
      item_id: {seq: {}}
      order_id: {ref: orders.order_id}
      qty: {uniform: {min: 1, max: 5}}
"""


def shop(serve: str = "", **replace: str) -> Scenario:
    text = textwrap.dedent(SHOP)
    for old, new in replace.items():
        text = text.replace(old, new)
    if serve:
        text += "serve:\n" + textwrap.indent(textwrap.dedent(serve).strip(), "  ") + "\n"
    return loads(text)


@dataclass
class Oracle:
    """The world replayed on its own: its rows at any step boundary, as the API renders them."""

    scenario: Scenario
    events: list[tuple[int, str, str, Any]] = field(default_factory=list)  # seq, entity, op, key
    rows: list[dict[str, Any] | None] = field(default_factory=list)
    boundaries: set[int] = field(default_factory=set)

    def run(self) -> Oracle:
        world = World(self.scenario)
        self.entities = list(world.schemas)
        for changes in world.steps():
            for entity, table in changes.tables.items():
                after = jsonable(table["after"].combine_chunks()).to_pylist()
                cols = (table[c].to_pylist() for c in ("seq", "op", "key"))
                for (seq, op, key), row in zip(zip(*cols, strict=True), after, strict=True):
                    self.events.append((seq, entity, op, key))
                    self.rows.append(row)
            if len(changes):
                self.boundaries.add(
                    max(int(t["seq"][-1].as_py()) for t in changes.tables.values()) + 1
                )
        order = sorted(range(len(self.events)), key=lambda i: self.events[i][0])
        self.events = [self.events[i] for i in order]
        self.rows = [self.rows[i] for i in order]
        self.final = self.at(None)
        return self

    def at(self, position: int | None) -> dict[str, dict[Any, dict[str, Any]]]:
        """Rows after every change with seq < position (a step boundary; None: the end)."""
        assert position is None or position in self.boundaries, f"{position}: not a step boundary"
        state: dict[str, dict[Any, dict[str, Any]]] = {e: {} for e in self.entities}
        for (seq, entity, op, key), row in zip(self.events, self.rows, strict=True):
            if position is not None and seq >= position:
                break
            if op == "d":
                state[entity].pop(key, None)
            else:
                state[entity][key] = row  # type: ignore[assignment]
        return state

    def deleted_between(self, entity: str, p0: int, p1: int) -> set[Any]:
        return {k for s, e, op, k in self.events if e == entity and op == "d" and p0 <= s < p1}

    def created_between(self, entity: str, p0: int, p1: int) -> set[Any]:
        return {k for s, e, op, k in self.events if e == entity and op == "c" and p0 <= s < p1}


class Clock:
    """A wall clock that moves only when the test moves it (token lifetimes, rate limits)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def serve(tmp_path: Any) -> Iterator[Callable[..., Serving]]:
    """Start servers over a scenario, ready to answer; stopped at the end of the test."""
    started: list[Serving] = []

    def start(sc: Scenario, **kwargs: Any) -> Serving:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("sinks", False)
        kwargs.setdefault("out_dir", tmp_path / f"out{len(started)}")  # one folder a server
        s = Serving(sc, **kwargs)
        s.start()
        started.append(s)
        if not kwargs.get("stepped"):
            s.wait_ready(60)  # a stepped world gets there by advance(1)
        return s

    yield start
    for s in started:
        s.stop()


def strip_meta(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}
