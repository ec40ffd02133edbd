"""Entity and field names reach SQL only as quoted identifiers, values only as values.

Names with quotes, backticks, semicolons, spaces and non-ASCII letters create exactly the
tables and columns they spell on SQLite, PostgreSQL and MariaDB, and touch nothing else
(issue 11: such a field name dropped a table on PostgreSQL and MariaDB, and was a traceback
on SQLite). Names no database can hold are refused by `validate`, naming where they are.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from headwater.cli import main
from headwater.errors import ScenarioError
from headwater.resolve.load import loads
from headwater.resolve.scenario import Scenario
from headwater.runner import run
from headwater.scenario.yamlio import clip
from headwater.verify import verify

from tests.capture._db import my_database, pg_database, world_final

DURATION = timedelta(minutes=1)

# What issue 11 reported: each closes the column list and runs a statement of its own. They
# are longer than PostgreSQL and MySQL keep, so `validate` refuses them there; these fit.
PG_ISSUE = 'a" BIGINT); DROP TABLE victim; CREATE TABLE junk ("id" BIGINT, "z'
MY_ISSUE = "a` BIGINT); DROP TABLE victim; CREATE TABLE junk (`id` BIGINT, `z"
PG_ATTACK = 'a" INT); DROP TABLE victim; CREATE TABLE junk ("z'
MY_ATTACK = "a` INT); DROP TABLE victim; CREATE TABLE junk (`z"


def shop(names: dict[str, str], sink: str, values: Sequence[str] = ("x",)) -> Scenario:
    return loads(shop_yaml(names, sink, values))


def shop_yaml(names: dict[str, str], sink: str, values: Sequence[str] = ("x",)) -> str:
    """A parent with an index, updates and deletes, and a child pointing at it, named by `names`
    (parent, child, key, value, label, child_key, fk); `label` takes the given string values."""
    n = {k: _yaml(v) for k, v in names.items()}
    choice = ", ".join(f"{_yaml(v)}: 1" for v in values)
    ref = _yaml(f"{names['parent']}.{names['key']}")
    return f"""
name: t
seed: 3
clock: {{start: 2026-01-01T00:00:00Z, duration: 1m, step: 20s}}
entities:
  {n["parent"]}:
    key: {n["key"]}
    initial: 4
    arrivals: 0.2/s
    fields:
      {n["key"]}: {{seq: {{}}}}
      {n["value"]}: {{uniform: {{min: 1, max: 9}}}}
      {n["label"]}: {{choice: {{{choice}}}}}
    indexes: [[{n["value"]}]]
    updates: {{rate: 0.2/s, fields: [{n["value"]}]}}
    deletes: {{rate: 0.05/s}}
  {n["child"]}:
    parent: {{entity: {n["parent"]}, count: {{min: 1, max: 2}}}}
    fields:
      {n["child_key"]}: {{seq: {{}}}}
      {n["fk"]}: {{ref: {ref}}}
sinks:
  db: {sink}
