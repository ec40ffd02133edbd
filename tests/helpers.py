"""Small scenario builders shared by the tests."""

from __future__ import annotations

import textwrap

from headwater.resolve.load import loads
from headwater.resolve.scenario import Scenario

SHOP = """
name: t
seed: 1
clock: {start: 2026-01-01T00:00:00Z, duration: 1h}
entities:
  customers:
    key: id
    initial: 300
    arrivals: 0.5/s
    fields:
      id: {seq: {}}
      name: {fake: name}
      email: {fake: email, name: name}
      country: {choice: {US: 6, DE: 2, FR: 2}}
      created_at: {event_time: {}}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 0.2/s, fields: [email]}
    deletes: {rate: 0.1/s}
  orders:
    key: order_id
    arrivals: 2/s
    fields:
      order_id: {seq: {}}
      customer_id: {ref: customers.id, skew: {zipf: 1.2}}
      amount: {lognormal: {mu: 3.5, sigma: 0.8}, round: 2}
      status: {state: {placed: {paid: 0.9, cancelled: 0.1, after: 5m}, paid: {shipped: 1, after: 10m}}}
      updated_at: {event_time: {on_update: true}}
    deletes: {rate: 0.05/s}
  order_items:
    parent: {entity: orders, count: {min: 1, max: 4}}
    fields:
      item_id: {seq: {}}
      order_id: {ref: orders.order_id}
      qty: {uniform: {min: 1, max: 5}}
      price: {decimal: {min: 1, max: 200}}
      total: {expr: "qty * price"}
"""


def scenario(text: str = SHOP, sinks: str = "", **replace: str) -> Scenario:
    body = textwrap.dedent(text)
    for old, new in replace.items():
        body = body.replace(old, new)
    if sinks:
        body += "sinks:\n" + textwrap.indent(textwrap.dedent(sinks), "  ")
    return loads(body)
