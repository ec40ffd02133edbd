"""Helpers shared by the postgres/mysql sink and capture tests: databases, world oracles."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from headwater.sinks._live import LiveTable
from headwater.world.changes import Changes
from headwater.world.engine import World

from tests.conftest import start_or_skip
from tests.helpers import scenario as build_scenario

SHORT = dt.timedelta(minutes=20)
TINY = dt.timedelta(minutes=3)  # runs that only need to work


def norm(v: Any) -> Any:
    """A value as both databases and Arrow agree on: naive UTC datetimes, ints for bools."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Decimal):
        return v.normalize()
    return v


def norm_rows(rows: Any) -> set[tuple[Any, ...]]:
    return {tuple(norm(v) for v in r) for r in rows}


def replay(changes: list[Changes], schemas: dict[str, Any]) -> dict[str, set[tuple[Any, ...]]]:
    """Apply change tables in order to empty live tables: the rows a replica ends with."""
    live = {e: LiveTable(s.schema, s.key) for e, s in schemas.items()}
    for ch in changes:
        for entity, t in ch.tables.items():
            if entity in live and t.num_rows:
                live[entity].apply(t.sort_by("seq"))
    return {e: norm_rows(_rows(lt.rows)) for e, lt in live.items()}


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    cols = [c.to_pylist() for c in table.columns]
    return list(zip(*cols, strict=True)) if cols else []


def world_final(sc: Any, duration: dt.timedelta = SHORT) -> dict[str, set[tuple[Any, ...]]]:
    """The world's final rows per entity, by replaying its change stream."""
    world = World(sc, duration=duration)
    return replay(list(world.steps()), world.schemas)


def pg_database(server: Any, name: str) -> str:
    """A fresh, empty database on the server; its URL."""
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        for (slot,) in conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,)
        ).fetchall():
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def password_server(roles: dict[str, str], **settings: str) -> Iterator[Any]:
    """A private PostgreSQL that checks passwords (scram) on 127.0.0.1, with these roles
    (role → password; `postgres` is the superuser, others get LOGIN and schema public)."""
    import psycopg
    from psycopg import sql

    from headwater.testing.servers import PostgresServer

    server = start_or_skip(PostgresServer(settings=settings))
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            for role, password in roles.items():
                verb = (
                    "ALTER ROLE {} PASSWORD {}"
                    if role == "postgres"
                    else "CREATE ROLE {} LOGIN PASSWORD {}"
                )
                conn.execute(sql.SQL(verb).format(sql.Identifier(role), sql.Literal(password)))
                if role != "postgres":  # and the schema of headwater's bookkeeping table
                    conn.execute("CREATE SCHEMA IF NOT EXISTS headwater")
                    for schema in ("public", "headwater"):
                        conn.execute(
                            sql.SQL("GRANT ALL ON SCHEMA {} TO {}").format(
                                sql.Identifier(schema), sql.Identifier(role)
                            )
                        )
            hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
            hba.write_text(
                "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
                "host replication all 127.0.0.1/32 scram-sha-256\n"
            )
            shutil.chown(hba, "postgres", "postgres")
            conn.execute("SELECT pg_reload_conf()")
        yield server
    finally:
        server.stop()


def pg_rows(url: str, entity: str, columns: list[str]) -> set[tuple[Any, ...]]:
    import psycopg

    cols = ", ".join(f'"{c}"' for c in columns)
    with psycopg.connect(url) as conn:
        return norm_rows(conn.execute(f'SELECT {cols} FROM "{entity}"').fetchall())


def my_database(server: Any, name: str) -> str:
    my_admin(server, f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`")
    return f"mysql://root@{server.host}:{server.port}/{name}"


def my_admin(server: Any, *statements: str) -> None:
    """Run statements as root; commits are made fast again (a restart resets that)."""
    import pymysql

    conn = pymysql.connect(host=server.host, port=server.port, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            # Tests never survive an OS crash; a server crash keeps committed data anyway.
            cur.execute("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
            cur.execute("SET GLOBAL sync_binlog = 0")
    finally:
        conn.close()


def my_query(url: str, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    import pymysql

    from headwater.sinks._sql import DbUrl

    u = DbUrl.parse(url)
    conn = pymysql.connect(
        host=u.host,
        port=u.port or 3306,
        user=u.user or "root",
        password=u.password or "",
        database=u.database,
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            for statement in sql.split(";"):  # several statements: one session
                cur.execute(statement, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def my_rows(url: str, entity: str, columns: list[str]) -> set[tuple[Any, ...]]:
    cols = ", ".join(f"`{c}`" for c in columns)
    return norm_rows(my_query(url, f"SELECT {cols} FROM `{entity}`"))


def shop(sinks: str, **replace: str) -> Any:
    return build_scenario(sinks=sinks, **replace)


def db_rows(kind: str, url: str, entity: str, columns: list[str]) -> set[tuple[Any, ...]]:
    return (pg_rows if kind == "postgres" else my_rows)(url, entity, columns)
