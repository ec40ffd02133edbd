"""`headwater init` from PostgreSQL and MariaDB (private servers from the test fixtures):
enums and CHECKs become choices, foreign keys refs, and the scenario runs back into a fresh
database with the same tables, keys and references."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml

from headwater.errors import HeadwaterError
from headwater.init import init_scenario
from headwater.resolve.load import loads
from headwater.runner import run

from tests.capture._db import my_database, pg_database

PG_DDL = """
CREATE TYPE tier AS ENUM ('free', 'pro', 'enterprise');
CREATE TABLE customers (
  id serial PRIMARY KEY, email text UNIQUE NOT NULL, plan tier NOT NULL,
  "full name" text, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz);
CREATE TABLE orders (
  order_id bigserial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  status varchar(12) NOT NULL CHECK (status IN ('placed', 'paid', 'shipped')),
  total numeric(10, 2) CHECK (total >= 0), note text);
CREATE TABLE order_lines (
  line_id serial PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES orders(order_id) ON DELETE CASCADE,
  qty int CHECK (qty BETWEEN 1 AND 5));
CREATE INDEX ix_orders_status_total ON orders (status, total);
INSERT INTO customers (email, plan, "full name")
  SELECT 'u' || i || '@example.com', (ARRAY['free', 'free', 'free', 'pro', 'enterprise'])[i % 5 + 1]::tier,
         CASE WHEN i % 2 = 0 THEN 'Ann ' || i END
  FROM generate_series(1, 300) i;
INSERT INTO orders (customer_id, status, total)
  SELECT i % 200 + 1, (ARRAY['placed', 'paid', 'paid', 'shipped'])[i % 4 + 1], (i % 97) * 1.5
  FROM generate_series(1, 900) i;
