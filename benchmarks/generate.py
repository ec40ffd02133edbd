"""Generation throughput: headwater's vectorized generators vs Faker row by row, same schema.

The reference `orders` table has 12 columns: sequential id, zipf customer_id over 1M
customers, SKU of 100k products, weighted quantity, lognormal price, 5 currencies,
6 statuses, increasing timestamps, realistic email, city, country, 80%-null note.
Also shows that memory stays flat during a long run (it follows live rows, not run length).

    .venv/bin/python benchmarks/generate.py [--rows 2000000] [--faker-rows 20000]
Ends with one line of JSON holding the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import time
from datetime import UTC, datetime, timedelta

from headwater.resolve.load import loads
from headwater.world.engine import World
from headwater.world.sample import sample_chunks

SCENARIO = """
name: bench
seed: 1
clock: {start: 2026-01-01T00:00:00Z, duration: 1d}
entities:
  customers:
    initial: 1000000
    fields:
      id: {seq: {}}
  products:
    key: sku
    initial: 100000
    fields:
      n: {seq: {}}
      sku: {format: "SKU-{n:08d}"}
  orders:
    arrivals: 1000/s
    fields:
      order_id: {seq: {}}
      customer_id: {ref: customers.id, skew: {zipf: 1.1}}
      sku: {ref: products.sku}
      quantity: {choice: {1: 70, 2: 20, 3: 7, 4: 3}}
      price: {lognormal: {mu: 3.5, sigma: 0.8}, round: 2}
      currency: {choice: [USD, EUR, GBP, JPY, CHF]}
      status: {choice: {placed: 30, paid: 30, shipped: 20, delivered: 15, cancelled: 4, refunded: 1}}
      created_at: {event_time: {}}
      email: {fake: email}
      city: {fake: city}
      country: {fake: country}
      note: {fake: sentence, null_rate: 0.8}
"""

MEMORY_SCENARIO = """
name: soak
seed: 2
clock: {start: 2026-01-01T00:00:00Z, duration: %s}
entities:
  devices:
    initial: 1000
    fields:
      id: {seq: {}}
      fw: {choice: [a, b]}
    updates: {rate: 1/s, fields: [fw]}
  readings:
    write: insert_only
    arrivals: 200/s
    fields:
      id: {seq: {}}
      device: {ref: devices.id}
      v: {normal: {mean: 0, std: 1}}
      at: {event_time: {}}
"""


def headwater_rows_per_s(rows: int) -> float:
    sc = loads(SCENARIO)
    # warm the value pools and key domains once, as a long run would
    for _ in sample_chunks(sc, "orders", 1000):
        pass
    cpu0 = time.process_time()
    n = 0
    for table in sample_chunks(sc, "orders", rows):
        n += table.num_rows
    return n / (time.process_time() - cpu0)


def faker_rows_per_s(rows: int) -> float:
    from faker import Faker

    fake = Faker("en_US")
    Faker.seed(1)
    rnd = random.Random(1)
    currencies = ["USD", "EUR", "GBP", "JPY", "CHF"]
    statuses = ["placed", "paid", "shipped", "delivered", "cancelled", "refunded"]
    weights = [30, 30, 20, 15, 4, 1]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cpu0 = time.process_time()
    out = []
    for i in range(rows):
        out.append(
            {
                "order_id": i + 1,
                "customer_id": min(int(rnd.paretovariate(0.1)), 1_000_000),
                "sku": f"SKU-{rnd.randint(1, 100_000):08d}",
                "quantity": rnd.choices([1, 2, 3, 4], [70, 20, 7, 3])[0],
                "price": round(rnd.lognormvariate(3.5, 0.8), 2),
                "currency": rnd.choice(currencies),
                "status": rnd.choices(statuses, weights)[0],
                "created_at": start + timedelta(milliseconds=i),
                "email": fake.email(),
                "city": fake.city(),
                "country": fake.country(),
                "note": fake.sentence() if rnd.random() < 0.2 else None,
            }
        )
    return rows / (time.process_time() - cpu0)


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_profile(hours: int) -> tuple[float, float, int]:
    """RSS after the first tenth of a long run and at its end."""
    w = World(loads(MEMORY_SCENARIO % f"{hours}h"))
    total = 0
    early = None
    n_steps = hours * 3600 * 1_000_000 // w.step_us
    for i, ch in enumerate(w.steps()):
        total += len(ch)
        if i == max(n_steps // 10, 2):
            gc.collect()
            early = rss_mb()
    gc.collect()
    return early or rss_mb(), rss_mb(), total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--faker-rows", type=int, default=20_000)
    ap.add_argument("--soak-hours", type=int, default=24)
    args = ap.parse_args()
    hw = headwater_rows_per_s(args.rows)
    fk = faker_rows_per_s(args.faker_rows)
    print(f"headwater: {hw:,.0f} rows/CPU-s ({args.rows:,} rows, 12 columns)")
    print(f"faker row by row: {fk:,.0f} rows/CPU-s ({args.faker_rows:,} rows)")
    print(f"ratio: {hw / fk:,.0f}x")
    early, late, events = memory_profile(args.soak_hours)
    print(
        f"memory: RSS {early:.0f} MB after 10% of a {args.soak_hours}h run, {late:.0f} MB at its end ({events:,} events)"
    )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(
        json.dumps(
            {
                "rows_per_s": round(hw),
                "baseline_rows_per_s": round(fk),
                "ratio": round(hw / fk, 1),
                "soak_events": events,
                "rss_mb_early": round(early, 1),
                "rss_mb_end": round(late, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
