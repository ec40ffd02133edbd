"""The mongodb sink vs a bare pymongo bulk_write loop, in the same run, on a private server.

The world's changes (orders created and updated) are generated before the clock starts;
then each way writes them into its own database of a private MongoDB-wire server
(SecantusDB, standing in for MongoDB; headwater.testing.servers; without syncing each
commit unless `--sync`):

    plain     the same documents, built before the clock starts, written by a minimal loop:
              one ordered bulk_write (InsertOne / ReplaceOne) per step, journaled
    sink      the mongodb sink on the same changes (write + flush), `batch: step` and
              `batch: transaction`

and the ratio sink/plain is printed (target ≥ 0.7). The last line printed is one JSON
object with every figure.

    python benchmarks/nosql_mongodb.py --events 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from headwater.resolve.load import loads
from headwater.sinks import SINKS, SinkContext
from headwater.testing.servers import MongoServer
from headwater.world.changes import Changes
from headwater.world.engine import World

SCENARIO = """
name: bench_mongodb
seed: 1
clock: {{start: 2026-01-01T00:00:00Z, duration: {seconds}s, step: 10s}}
entities:
  orders:
    key: order_id
    arrivals: {rate}/s
    fields:
      order_id: {{seq: {{}}}}
      customer_id: {{uniform: {{min: 1, max: 100000}}}}
      status: {{choice: {{placed: 3, paid: 1}}}}
      amount: {{decimal: {{min: 2, max: 500, scale: 2}}}}
      placed_at: {{event_time: {{}}}}
    updates: {{rate: {updates}/s, fields: [status]}}
sinks:
  mem: {{kind: memory}}
"""


def changes(events: int) -> tuple[Any, list[Changes]]:
    seconds = 60
    rate = max(1, events * 2 // 3 // seconds)
    sc = loads(SCENARIO.format(seconds=seconds, rate=rate, updates=max(1, rate // 2)))
    world = World(sc)
    return sc, list(world.steps())


def plain(url: str, steps: list[Changes]) -> float:
    """Records/s of a bare pymongo loop over documents built before the clock starts."""
    import pymongo
    from bson import Decimal128

    bulks = []
    for step in steps:
        ops: list[Any] = []
        t = step.tables.get("orders")
        if t is None:
            continue
        for op, row in zip(t["op"].to_pylist(), t["after"].to_pylist(), strict=True):
            doc = {"_id": row["order_id"], **row, "amount": Decimal128(row["amount"])}
            if op == "u":
                ops.append(pymongo.ReplaceOne({"_id": doc["_id"]}, doc))
            else:
                ops.append(pymongo.InsertOne(doc))
        bulks.append(ops)
    client: Any = pymongo.MongoClient(url)
    coll = client.get_database("plain", write_concern=pymongo.WriteConcern(w=1, j=True)).orders
    coll.drop()
    n = sum(len(b) for b in bulks)
    start = time.perf_counter()
    for ops in bulks:
        if ops:
            coll.bulk_write(ops, ordered=True)
    elapsed = time.perf_counter() - start
    client.close()
    return n / elapsed


def sink(url: str, sc: Any, steps: list[Changes], batch: str) -> float:
    """Records/s of the mongodb sink on the same changes."""
    config = SINKS.get("mongodb").Config.model_validate(
        {"kind": "mongodb", "url": url, "database": f"sink_{batch}", "batch": batch}
    )
    schemas = World(sc).schemas
    context = SinkContext(schemas, Path(mkdtemp()), sc.seed, sc.name, {"s": config})
    s = SINKS.get("mongodb")("s", config, context)
    s.open()
    n = sum(len(c) for c in steps)
    start = time.perf_counter()
    for c in steps:
        s.write(c)
    s.flush()
    elapsed = time.perf_counter() - start
    s.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--sync", action="store_true", help="server syncs every commit (as the tests run it)"
    )
    args = parser.parse_args()
    sc, steps = changes(args.events)
    events = sum(len(c) for c in steps)
    print(f"mongodb: {events:,} changes …", file=sys.stderr, flush=True)
    best: dict[str, float] = {"plain": 0.0, "step": 0.0, "transaction": 0.0}
    with MongoServer(sync=args.sync) as server:
        for _ in range(args.repeat):  # alternating, keeping the best of each
            best["plain"] = max(best["plain"], plain(server.url, steps))
            for batch in ("step", "transaction"):
                best[batch] = max(best[batch], sink(server.url, sc, steps, batch))
    result = {
        "mongodb": {
            "events": events,
            "plain_per_s": round(best["plain"]),
            "sink_per_s": round(best["step"]),
            "sink_transaction_per_s": round(best["transaction"]),
            "ratio": round(best["step"] / best["plain"], 3),
        }
    }
    r = result["mongodb"]
    print(
        f"mongodb: plain {r['plain_per_s']:,}/s, sink (batch: step) {r['sink_per_s']:,}/s "
        f"= {r['ratio']:.2f}x, sink (batch: transaction) {r['sink_transaction_per_s']:,}/s",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
