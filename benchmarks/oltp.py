"""OLTP and CDC throughput against a private PostgreSQL, with baselines from the same server.

1. Transactions: the shop's transaction mix (an order with its items, state transitions,
   customer updates and deletes) applied by the postgres sink, next to pgbench's built-in
   tpcb-like script, with the same number of connections, on the same server, in this run.
   The world is generated before the clock starts: the figure is the sink's. The sink
   pipelines (up to 200 transactions in flight per connection, each its own BEGIN…COMMIT);
   pgbench waits for every statement. On a 2-CPU machine the sink is bound by Python, so
   more connections do not add throughput there.
2. Initial load: rows/s of the sink's binary COPY (encoded from Arrow) next to a plain
   `COPY … FROM STDIN (FORMAT csv)` of the same rows written to a CSV file beforehand.
3. CDC: events/s the capture (wal2json through a slot) reads from a backlog, and the lag
   from commit to event delivered (p50/p99) while the sink writes at full speed.

The server is private (127.0.0.1, fsync=off as in the tests; both sides run under the same
settings).

    .venv/bin/python benchmarks/oltp.py [--connections 4] [--pgbench-seconds 10]
        [--load-rows 1000000] [--minutes 5]
Ends with one line of JSON holding the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from headwater.capture import open_capture
from headwater.resolve.load import loads
from headwater.sinks import SINKS, SinkContext
from headwater.sinks.postgres import PostgresSink
from headwater.testing.servers import PostgresServer
from headwater.world.changes import Changes
from headwater.world.engine import World

SHOP = """
name: shop
seed: 7
clock: {start: 2026-01-01T00:00:00Z, duration: 1h, step: 10s}
entities:
  customers:
    key: id
    initial: 20000
    arrivals: 2/s
    fields:
      id: {seq: {}}
      name: {fake: name}
      email: {fake: email, name: name}
      country: {choice: {US: 6, DE: 2, FR: 2}}
      created_at: {event_time: {}}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 5/s, fields: [email]}
    deletes: {rate: 1/s}
  orders:
    key: order_id
    arrivals: 40/s
    fields:
      order_id: {seq: {}}
      customer_id: {ref: customers.id, skew: {zipf: 1.2}}
      amount: {decimal: {min: 1, max: 500}}
      status: {state: {placed: {paid: 0.9, cancelled: 0.1, after: 2m}, paid: {shipped: 1, after: 5m}}}
      updated_at: {event_time: {on_update: true}}
    deletes: {rate: 2/s}
  order_items:
    parent: {entity: orders, count: {min: 1, max: 4}}
    fields:
      item_id: {seq: {}}
      order_id: {ref: orders.order_id}
      sku: {format: "SKU-{item_id:08d}"}
      qty: {uniform: {min: 1, max: 5}}
      price: {decimal: {min: 1, max: 200}}
"""

LOAD = """
name: load
seed: 3
clock: {start: 2026-01-01T00:00:00Z, duration: 1s}
entities:
  customers:
    key: id
    initial: {rows}
    fields:
      id: {seq: {}}
      name: {fake: name}
      email: {fake: email, name: name}
      country: {choice: {US: 6, DE: 2, FR: 2}}
      score: {normal: {mean: 50, std: 10}, round: 2}
      vip: {bool: {}}
      created_at: {event_time: {}}
