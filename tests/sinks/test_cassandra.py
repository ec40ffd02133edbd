"""The cassandra sink's bulk files, read as Cassandra would load them (no server here).

`parse` is a recursive-descent parser of the CQL subset the sink writes (CREATE KEYSPACE,
CREATE TABLE with PRIMARY KEY ((partition), clustering), INSERT … USING TIMESTAMP with bind
markers, DELETE … USING TIMESTAMP t WHERE …), quoted identifiers included; `replay` loads
the CSV rows and tombstones as Cassandra resolves them: per primary key the highest write
time wins, a tombstone winning a tie. The contract harness reads back through them too.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from headwater.errors import ScenarioError
from headwater.resolve.load import loads

from tests.capture._db import world_final
from tests.contract._harness import DURATION, NAME, cell, scenario
from tests.sinks._streams import run_world

TOKEN = re.compile(
    r"""\s*(?:
      (?P<qident>"(?:[^"]|"")+")
    | (?P<string>'(?:[^']|'')*')
    | (?P<hex>0x[0-9a-fA-F]*)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<ident>[A-Za-z][A-Za-z0-9_]*)
    | (?P<punct>[(),;.={}:])
    )""",
    re.VERBOSE,
)
TYPES = {"text", "bigint", "double", "decimal", "timestamp", "date", "boolean", "blob", "uuid"}


class Tokens:
    def __init__(self, text: str):
        self.items: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = TOKEN.match(text, pos)
            assert m and m.end() > pos, f"cannot read CQL at {text[pos : pos + 30]!r}"
            kind = m.lastgroup
            assert kind is not None
            self.items.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.items[self.i] if self.i < len(self.items) else ("end", "")

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        k, v = self.peek()
        assert kind is None or k == kind, f"expected {kind}, found {v!r}"
        assert value is None or v.upper() == value, f"expected {value}, found {v!r}"
        self.i += 1
        return v

    def keywords(self, *words: str) -> None:
        for w in words:
            self.take("ident", w)

    def at(self, value: str) -> bool:
        return self.peek()[1].upper() == value

    def name(self) -> str:
        """An identifier: quoted kept exactly (a doubled quote is one), unquoted lowercased."""
        kind, v = self.peek()
        self.take()
        if kind == "qident":
            return v[1:-1].replace('""', '"')
        assert kind == "ident", f"expected an identifier, found {v!r}"
        return v.lower()

    def names(self) -> list[str]:
        self.take("punct", "(")
        out = [self.name()]
        while self.at(","):
            self.take()
            out.append(self.name())
        self.take("punct", ")")
        return out

    def literal(self) -> Any:
        kind, v = self.peek()
        self.take()
        if kind == "string":
            return v[1:-1].replace("''", "'")
        if kind == "number":
            return Decimal(v) if "." in v or "e" in v.lower() else int(v)
        if kind == "hex":
            return bytes.fromhex(v[2:])
        assert kind == "ident" and v.lower() in ("true", "false", "null"), v
        return {"true": True, "false": False, "null": None}[v.lower()]


@dataclass
class Table:
    columns: dict[str, str]
    partition: list[str]
    clustering: list[str]

    @property
    def key(self) -> list[str]:
        return self.partition + self.clustering


@dataclass
class Statements:
    keyspaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    inserts: dict[tuple[str, str], tuple[list[str], list[str], str]] = field(default_factory=dict)
    deletes: list[tuple[tuple[str, str], int, dict[str, Any]]] = field(default_factory=list)


def parse(text: str, into: Statements | None = None) -> Statements:
    """Every statement of a CQL script (of the sink's subset), each ending with ';'."""
    out = into or Statements()
    t = Tokens(text)
    while t.peek()[0] != "end":
        verb = t.take("ident").upper()
        if verb == "CREATE" and t.at("KEYSPACE"):
            t.take()
            _if_not_exists(t)
            ks = t.name()
            t.keywords("WITH", "REPLICATION")
            t.take("punct", "=")
            out.keyspaces[ks] = _map(t)
        elif verb == "CREATE":
            t.keywords("TABLE")
            _if_not_exists(t)
            name = _qualified(t, out)
            out.tables[name] = _table(t)
        elif verb == "INSERT":
            t.keywords("INTO")
            table = _qualified(t, out)
            cols = t.names()
            t.keywords("VALUES")
            t.take("punct", "(")
            markers = []
            while True:
                t.take("punct", ":")
                markers.append(t.name())
                if not t.at(","):
                    break
                t.take()
            t.take("punct", ")")
            t.keywords("USING", "TIMESTAMP")
            t.take("punct", ":")
            out.inserts[table] = (cols, markers, t.name())
        elif verb == "DELETE":
            t.keywords("FROM")
            table = _qualified(t, out)
            t.keywords("USING", "TIMESTAMP")
            stamp = int(t.take("number"))
            t.keywords("WHERE")
            where = {}
            while True:
                col = t.name()
                t.take("punct", "=")
                where[col] = t.literal()
                if not t.at("AND"):
                    break
                t.take()
            assert set(where) == set(out.tables[table].key), "a row delete names its whole key"
            out.deletes.append((table, stamp, where))
        else:
            raise AssertionError(f"unexpected statement {verb}")
        t.take("punct", ";")
    return out


def _if_not_exists(t: Tokens) -> None:
    if t.at("IF"):
        t.keywords("IF", "NOT", "EXISTS")


def _qualified(t: Tokens, out: Statements) -> tuple[str, str]:
    ks = t.name()
    t.take("punct", ".")
    assert ks in out.keyspaces, f"keyspace {ks} not created"
    return ks, t.name()


def _map(t: Tokens) -> dict[str, Any]:
    t.take("punct", "{")
    out = {}
    while True:
        k = t.literal()
        t.take("punct", ":")
        out[k] = t.literal()
        if not t.at(","):
            break
        t.take()
    t.take("punct", "}")
    return out


def _table(t: Tokens) -> Table:
    t.take("punct", "(")
    columns: dict[str, str] = {}
    while not t.at("PRIMARY"):
        name = t.name()
        kind = t.take("ident").lower()
        assert kind in TYPES, kind
        columns[name] = kind
        t.take("punct", ",")
    t.keywords("PRIMARY", "KEY")
    t.take("punct", "(")
    partition = t.names()
    clustering = []
    while t.at(","):
        t.take()
        clustering.append(t.name())
    t.take("punct", ")")
    t.take("punct", ")")
    assert set(partition + clustering) <= set(columns)
    return Table(columns, partition, clustering)


def typed(kind: str, text: str) -> Any:
    """A CSV field as the column's type reads it ('' is null)."""
    if text == "":
        return None
    if kind == "bigint":
        return int(text)
    if kind in ("double", "decimal"):
        return float(text)
    if kind == "boolean":
        return {"true": True, "false": False}[text]
    if kind == "timestamp":
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f%z")
    return text


def drops(folder: Path, suffix: str) -> list[Path]:
    return sorted(folder.rglob(f"*-*{suffix}"), key=lambda p: p.name)


def load(folder: Path) -> Statements:
    """The schema, the loader statements and every tombstone file, parsed."""
    st = parse((folder / "schema.cql").read_text(encoding="utf-8"))
    for path in sorted(folder.glob("*.insert.cql")):
        parse(path.read_text(encoding="utf-8"), st)
    for path in drops(folder, ".cql"):
        parse(path.read_text(encoding="utf-8"), st)
    return st


def rows(folder: Path, st: Statements) -> list[tuple[str, int, dict[str, Any]]]:
    """(table, write time, row) of every CSV row, typed by the table's columns."""
    out = []
    for path in drops(folder, ".csv"):
        table = path.name.rsplit("-", 1)[0]
        [(key, t)] = [(k, v) for k, v in st.tables.items() if k[1] == table]
        cols, markers, stamp = st.inserts[key]
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f, doublequote=False, escapechar="\\")  # cqlsh, DSBulk
            header = next(reader)
            assert header == [*markers, stamp], "the header names the loader's bind markers"
            for values in reader:
                row = {c: typed(t.columns[c], v) for c, v in zip(cols, values, strict=False)}
                out.append((table, int(values[-1]), row))
    return out