"""


def _yaml(text: str) -> str:
    """`text` as a YAML string, any character escaped."""
    return yaml.safe_dump(text, default_style='"', width=1 << 20).strip()


ISSUE_NAMES = {
    "parent": "things",
    "child": "parts",
    "key": "id",
    "value": "v",
    "label": "status",
    "child_key": "part_id",
    "fk": "thing_id",
}


# -- the databases, each seen the same way: tables, columns in order, a bystander table ----------


class Pg:
    """A database of its own, with a fresh schema per example holding the bystander `victim`."""

    def __init__(self, server: Any):
        import psycopg

        self.pg = psycopg
        self.url = pg_database(server, "hw_ident")
        self.schema = "public"

    def q(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def fresh(self, schema: str = "hw ident") -> str:
        with self.pg.connect(self.url, autocommit=True) as c:
            for (s,) in c.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
                " AND nspname <> 'information_schema'"
            ).fetchall():
                c.execute(f"DROP SCHEMA {self.q(s)} CASCADE")
            c.execute(f"CREATE SCHEMA {self.q(schema)}")
            c.execute(f"CREATE TABLE {self.q(schema)}.victim (x int)")
            c.execute(f"INSERT INTO {self.q(schema)}.victim VALUES (7)")
        self.schema = schema
        return f"{{kind: postgres, url: '{self.url}', schema: {json.dumps(schema)}}}"

    def tables(self) -> set[str]:
        with self.pg.connect(self.url) as c:
            rows = c.execute(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'headwater')"
            ).fetchall()  # the sink's bookkeeping lives in its own schema, headwater
        assert {s for s, _ in rows} <= {self.schema}, rows
        return {t for _, t in rows}

    def columns(self, table: str) -> list[str]:
        with self.pg.connect(self.url) as c:
            return [
                r[0]
                for r in c.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                    " AND table_name = %s ORDER BY ordinal_position",
                    (self.schema, table),
                )
            ]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.pg.connect(self.url) as c:
            c.execute(f"SET search_path = {self.q(self.schema)}")
            return c.execute(sql).fetchall()


class My:
    """The database emptied per example, then holding the bystander `victim`."""

    def __init__(self, server: Any):
        self.server = server
        self.url = ""

    def q(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def fresh(self) -> str:
        if not self.url:
            self.url = my_database(self.server, "hw_ident")
        for table in self.tables():  # quicker than a new database
            self.query(f"SET FOREIGN_KEY_CHECKS = 0; DROP TABLE {self.q(table)}")
        self.query("CREATE TABLE victim (x int)")
        self.query("INSERT INTO victim VALUES (7)")
        return f"{{kind: mysql, url: '{self.url}'}}"

    def tables(self) -> set[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
        return {t for (t,) in rows}

    def columns(self, table: str) -> list[str]:
        rows = self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE()"
            " AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        import pymysql

        s = self.server
        conn = pymysql.connect(
            host=s.host,
            port=s.port,
            user="root",
            database="hw_ident",
            autocommit=True,
            client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()


class Lite:
    """A file per example; the sink owns the whole file, so there is no bystander."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / "db.sqlite"

    def q(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def fresh(self) -> str:
        self.path.unlink(missing_ok=True)
        return f"{{kind: sqlite, path: {json.dumps(str(self.path))}}}"

    def tables(self) -> set[str]:
        return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.query(f"SELECT name FROM pragma_table_info({_lit(table)})")]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as db:
            return db.execute(sql).fetchall()


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


Db = Pg | My | Lite


def land(db: Db, names: dict[str, str], values: Sequence[str] = ("x",)) -> None:
    """Run the shop under `names` into a fresh `db`; the tables must be exactly the
    scenario's (plus bookkeeping and the untouched bystander), with the columns it names,
    the rows of the world's final state and the label values as written."""
    sink = db.fresh()
    sc = shop(names, sink, values)
    with tempfile.TemporaryDirectory() as out:
        run(sc, duration=DURATION, out_dir=Path(out), ledger=False)
    expected = {names["parent"], names["child"]}
    if isinstance(db, Lite):  # SQLite has no schemas: its bookkeeping sits beside the tables
        expected |= {"headwater_applied"}
    else:
        expected |= {"victim"}
        assert db.query("SELECT x FROM victim") == [(7,)]
    assert db.tables() == expected
    assert db.columns(names["parent"]) == [names["key"], names["value"], names["label"]]
    assert db.columns(names["child"]) == [names["child_key"], names["fk"]]
    final = world_final(sc, DURATION)
    for entity in (names["parent"], names["child"]):
        assert db.query(f"SELECT count(*) FROM {db.q(entity)}") == [(len(final[entity]),)]
    labels = {r[0] for r in db.query(f"SELECT {db.q(names['label'])} FROM {db.q(names['parent'])}")}
    assert labels <= set(values) and labels


@pytest.fixture(scope="module")
def pg(pg_server) -> Pg:
    pytest.importorskip("psycopg")
    return Pg(pg_server)


@pytest.fixture(scope="module")
def my(mariadb_server) -> My:
    pytest.importorskip("pymysql")
    return My(mariadb_server)


@pytest.fixture(scope="module")
def lite(tmp_path_factory) -> Lite:
    return Lite(tmp_path_factory.mktemp("lite"))


# -- the names of issue 11 ---------------------------------------------------------------------


def test_a_postgres_field_name_cannot_drop_a_table(pg):
    land(pg, {**ISSUE_NAMES, "label": PG_ATTACK})


def test_a_mariadb_field_name_cannot_drop_a_table(my):
    land(my, {**ISSUE_NAMES, "label": MY_ATTACK})


def test_a_quote_in_a_sqlite_field_name_is_a_column(lite):
    land(lite, {**ISSUE_NAMES, "label": PG_ISSUE})


@pytest.mark.parametrize("attack", [PG_ATTACK, MY_ATTACK])
def test_hostile_entity_names_and_values(pg, my, lite, attack):
    names = {**ISSUE_NAMES, "parent": attack.replace(".", ""), "label": "it's"}
    values = [attack, PG_ISSUE, MY_ISSUE, "o'clock", "back\\slash"]
    for db in (pg, my, lite):
        land(db, names, values)