"""


def sink_for(text: str, url: str, out: Path, **opts: object) -> tuple[PostgresSink, World]:
    extra = "".join(f", {k}: {v}" for k, v in opts.items())
    sc = loads(text + f"sinks:\n  db: {{kind: postgres, url: '{url}'{extra}}}\n")
    world = World(sc)
    context = SinkContext(world.schemas, out, world.seed, sc.name, dict(sc.sinks))
    sink = SINKS.get("postgres")("db", sc.sinks["db"], context)
    return sink, world  # type: ignore[return-value]


def database(server: PostgresServer, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        for (slot,) in conn.execute("SELECT slot_name FROM pg_replication_slots").fetchall():
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + f"/{name}"


def transactions(steps: list[Changes]) -> int:
    return sum(sum(1 for _ in ch.transactions()) for ch in steps)


# -- 1. transactions vs pgbench ----------------------------------------------------------------


def shop_tps(server: PostgresServer, out: Path, connections: int, minutes: float) -> dict:
    url = database(server, f"shop{connections}")
    sink, world = sink_for(SHOP, url, out, connections=connections)
    world = World(world.scenario, duration=timedelta(minutes=minutes))
    steps = list(world.steps())  # generated before timing
    sink.open()
    sink.write(steps[0])
    n_txn = transactions(steps[1:])
    n_changes = sum(len(ch) for ch in steps[1:])
    t0 = time.perf_counter()
    for ch in steps[1:]:
        sink.write(ch)
    elapsed = time.perf_counter() - t0
    sink.close()
    return {
        "connections": connections,
        "transactions": n_txn,
        "changes": n_changes,
        "seconds": round(elapsed, 2),
        "tps": round(n_txn / elapsed, 1),
        "changes_per_s": round(n_changes / elapsed, 1),
    }


def pgbench(server: PostgresServer, connections: int, seconds: int) -> dict:
    binary = shutil.which("pgbench") or (
        str(server.bindir / "pgbench") if server.bindir is not None else "pgbench"
    )
    args = ["-h", server.host, "-p", str(server.port), "-U", "postgres"]
    env = {**os.environ, "PGDATABASE": "bench"}
    url = database(server, "bench")
    del url
    subprocess.run(
        [binary, "-i", "-s", "10", "-q", *args], check=True, env=env, capture_output=True
    )
    jobs = max(1, min(connections, os.cpu_count() or 1))
    res = subprocess.run(
        [binary, "-c", str(connections), "-j", str(jobs), "-T", str(seconds), "-n", *args],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    tps = float(re.search(r"tps = ([\d.]+)", res.stdout).group(1))  # type: ignore[union-attr]
    return {"connections": connections, "tps": round(tps, 1), "script": "tpcb-like"}


# -- 2. initial load ---------------------------------------------------------------------------


def load(server: PostgresServer, out: Path, rows: int) -> dict:
    import psycopg

    url = database(server, "load")
    sink, world = sink_for(LOAD.replace("{rows}", str(rows)), url, out)
    snapshot = next(iter(world.steps()))
    after = snapshot.tables["customers"]["after"].combine_chunks()
    flat = pa.Table.from_arrays(after.flatten(), names=[f.name for f in after.type])
    csv_path = out / "customers.csv"
    pacsv.write_csv(flat, csv_path, pacsv.WriteOptions(include_header=False))
    csv_bytes = csv_path.stat().st_size
    sink.open()
    t0 = time.perf_counter()
    sink.write(snapshot)
    ours = time.perf_counter() - t0
    sink.close()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == rows
        conn.execute("TRUNCATE customers CASCADE")
        cols = ", ".join(f'"{c}"' for c in flat.column_names)
        t0 = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor().copy(f"COPY customers ({cols}) FROM STDIN (FORMAT csv)") as copy,
            open(csv_path, "rb") as f,
        ):
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        plain = time.perf_counter() - t0
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == rows
    return {
        "rows": rows,
        "csv_mb": round(csv_bytes / 1e6, 1),
        "binary_copy_rows_per_s": round(rows / ours),
        "csv_copy_rows_per_s": round(rows / plain),
        "ratio": round(plain / ours, 2),
    }


# -- 3. CDC ------------------------------------------------------------------------------------


def cdc(server: PostgresServer, out: Path, connections: int, minutes: float) -> dict:
    # a) backlog: write first, then read everything
    url = database(server, "cdc_backlog")
    sink, world = sink_for(SHOP, url, out, connections=connections)
    steps = list(World(world.scenario, duration=timedelta(minutes=minutes)).steps())
    sink.open()
    sink.write(steps[0])
    cap = open_capture(sink.config, sink.schemas(), name="bench_backlog")
    t0 = time.perf_counter()
    snap = 0
    for batch in cap.snapshot():
        snap += len(batch)
        cap.ack(batch.position)
    snap_s = time.perf_counter() - t0
    for ch in steps[1:]:
        sink.write(ch)
    t0 = time.perf_counter()
    events = 0
    for batch in cap.catch_up(timeout=600):
        events += len(batch)
        cap.ack(batch.position)
    backlog_s = time.perf_counter() - t0
    cap.close()
    sink.close()

    # b) live: the capture polls while the sink writes at full speed
    url = database(server, "cdc_live")
    sink, world = sink_for(SHOP, url, out, connections=connections)
    sink.open()
    sink.write(steps[0])
    cap = open_capture(sink.config, sink.schemas(), name="bench_live")
    for batch in cap.snapshot():
        cap.ack(batch.position)
    lags: list[np.ndarray] = []
    done = threading.Event()
    live_events = 0

    def reader() -> None:
        nonlocal live_events
        while True:
            finished = done.is_set()
            batch = cap.poll(timeout=0.1)
            now_us = time.time() * 1e6
            for t in batch.tables.values():
                commit = pc.cast(t["event_time"], pa.int64()).to_numpy()
                lags.append((now_us - commit) / 1000.0)
                live_events += t.num_rows
            cap.ack(batch.position)
            if finished and not batch.transactions:
                return

    thread = threading.Thread(target=reader)
    thread.start()
    t0 = time.perf_counter()
    for ch in steps[1:]:
        sink.write(ch)
    write_s = time.perf_counter() - t0
    done.set()
    thread.join()
    cap.close()
    sink.close()
    lag = np.concatenate(lags) if lags else np.zeros(1)
    return {
        "snapshot_rows_per_s": round(snap / snap_s),
        "backlog_events": events,
        "backlog_events_per_s": round(events / backlog_s),
        "live_events": live_events,
        "live_write_changes_per_s": round(sum(len(ch) for ch in steps[1:]) / write_s),
        "lag_ms_p50": round(float(np.percentile(lag, 50)), 1),
        "lag_ms_p99": round(float(np.percentile(lag, 99)), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    ap.add_argument("--load-rows", type=int, default=1_000_000)
    ap.add_argument("--minutes", type=float, default=5.0, help="simulated minutes of shop traffic")
    a = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="headwater-oltp-"))
    server = PostgresServer()
    result: dict = {"benchmark": "oltp", "cpus": os.cpu_count(), "fsync": "off"}
    try:
        server.start()
        print(f"private PostgreSQL on port {server.port} (fsync=off), {os.cpu_count()} CPUs")
        tps = []
        for n in sorted({1, a.connections}):
            ours = shop_tps(server, out, n, a.minutes)
            base = pgbench(server, n, a.pgbench_seconds)
            ratio = round(ours["tps"] / base["tps"], 2)
            tps.append({"connections": n, "shop": ours, "pgbench": base, "ratio": ratio})
            print(
                f"transactions, {n} connection(s): shop mix {ours['tps']:.0f} tps "
                f"({ours['changes_per_s']:.0f} row changes/s, {ours['transactions']} txns) vs "
                f"pgbench tpcb-like {base['tps']:.0f} tps -> {ratio:.2f}x"
            )
        result["transactions"] = tps
        ld = load(server, out, a.load_rows)
        result["load"] = ld
        print(
            f"initial load, {ld['rows']} rows: binary COPY from Arrow "
            f"{ld['binary_copy_rows_per_s']:,} rows/s vs COPY FROM csv "
            f"{ld['csv_copy_rows_per_s']:,} rows/s -> {ld['ratio']:.2f}x"
        )
        c = cdc(server, out, a.connections, a.minutes)
        result["cdc"] = c
        print(
            f"CDC: snapshot {c['snapshot_rows_per_s']:,} rows/s; backlog "
            f"{c['backlog_events_per_s']:,} events/s ({c['backlog_events']} events); live at "
            f"{c['live_write_changes_per_s']:,} changes/s written: lag p50 "
            f"{c['lag_ms_p50']} ms, p99 {c['lag_ms_p99']} ms"
        )
    finally:
        server.stop()
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