INSERT INTO order_lines (order_id, qty) SELECT i % 900 + 1, i % 5 + 1 FROM generate_series(1, 2000) i;
"""

MY_DDL = [
    """CREATE TABLE customers (
      id int AUTO_INCREMENT PRIMARY KEY, email varchar(200) NOT NULL UNIQUE,
      plan ENUM('free', 'pro', 'enterprise') NOT NULL, `full name` varchar(100),
      created_at datetime(6) NOT NULL, updated_at datetime(6))""",
    """CREATE TABLE orders (
      order_id bigint AUTO_INCREMENT PRIMARY KEY, customer_id int NOT NULL,
      status varchar(12) NOT NULL CHECK (status IN ('placed', 'paid', 'shipped')),
      total decimal(10, 2) CHECK (total >= 0), note text,
      FOREIGN KEY (customer_id) REFERENCES customers(id), INDEX ix_status_total (status, total))""",
    """CREATE TABLE order_lines (
      line_id int AUTO_INCREMENT PRIMARY KEY, order_id bigint NOT NULL,
      qty int CHECK (qty BETWEEN 1 AND 5),
      FOREIGN KEY (order_id) REFERENCES orders(order_id) ON DELETE CASCADE)""",
]


def _pg_source(server: Any) -> str:
    import psycopg

    url = pg_database(server, "hw_init_src")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PG_DDL)
    return url


def _my_source(server: Any) -> str:
    import pymysql

    url = my_database(server, "hw_init_src")
    conn = pymysql.connect(
        host=server.host, port=server.port, user="root", database="hw_init_src", autocommit=True
    )
    plans = ["free", "free", "free", "pro", "enterprise"]
    states = ["placed", "paid", "paid", "shipped"]
    with conn.cursor() as cur:
        for ddl in MY_DDL:
            cur.execute(ddl)
        cur.executemany(
            "INSERT INTO customers (email, plan, `full name`, created_at) VALUES (%s, %s, %s, NOW())",
            [
                (f"u{i}@example.com", plans[i % 5], f"Ann {i}" if i % 2 == 0 else None)
                for i in range(1, 301)
            ],
        )
        cur.executemany(
            "INSERT INTO orders (customer_id, status, total) VALUES (%s, %s, %s)",
            [(i % 200 + 1, states[i % 4], (i % 97) * 1.5) for i in range(1, 901)],
        )
        cur.executemany(
            "INSERT INTO order_lines (order_id, qty) VALUES (%s, %s)",
            [(i % 900 + 1, i % 5 + 1) for i in range(1, 2001)],
        )
    conn.close()
    return url


def _shape(text: str) -> dict[str, Any]:
    """Entities with their key, references and parent: what must survive a round trip."""
    ents = yaml.safe_load(text)["entities"]
    return {
        name: (
            e["key"],
            sorted((f, s["ref"]) for f, s in e["fields"].items() if "ref" in s),
            (e.get("parent") or {}).get("entity"),
        )
        for name, e in ents.items()
    }


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_init_from_a_server(kind, request, tmp_path):
    server = request.getfixturevalue("pg_server" if kind == "postgres" else "mariadb_server")
    source = _pg_source(server) if kind == "postgres" else _my_source(server)
    fresh = (pg_database if kind == "postgres" else my_database)(server, "hw_init_out")

    text = init_scenario(source)
    sc = loads(text, env={"DATABASE_URL": fresh})
    assert sc.sinks["db"].kind == kind
    ents = yaml.safe_load(text)["entities"]
    assert ents["customers"]["fields"]["plan"] == {"choice": ["free", "pro", "enterprise"]}
    assert ents["customers"]["fields"]["email"] == {"format": "user{id:08d}@example.com"}
    assert ents["customers"]["fields"]["full name"] == {"fake": "name"}
    assert set(ents["orders"]["fields"]["status"]["choice"]) == {"placed", "paid", "shipped"}
    assert ents["orders"]["fields"]["total"]["decimal"]["min"] == 0
    assert ents["orders"]["fields"]["customer_id"] == {"ref": "customers.id"}
    assert ents["orders"]["indexes"] == [["status", "total"]]
    assert ents["order_lines"]["parent"]["entity"] == "orders"  # ON DELETE CASCADE
    assert ents["order_lines"]["fields"]["qty"] == {"uniform": {"min": 1, "max": 5}}

    profiled = init_scenario(source, profile=True, sample=500)
    fitted = yaml.safe_load(profiled)["entities"]
    plan = fitted["customers"]["fields"]["plan"]["choice"]
    assert plan == {"free": 60.0, "pro": 20.0, "enterprise": 20.0}
    assert fitted["customers"]["fields"]["full name"]["null_rate"] == 0.5
    assert fitted["orders"]["initial"] == 900  # a third of the customers have no orders: no parent
    assert fitted["order_lines"]["parent"]["entity"] == "orders"  # every order has lines
    run(
        loads(profiled, env={"DATABASE_URL": fresh}),
        duration=timedelta(minutes=5),
        out_dir=tmp_path,
    )
    assert _shape(init_scenario(fresh)) == _shape(text)


def test_password_from_the_url_or_the_environment_is_never_shown(monkeypatch):
    from tests.capture._db import password_server

    with password_server({"postgres": "Adm1n-s3cret"}) as server:
        base = f"127.0.0.1:{server.port}/postgres"
        with pytest.raises(HeadwaterError) as err:
            init_scenario(f"postgresql://postgres:wrong-pass-42@{base}")
        assert "cannot connect to postgresql://postgres:***@127.0.0.1" in str(err.value)
        assert "wrong-pass-42" not in str(err.value)
        monkeypatch.setenv("HW_INIT_PW", "Adm1n-s3cret")
        with pytest.raises(HeadwaterError, match="no tables found"):  # connected: an empty database
            init_scenario(f"postgresql://postgres@{base}", password_env="HW_INIT_PW")
        with pytest.raises(HeadwaterError, match="no tables found"):
            init_scenario(f"postgresql://postgres:Adm1n-s3cret@{base}")


def test_a_postgresql_schema_other_than_public(pg_server):
    import psycopg

    url = pg_database(pg_server, "hw_init_ns")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            'CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Deals" (id int PRIMARY KEY, won bool);'
            "CREATE TABLE public.other (id int PRIMARY KEY)"
        )
        conn.execute(
            'INSERT INTO "Sales"."Deals" SELECT i, i % 4 = 0 FROM generate_series(1, 400) i'
        )
    text = init_scenario(url + "?schema=Sales", profile=True)
    doc = yaml.safe_load(text)
    assert list(doc["entities"]) == ["Deals"] and doc["sinks"]["db"]["schema"] == "Sales"
    assert doc["entities"]["Deals"]["fields"]["won"] == {"bool": {"p": 0.25}}
    loads(text, env={"DATABASE_URL": url})