@pytest.mark.parametrize(
    ("sink", "name", "message"),
    [
        ("postgres", PG_ISSUE, "is 65 bytes (UTF-8) long; PostgreSQL keeps at most 63"),
        ("mysql", MY_ISSUE, "is 65 characters long; MySQL/MariaDB keeps at most 64"),
    ],
)
def test_validate_refuses_the_issue_names_as_too_long(sink, name, message, tmp_path):
    """`headwater validate` says which field of which entity, under which sink, and exits 2."""
    path = tmp_path / "s.yaml"
    names = {**ISSUE_NAMES, "label": name}
    path.write_text(shop_yaml(names, f"{{kind: {sink}, url: '{sink}://u@127.0.0.1/d'}}"))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "sinks.db" in result.output
    assert f"field {name!r} of entity 'things' (under entities.things.fields) {message}" in (
        result.output
    )


@pytest.mark.parametrize(
    ("kind", "role", "name", "message"),
    [
        (
            "postgres",
            "label",
            "",
            "field '' of entity 'things' (under entities.things.fields) is empty",
        ),
        ("sqlite", "label", "a\x00b", "holds a NUL character, which SQLite cannot keep in a name"),
        ("postgres", "label", "xmin", "is the name of a PostgreSQL system column"),
        ("postgres", "parent", "pg_things", "starts with pg_: PostgreSQL looks pg_… names up"),
        ("postgres", "parent", "headwater_applied", "names the same table as the sink's own table"),
        ("mysql", "child", "headwater_applied", "names the same table as the sink's own table"),
        ("mysql", "label", "V", "names the same column as field 'v' of entity 'things'"),
        ("mysql", "label", "x😀", "holds a character beyond U+FFFF"),
        ("mysql", "label", "x\t", "ends with a blank (space, tab or line break)"),
        ("mysql", "parent", "Nul", "is a Windows device name"),
        ("sqlite", "parent", "sqlite_things", "starts with sqlite_: SQLite reserves"),
        ("sqlite", "child", "THINGS", "names the same table as entity 'things' (entities.things)"),
        ("sqlite", "parent", "\ud800", "holds half of a UTF-16 surrogate pair"),
    ],
)
def test_validate_refuses_names_a_database_cannot_hold(kind, role, name, message):
    sink = f"{{kind: {kind}, url: '{kind}://u@127.0.0.1/d'}}"
    if kind == "sqlite":
        sink = "{kind: sqlite, path: x.db}"
    with pytest.raises(ScenarioError) as err:
        shop({**ISSUE_NAMES, role: name}, sink)
    problems = [p for p in err.value.problems if p.path == "sinks.db"]
    assert len(problems) == 1 and message in problems[0].message, err.value
    assert problems[0].message.endswith("; rename it")


def test_validate_refuses_a_postgres_schema_it_cannot_hold():
    with pytest.raises(ScenarioError) as err:
        shop(ISSUE_NAMES, '{kind: postgres, url: "postgresql://u@h/d", schema: "a\\0"}')
    assert "sinks.db.schema: the schema name 'a\\x00' holds a NUL character" in str(err.value)


def test_names_at_the_length_limit_land_with_their_indexes(pg, my):
    """63-byte (PostgreSQL) and 64-character (MySQL) names: the index and foreign key names
    made from them are cut to fit, with a hash, instead of cut by the server or refused."""
    pg_name = "é" * 31 + "x"  # 63 bytes
    land(pg, {**ISSUE_NAMES, "parent": pg_name, "value": pg_name, "fk": pg_name})
    my_name = "é" * 63 + "x"  # 64 characters
    land(my, {**ISSUE_NAMES, "parent": my_name, "value": my_name, "fk": my_name})


# -- any name: refused by validate with its path, or landed exactly ------------------------------

HOSTILE = list("\"`';,()-_ \\\n\t%?$@#*/éßÄİıǅ日本aA")
ROLES = ("parent", "child", "key", "value", "label", "child_key", "fk")
# Names any of the three databases holds: quotes and the like, and letters of the BMP…
tame = st.text(
    st.one_of(
        st.sampled_from(HOSTILE),
        st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs", "Cc")),
    ),
    min_size=1,
    max_size=12,
).filter(lambda n: not n.endswith(" ") and not n.lower().startswith(("pg_", "sqlite_")))
# …and, in one role, anything: empty, NUL, emoji, past the length limits, a case twin.
anything = st.characters(blacklist_categories=("Cs",))


