"""REST throughput: a 100-item page from `headwater serve` against a bare FastAPI endpoint
that returns a constant page of the same items, in the same run, on 127.0.0.1.

Each server runs alone in its own process (uvicorn, one worker) while the world of the
served one keeps writing in real time (10,000 customers, arrivals, updates, deletes). The
load generator is wrk when installed (`apt-get install wrk`), else a Python asyncio client
with httpx in another process. Prints requests/s and p99 latency of both, the ratio
(target >= 0.70), and one JSON line at the end.

    python benchmarks/api.py [--seconds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

SCENARIO = """
name: bench
seed: 1
clock: {start: 2026-01-01T00:00:00Z, duration: 1d}
entities:
  customers:
    key: id
    initial: 10000
    arrivals: 20/s
    fields:
      id: {seq: {}}
      name: {fake: name}
      email: {fake: email}
      country: {choice: {US: 6, DE: 2, FR: 2}}
      created_at: {event_time: {}}
    updates: {rate: 20/s, fields: [email]}
    deletes: {rate: 5/s}
serve: {port: 0, speed: realtime, graphql: {enabled: false}}
"""

PATH = "/v1/customers?limit=100"


def _headwater(conn: Any, out_dir: str) -> None:
    from headwater.resolve.load import loads
    from headwater.serve.runtime import Serving

    s = Serving(loads(SCENARIO), sinks=False, out_dir=out_dir)
    s.start()
    while s.store.position == 0:
        time.sleep(0.01)
    conn.send(s.url)
    conn.recv()  # until the parent says stop
    s.stop()


def _bare(conn: Any, page: bytes) -> None:
    from fastapi import FastAPI

    from headwater.serve._http import ThreadedServer

    app = FastAPI()
    constant = json.loads(page)

    @app.get("/v1/customers")
    async def customers() -> Any:
        return constant

    server = ThreadedServer(app, "127.0.0.1", 0).start()
    conn.send(server.url)
    conn.recv()
    server.stop()


def _serve(target: Any, *args: Any) -> tuple[Any, Any, str]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), daemon=True)
    proc.start()
    if not parent.poll(60):
        proc.kill()
        raise SystemExit("a server did not start")
    return proc, parent, parent.recv()


def _stop(proc: Any, conn: Any) -> None:
    conn.send("stop")
    proc.join(10)
    if proc.is_alive():
        proc.kill()


def _wrk(url: str, seconds: float, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = float(m.group(1)) * scale[m.group(2)] if m else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p99_ms": p99, "errors": float(errors.group(1)) if errors else 0.0}


def _python_load(conn: Any, url: str, seconds: float, connections: int) -> None:
    import httpx

    async def main() -> dict[str, float]:
        lat: list[float] = []
        errors = 0
        end = time.perf_counter() + seconds
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as c:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < end:
                    t = time.perf_counter()
                    r = await c.get(url)
                    lat.append(time.perf_counter() - t)
                    errors += r.status_code != 200

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            wall = time.perf_counter() - t0
        q = statistics.quantiles(lat, n=100)
        return {"rps": len(lat) / wall, "p99_ms": q[98] * 1000, "errors": float(errors)}

    conn.send(asyncio.run(main()))


def load(url: str, seconds: float, connections: int) -> dict[str, float]:
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_python_load, args=(child, url, seconds, connections))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    import httpx

    tool = "wrk" if shutil.which("wrk") else "python-httpx"
    with tempfile.TemporaryDirectory(prefix="headwater-bench-") as tmp:
        hw_proc, hw_conn, hw_url = _serve(_headwater, tmp)
        try:
            page = httpx.get(hw_url + PATH).content
            items = len(json.loads(page)["data"])
            bare_proc, bare_conn, bare_url = _serve(_bare, page)
            try:
                results: dict[str, list[dict[str, float]]] = {"headwater": [], "bare": []}
                load(hw_url + PATH, 1, args.connections)  # warm-up
                load(bare_url + PATH, 1, args.connections)
                for _ in range(2):  # interleaved, so both see the same machine
                    results["headwater"].append(load(hw_url + PATH, args.seconds, args.connections))
                    results["bare"].append(load(bare_url + PATH, args.seconds, args.connections))
                position = httpx.get(hw_url + "/health").json()["position"]
            finally:
                _stop(bare_proc, bare_conn)
        finally:
            _stop(hw_proc, hw_conn)

    def best(rs: list[dict[str, float]]) -> dict[str, float]:
        return max(rs, key=lambda r: r["rps"])

    hw, bare = best(results["headwater"]), best(results["bare"])
    ratio = hw["rps"] / bare["rps"]
    print(
        f"load: {tool}, {args.connections} connections, {args.seconds:g}s x2 each; page: {items} items, {len(page):,} bytes"
    )
    print(
        f"headwater serve  {hw['rps']:9,.0f} req/s   p99 {hw['p99_ms']:7.2f} ms   (world at change {position:,})"
    )
    print(f"bare FastAPI     {bare['rps']:9,.0f} req/s   p99 {bare['p99_ms']:7.2f} ms")
    print(f"ratio            {ratio:9.2f}   (target >= 0.70)")
    summary = {
        "benchmark": "api",
        "tool": tool,
        "connections": args.connections,
        "page_items": items,
        "page_bytes": len(page),
        "headwater_rps": round(hw["rps"], 1),
        "headwater_p99_ms": round(hw["p99_ms"], 2),
        "bare_rps": round(bare["rps"], 1),
        "bare_p99_ms": round(bare["p99_ms"], 2),
        "errors": hw["errors"] + bare["errors"],
        "ratio": round(ratio, 3),
        "target": 0.7,
    }
    print(json.dumps(summary))
    sys.exit(0)


if __name__ == "__main__":
    main()
