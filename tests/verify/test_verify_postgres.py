"""verify reads a PostgreSQL target (needs the private server fixture)."""

from __future__ import annotations

import uuid

import pyarrow as pa

from headwater.resolve.load import loads
from headwater.runner import build_sinks, run
from headwater.sinks._live import LiveTable
from headwater.verify import verify
from headwater.world.engine import World

SCENARIO = """
name: pg
seed: 2
clock: {start: 2026-01-01T00:00:00Z, duration: 5m, step: 30s}
entities:
  accounts:
    key: id
    initial: 50
    arrivals: 0.5/s
    fields:
      id: {seq: {}}
      email: {fake: email}
      balance: {decimal: {min: 0, max: 1000, scale: 2}}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 0.5/s, fields: [email, balance]}
    deletes: {rate: 0.05/s}
sinks:
  src: {kind: memory}
"""


def test_postgres_target(pg_server, tmp_path):
    import psycopg

    sc = loads(SCENARIO)
    world = World(sc)
    sinks = build_sinks(sc, world, tmp_path)
    run(sc, out_dir=tmp_path, sinks=sinks)
    schema = world.schemas["accounts"]
    live = LiveTable(schema.schema, schema.key)
    live.apply(pa.concat_tables(sinks["src"].changes["accounts"]))  # type: ignore[attr-defined]
    rows = live.rows.to_pylist()
    ns = f"verify_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {ns}")
        db.execute(
            f"CREATE TABLE {ns}.accounts (id bigint PRIMARY KEY, email text, "
            "balance numeric(12,2), updated_at timestamptz)"
        )
        with db.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {ns}.accounts VALUES (%s, %s, %s, %s)",
                [(r["id"], r["email"], r["balance"], r["updated_at"]) for r in rows],
            )
    report = verify(tmp_path / "ledger", pg_server.url, tables={"accounts": f"{ns}.accounts"})
    assert report.ok, report.as_dict()
    assert report.entities[0].found == len(rows)
    with psycopg.connect(pg_server.url, autocommit=True) as db:
        db.execute(f"DELETE FROM {ns}.accounts WHERE id = %s", (rows[0]["id"],))
    report = verify(tmp_path / "ledger", pg_server.url, tables={"accounts": f"{ns}.accounts"})
    assert not report.ok and report.entities[0].missing == 1