@st.composite
def some_names(draw: st.DrawFn) -> list[str]:
    names = draw(st.lists(tame, min_size=len(ROLES), max_size=len(ROLES), unique=True))
    wild = st.one_of(
        st.text(st.one_of(st.sampled_from(["\x00", "😀", " "]), anything), max_size=6),
        st.text(anything, min_size=60, max_size=66),
        st.sampled_from(names).map(str.swapcase),
    )
    if draw(st.booleans()):
        names[draw(st.integers(0, len(ROLES) - 1))] = draw(wild)
    return names


def land_or_refuse(db: Db, generated: list[str]) -> None:
    """The property: a name validate accepts lands as exactly that table or column, touching
    nothing else; one it refuses is named in a problem of the sink."""
    names = dict(zip(ROLES, generated, strict=True))
    for role in ("parent", "key"):  # a reference is written entity.key
        names[role] = names[role].replace(".", "") or role
    note(repr(names))
    try:
        shop(names, "{kind: memory}")
    except ScenarioError:
        event("not a name question (a reference, a clash with a world field…)")
        return
    try:
        land(db, names)
        event("landed")
    except ScenarioError as exc:
        event("refused")
        problems = [p for p in exc.problems if p.path == "sinks.db"]
        assert problems, exc
        shown = [clip(repr(n)) for n in names.values()]  # messages shorten very long names
        assert all(any(n in p.message for n in shown) for p in problems), exc


EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))


@EXAMPLES
@given(some_names())
def test_any_name_lands_exactly_or_is_refused_on_postgres(pg, generated):
    land_or_refuse(pg, generated)


@settings(EXAMPLES, max_examples=12)  # MariaDB's DDL is the slow part
@given(some_names())
def test_any_name_lands_exactly_or_is_refused_on_mariadb(my, generated):
    land_or_refuse(my, generated)


@EXAMPLES
@given(some_names())
def test_any_name_lands_exactly_or_is_refused_on_sqlite(lite, generated):
    land_or_refuse(lite, generated)


@pytest.mark.parametrize("backend", ["pg", "my"])
def test_cdc_reads_tables_with_hostile_names(backend, request, tmp_path):
    """Log-based capture finds every table (wal2json's add-tables list escapes space, quote,
    comma, period, asterisk and backslash), and its events add up to the rows each holds."""
    db = request.getfixturevalue(backend)
    names = {**ISSUE_NAMES, "parent": "a b,c'*`", "child": "x.y z"}
    sink = db.fresh("hw,\\ ident.*") if isinstance(db, Pg) else db.fresh()
    sink += "\n  changes: {kind: cdc, from: db, to: {kind: files, format: jsonl, path: cdc}}"
    report = run(shop(names, sink), duration=DURATION, out_dir=tmp_path, ledger=False)
    counts = report.sinks["changes"]["counts"]
    for entity in (names["parent"], names["child"]):
        ops = counts[entity]
        assert ops.get("c", 0) > 0, counts  # streamed, not only the snapshot
        rows = ops.get("r", 0) + ops.get("c", 0) - ops.get("d", 0)
        assert db.query(f"SELECT count(*) FROM {db.q(entity)}") == [(rows,)]


@pytest.mark.parametrize("backend", ["lite", "pg"])
def test_verify_reads_tables_with_hostile_names(backend, request, tmp_path):
    """verify finds and reads the landed tables by their names, quotes and all."""
    db = request.getfixturevalue(backend)
    names = {**ISSUE_NAMES, "parent": 'it\'s "a" b%s', "label": PG_ATTACK, "value": "%"}
    sc = shop(names, db.fresh(), ["o'clock"])
    run(sc, duration=DURATION, out_dir=tmp_path)
    report = verify(tmp_path / "ledger", db.path if isinstance(db, Lite) else db.url)
    assert report.ok, report.as_dict()
    assert {e.entity for e in report.entities} == {names["parent"], names["child"]}


def test_a_replication_slot_name_postgres_cannot_take_is_refused_before_connecting(tmp_path):
    """The slot goes into a replication command as written, so only what PostgreSQL allows."""
    from headwater.capture import open_capture
    from headwater.errors import SinkError
    from headwater.sinks.postgres import PostgresConfig

    config = PostgresConfig(kind="postgres", url="postgresql://u@127.0.0.1:1/d")
    with pytest.raises(SinkError, match="slot name 'x LOGICAL; DROP' may hold only lower case"):
        open_capture(config, {}, name="cdc", checkpoint=tmp_path / "cp", slot="x LOGICAL; DROP")
