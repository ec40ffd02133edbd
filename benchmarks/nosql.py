"""NoSQL sinks vs the same client's bare bulk loop, per store, in the same run.

For each store (a private server from headwater.testing.servers) the world's changes (rows
with updates and deletes, about 250 bytes each) are generated before the clock starts and
written two ways, each under its own key prefix / collection:

    plain     the same rows, encoded beforehand, written by a minimal bulk loop with the
              store's client library (Redis: pipelined HSET/DEL, 1000 per round trip)
    sink      the sink alone (open, write every step, flush, close)

and the ratio sink/plain is printed (target ≥ 0.7). Each way is measured `--repeat` times,
alternating, and the best is kept.

    python benchmarks/nosql.py                        # every case, 100k changes
    python benchmarks/nosql.py --changes 20000 --cases redis

A store is one entry of CASES: a server to start, the sink's YAML, and its plain loop.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pyarrow as pa

from headwater.resolve.load import loads
from headwater.sinks import SINKS, SinkContext
from headwater.sinks._project import project
from headwater.sinks._text import to_text
from headwater.testing import servers
from headwater.world.changes import Changes
from headwater.world.engine import World

RATE = 1000  # new rows per simulated second (updates and deletes come on top)

SCENARIO = """
name: nosql_bench
seed: 1
clock: {{start: 2026-01-01T00:00:00Z, duration: {seconds}s, step: 10s}}
entities:
  accounts:
    key: id
    arrivals: {rate}/s
    fields:
      id: {{seq: {{}}}}
      email: {{fake: email}}
      country: {{choice: {{US: 6, DE: 2, FR: 2, GB: 1}}}}
      plan: {{choice: [free, pro, team]}}
      balance: {{lognormal: {{mu: 3.5, sigma: 0.8}}, round: 2}}
      logins: {{uniform: {{min: 1, max: 900}}, round: 0}}
      vip: {{bool: {{p: 0.1}}}}
      created_at: {{event_time: {{}}}}
    updates: {{rate: {updates}/s, fields: [plan, balance, logins]}}
    deletes: {{rate: {deletes}/s}}
"""


@dataclass
class Rows:
    """Every change of the world, encoded for a plain loop before the clock starts."""

    keys: list[str]
    ops: list[str]
    fields: list[dict[str, str]]  # the non-null fields' text (a hash's content)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Case:
    """One store: its private server, the sink's YAML (options after `kind`), a plain loop
    writing `Rows` under a prefix (returning what the store then holds, for a sanity check),
    and how many keys/documents the sink left (same check)."""

    server: Callable[[], servers.Server]
    sink: Callable[[Any, str], str]
    plain: Callable[[Any, str, Rows], int]
    count: Callable[[Any, str], int]


def world_for(changes: int) -> tuple[Any, list[Changes]]:
    seconds = max(10, round(changes / (RATE * 1.4)))
    sc = loads(SCENARIO.format(seconds=seconds, rate=RATE, updates=RATE * 0.3, deletes=RATE * 0.1))
    return sc, list(World(sc).steps())


def rows_of(sc: Any, steps: list[Changes], prefix: str) -> Rows:
    schema = World(sc).schemas["accounts"]
    table = pa.concat_tables([s.tables["accounts"] for s in steps if "accounts" in s.tables])
    records = project(table, schema, "rows")
    values = records.values.drop_columns(["_op"])
    texts = {n: to_text(values[n]).to_pylist() for n in values.column_names}
    keys = [f"{prefix}:accounts:{k}" for k in to_text(records.key).to_pylist()]
    fields = [{n: t[i] for n, t in texts.items() if t[i] is not None} for i in range(len(keys))]
    return Rows(keys, records.op.to_pylist(), fields)


# -- Redis ------------------------------------------------------------------------------------


def plain_redis(server: Any, prefix: str, rows: Rows) -> int:
    import redis

    client = redis.Redis.from_url(server.url)
    for i in range(0, len(rows), 1000):
        pipe = client.pipeline(transaction=False)
        for j in range(i, min(i + 1000, len(rows))):
            if rows.ops[j] == "d":
                pipe.execute_command("DEL", rows.keys[j])
            else:
                pipe.hset(rows.keys[j], mapping=rows.fields[j])
        pipe.execute()
    return count_redis(server, prefix)


def count_redis(server: Any, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(server.url)
    n = sum(1 for _ in client.scan_iter(match=f"{prefix}:*", count=10_000))
    client.close()
    return n


CASES: dict[str, Case] = {
    "redis": Case(
        server=servers.RedisServer,
        sink=lambda server, prefix: f"url: '{server.url}', key: '{prefix}:{{entity}}:{{key}}'",
        plain=plain_redis,
        count=count_redis,
    ),
}


# -- timing -----------------------------------------------------------------------------------


def run_sink(case: Case, server: Any, prefix: str, kind: str, sc: Any, steps: list[Changes]) -> int:
    """The sink alone on the pre-generated steps; returns what the store then holds."""
    text = f"s: {{kind: {kind}, {case.sink(server, prefix)}}}"
    config = loads(
        SCENARIO.format(seconds=10, rate=1, updates=1, deletes=1) + "sinks:\n  " + text
    ).sinks["s"]
    schemas = World(sc).schemas
    sink = SINKS.get(kind)("s", config, SinkContext(schemas, Path(mkdtemp()), 1, sc.name, {}))
    sink.open()
    try:
        for step in steps:
            sink.write(step)
        sink.flush()
    finally:
        sink.close()
    return case.count(server, prefix)


def measure(kind: str, changes: int, repeat: int) -> dict[str, Any]:
    case = CASES[kind]
    sc, steps = world_for(changes)
    n = sum(t.num_rows for s in steps for t in s.tables.values())
    best = {"plain": float("inf"), "sink": float("inf")}
    held: dict[str, int] = {}
    with case.server() as server:
        for i in range(repeat):
            rows = rows_of(sc, steps, f"plain{i}")
            start = time.perf_counter()
            held["plain"] = case.plain(server, f"plain{i}", rows)
            best["plain"] = min(best["plain"], time.perf_counter() - start)
            start = time.perf_counter()
            held["sink"] = run_sink(case, server, f"sink{i}", kind, sc, steps)
            best["sink"] = min(best["sink"], time.perf_counter() - start)
    if held["plain"] != held["sink"]:
        sys.exit(f"{kind}: the sink left {held['sink']} keys, the plain loop {held['plain']}")
    out = {
        "changes": n,
        "live_keys": held["sink"],
        "plain_per_s": round(n / best["plain"]),
        "sink_per_s": round(n / best["sink"]),
    }
    out["ratio"] = round(out["sink_per_s"] / out["plain_per_s"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES)
    )
    args = parser.parse_args()
    figures = {}
    for kind in args.cases.split(","):
        figures[kind] = measure(kind, args.changes, args.repeat)
        f = figures[kind]
        print(
            f"{kind:10} {f['changes']:>8} changes  sink {f['sink_per_s']:>8}/s  "
            f"plain {f['plain_per_s']:>8}/s  ratio {f['ratio']:.2f}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