def replay(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Per table the rows Cassandra ends with: per key the latest write, unless a tombstone
    at least as late covers it."""
    st = load(folder)
    latest: dict[tuple[str, tuple[Any, ...]], tuple[int, dict[str, Any]]] = {}
    tombs: dict[tuple[str, tuple[Any, ...]], int] = {}
    for table, stamp, row in rows(folder, st):
        [t] = [v for k, v in st.tables.items() if k[1] == table]
        pk = (table, tuple(row[c] for c in t.key))
        if pk not in latest or latest[pk][0] < stamp:
            latest[pk] = (stamp, row)
    for (_, table), stamp, where in st.deletes:
        t = st.tables[next(k for k in st.tables if k[1] == table)]
        pk = (table, tuple(where[c] for c in t.key))
        tombs[pk] = max(tombs.get(pk, 0), stamp)
    out: dict[str, list[dict[str, Any]]] = {k[1]: [] for k in st.tables}
    for pk, (stamp, row) in latest.items():
        if stamp > tombs.get(pk, -1):
            out[pk[0]].append(row)
    return out


def ms(v: Any) -> Any:
    """A world value as a Cassandra timestamp column holds it (milliseconds)."""
    if isinstance(v, dt.datetime):
        return v.replace(microsecond=v.microsecond // 1000 * 1000)
    return v


def final(sc: Any) -> dict[str, set[tuple[Any, ...]]]:
    return {
        e: {tuple(cell(ms(v)) for v in r) for r in rs}
        for e, rs in world_final(sc, DURATION).items()
    }


def replayed(folder: Path, columns: dict[str, list[str]]) -> dict[str, set[tuple[Any, ...]]]:
    return {
        e: {tuple(cell(r[c]) for c in columns[e]) for r in rs} for e, rs in replay(folder).items()
    }


def _columns() -> dict[str, list[str]]:
    from tests.contract.harnesses import columns

    return columns()


@pytest.mark.parametrize(
    "options",
    [
        "",
        ", keyspace: Shop, partition_key: {orders: [customer_id]}, clustering: {orders: [order_id]}",
    ],
    ids=["key", "partitioned"],
)
def test_replayed_rows_and_tombstones_are_the_worlds_final_rows(
    tmp_path: Path, options: str
) -> None:
    sc = scenario(f"{NAME}: {{kind: cassandra, path: cs, every: 20s{options}}}\n")
    run_world(sc, tmp_path, ledger=True)
    st = load(tmp_path / "cs")
    assert st.deletes, "the world deleted nothing"
    if options:
        orders = st.tables[("Shop", "orders")]
        assert (orders.partition, orders.clustering) == (["customer_id"], ["order_id"])
    assert replayed(tmp_path / "cs", _columns()) == final(sc)


AWKWARD = """
name: awkward
seed: 1
clock: {start: 2026-01-01T00:00:00Z, duration: 1m, step: 20s}
entities:
  Items:
    key: id
    initial: 20
    arrivals: 1/s
    fields:
      id: {seq: {}}
      'Mixed Case': {choice: [a, b]}
      'say "hi"': {choice: ["it's", 'x']}
      at: {event_time: {}}
    updates: {rate: 2/s, fields: ['Mixed Case', 'say "hi"']}
    deletes: {rate: 0.5/s}
sinks:
  s: {kind: cassandra, path: cs, every: 20s, partition_key: {Items: ['Mixed Case', id]}}
"""


def test_awkward_names_are_quoted_and_rows_moving_key_are_deleted_first(tmp_path: Path) -> None:
    sc = loads(AWKWARD)
    run_world(sc, tmp_path, ledger=True)
    st = load(tmp_path / "cs")
    t = st.tables[("headwater", "Items")]
    assert list(t.columns) == ["id", "Mixed Case", 'say "hi"', "at"]
    assert t.partition == ["Mixed Case", "id"]
    cols = {"Items": list(t.columns)}
    assert replayed(tmp_path / "cs", cols) == final(sc)


@pytest.mark.parametrize(
    "text",
    [
        'CREATE TABLE "k"."t" ("a" text, PRIMARY KEY (("a")));',  # keyspace never created
        "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy'}",  # no ';'
        'CREATE KEYSPACE "k" WITH replication = {}; CREATE TABLE "k"."t" ("a" texte, '
        'PRIMARY KEY (("a")));',
        'CREATE KEYSPACE "k" WITH replication = {"x": 1};',  # a map key is a constant
        'CREATE KEYSPACE "k" WITH replication = {\'a\': 1}; CREATE TABLE "k"."t" ("a" text, '
        '"b" text, PRIMARY KEY (("a"))); DELETE FROM "k"."t" USING TIMESTAMP 1 WHERE "b" = 1;',
        'DROP TABLE "k"."t";',
        '"unterminated;',
    ],
)
def test_the_grammar_rejects_what_the_sink_must_not_write(text: str) -> None:
    with pytest.raises(AssertionError):
        parse(text)


def test_key_options_are_checked_against_the_entities() -> None:
    with pytest.raises(ScenarioError, match=r"sinks\.s\.partition_key\.orders.*key"):
        scenario(f"{NAME}: {{kind: cassandra, partition_key: {{orders: [customer_id]}}}}\n")
    with pytest.raises(ScenarioError, match=r"clustering\.orders\[0\].*no field"):
        scenario(
            f"{NAME}: {{kind: cassandra, clustering: {{orders: [nope, order_id]}}, "
            "partition_key: {orders: [customer_id]}}\n"
        )
    with pytest.raises(ScenarioError, match="keyspace"):
        scenario(f"{NAME}: {{kind: cassandra, keyspace: 'my shop'}}\n")


# -- the contract harness's read-back (tests/contract/harnesses.py) ----------------------------

ISO_MICROS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d{3}Z$")


def contract_landed(out: Path, folder: str) -> list[tuple[str, str, str]]:
    """(table, upsert, row) of every CSV row and (table, delete, key) of every tombstone."""
    from tests.contract._harness import canon

    root = out / folder
    st = load(root)
    got = [(table, "upsert", canon(row)) for table, _, row in rows(root, st)]
    return got + [((t[1]), "delete", canon(where)) for t, _, where in st.deletes]


def contract_expected(events: list[Any], keys: dict[str, str]) -> list[tuple[str, str, str]]:
    """What each world change becomes: a row (times in milliseconds) or a tombstone."""
    from tests.contract._harness import canon

    out = []
    for e in events:
        if e.op == "d":
            out.append((e.entity, "delete", canon({keys[e.entity]: e.row[keys[e.entity]]})))
            continue
        row = {
            k: ISO_MICROS.sub(r"\g<1>000Z", v) if isinstance(v, str) else v
            for k, v in e.row.items()
            if k not in ("_op", "_ingest_time")
        }
        out.append((e.entity, "upsert", canon(row)))
    return out


def test_the_shops_decimals_and_nulls_replay_to_its_final_rows(tmp_path: Path) -> None:
    from headwater.world.engine import World

    shop = Path(__file__).resolve().parents[2] / "examples" / "shop.yaml"
    world = shop.read_text(encoding="utf-8").split("\nsinks:")[0]
    sc = loads(world + "\nsinks:\n  s: {kind: cassandra, path: cs, every: 1m}\n")
    run_world(sc, tmp_path, ledger=True, duration=DURATION)
    columns = {e: [f.name for f in s.row_type] for e, s in World(sc).schemas.items()}
    assert "decimal" in load(tmp_path / "cs").tables[("headwater", "products")].columns.values()
    assert replayed(tmp_path / "cs", columns) == final(sc)
