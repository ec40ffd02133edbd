"""A small world with two sinks, one with faults, and ways to read the observe server."""

from __future__ import annotations

import urllib.error
import urllib.request

from headwater.resolve.load import loads
from headwater.resolve.scenario import Scenario

WORLD = """
name: seen
seed: 7
clock: {start: 2026-01-01T00:00:00Z, duration: 10m, step: 30s}
entities:
  customers:
    key: id
    initial: 40
    arrivals: 0.5/s
    fields:
      id: {seq: {}}
      name: {fake: name}
      dsn: {const: "postgresql://app:hunter2pass@db.internal/app"}
    updates: {rate: 0.1/s, fields: [name]}
  orders:
    key: order_id
    arrivals: 1/s
    fields:
      order_id: {seq: {}}
      customer_id: {ref: customers.id}
sinks:
  db: {kind: sqlite, path: seen.db}
  drop:
    kind: files
    path: drop
    format: jsonl
    faults:
      duplicate: {rate: 0.1}
      outage: [{at: 2026-01-01T00:03:00Z, length: 2m}]
"""

TOKEN = "observe-test-token-123"


def world() -> Scenario:
    """A fresh copy of the world above."""
    return loads(WORLD)


def get(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    """Status and body of a GET, with the bearer token unless None."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
