"""Template format specs: sinks/_format.py column-wise vs Python's format()/strftime per value.

One million prices (`.2f`) and timestamps (`%Y-%m-%d %H:%M:%S`, `%d/%m/%Y`), warm, best of
three; a `,.2f` spec shows the per-value fallback. The Python figures include to_pylist(),
as the fallback pays it too.

    .venv/bin/python benchmarks/templates.py [--rows 1000000]
Ends with one line of JSON holding the figures (million values per second).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from headwater.sinks._format import format_column


def best(n: int, f: Callable[[], Any]) -> float:
    """Million values per second of the fastest of three warm runs."""
    f()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return round(n / min(times) / 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    n = parser.parse_args().rows
    rng = np.random.default_rng(0)
    prices = pa.array(np.round(rng.uniform(1, 1000, n), 2))
    us = rng.integers(1_672_000_000_000_000, 1_700_000_000_000_000, n)
    times = pa.array(us, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    figures = {
        "column .2f": best(n, lambda: format_column(prices, ".2f")),
        "column %Y-%m-%d %H:%M:%S": best(n, lambda: format_column(times, "%Y-%m-%d %H:%M:%S")),
        "column %d/%m/%Y": best(n, lambda: format_column(times, "%d/%m/%Y")),
        "fallback ,.2f": best(n, lambda: format_column(prices, ",.2f")),
        "python .2f": best(n, lambda: [format(v, ".2f") for v in prices.to_pylist()]),
        "python strftime": best(
            n, lambda: [v.strftime("%Y-%m-%d %H:%M:%S") for v in times.to_pylist()]
        ),
    }
    for name, value in figures.items():
        print(f"{name:>28}: {value:6.2f} M values/s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
