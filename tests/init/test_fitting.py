"""The pieces `init` is built from, on small inputs: CHECK clauses as each database prints
them, type names, generator choice by name, and the profile's fits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from headwater.init._sql import apply_check, check_clauses, column
from headwater.init.choose import choose
from headwater.init.model import Column, Table
from headwater.init.profile import arrival_rate, fit_column, ref_skew


def _table(*cols: Column) -> Table:
    return Table("t", {c.name: c for c in cols}, primary_key=["id"])


@pytest.mark.parametrize(
    "clause",
    [
        "status IN ('placed', 'paid', 'it''s')",  # SQLite: the text as written
        "((status)::text = ANY ((ARRAY['placed'::character varying, 'paid'::character varying, "
        "'it''s'::character varying])::text[]))",  # PostgreSQL's pg_get_constraintdef
        "`status` in ('placed','paid','it''s')",  # MariaDB's CHECK_CLAUSE
    ],
)
def test_check_values_in_each_dialect(clause: str) -> None:
    t = _table(Column("id", "int"), Column("status", "text"))
    apply_check(t, clause)
    assert t.columns["status"].choices == ["placed", "paid", "it's"]


def test_check_bounds() -> None:
    t = _table(Column("id", "int"), Column("qty", "int"), Column("price", "decimal"))
    apply_check(t, "((qty >= 1) AND (qty <= 10))")
    apply_check(t, "(price > (0)::numeric)")
    assert (t.columns["qty"].minimum, t.columns["qty"].maximum) == (1, 10)
    assert t.columns["price"].minimum == 0
    ddl = "CREATE TABLE t (a INT CHECK (a BETWEEN 2 AND 8), b TEXT CHECK (length(b) > 0))"
    assert check_clauses(ddl) == ["a BETWEEN 2 AND 8", "length(b) > 0"]


@pytest.mark.parametrize(
    ("type_name", "kind", "extra"),
    [
        ("numeric(10,2)", "decimal", {"precision": 10, "scale": 2}),
        ("character varying(40)", "text", {"length": 40}),
        ("timestamp with time zone", "timestamp", {}),
        ("datetime(6)", "timestamp", {}),
        ("tinyint(1)", "bool", {}),
        ("bigint", "int", {}),
        ("double precision", "float", {}),
        ("integer[]", "json", {}),
        ("enum('print','paint')", "text", {"choices": ["print", "paint"]}),
        ("", "text", {}),  # SQLite allows a column without a type
    ],
)
def test_sql_type_names(type_name: str, kind: str, extra: dict[str, object]) -> None:
    col = column("c", type_name, nullable=True)
    assert col.kind == kind
    for k, v in extra.items():
        assert getattr(col, k) == v


@pytest.mark.parametrize(
    ("name", "kind", "table", "expected"),
    [
        ("email", "text", "users", {"fake": "email"}),
        ("first name", "text", "users", {"fake": "first_name"}),
        ("name", "text", "customers", {"fake": "name"}),
        ("name", "text", "products", {"fake": "catch_phrase"}),
        ("created_at", "timestamp", "t", {"event_time": {}}),
        ("last_modified", "timestamp", "t", {"event_time": {"on_update": True}}),
        ("is_active", "bool", "t", {"bool": {"p": 0.9}}),
        ("amount", "float", "t", {"lognormal": {"mu": 3.5, "sigma": 1.0}, "round": 2}),
        ("zip", "text", "t", {"fake": "postcode"}),
        ("order_number", "text", "t", {"format": "ORDER-{id:08d}"}),
    ],
)
def test_generators_by_name(name: str, kind: str, table: str, expected: dict[str, object]) -> None:
    col = Column(name, kind)  # type: ignore[arg-type]
    t = Table(table, {"id": Column("id", "int"), name: col}, primary_key=["id"])
    assert choose(col, t, "id") == expected


def test_low_cardinality_becomes_weighted_choice() -> None:
    values = pa.array(["a"] * 600 + ["b"] * 300 + ["c"] * 100)
    assert fit_column(Column("x", "text"), values) == {"choice": {"a": 60.0, "b": 30.0, "c": 10.0}}
    assert fit_column(Column("f", "bool"), pa.array([True] * 3 + [False])) == {"bool": {"p": 0.75}}


def test_numeric_shapes() -> None:
    rng = np.random.default_rng(1)
    skewed = fit_column(Column("x", "float"), pa.array(np.round(rng.lognormal(3, 0.8, 5000), 2)))
    assert skewed is not None and skewed["round"] == 2
    assert skewed["lognormal"]["mu"] == pytest.approx(3, abs=0.05)
    assert skewed["lognormal"]["sigma"] == pytest.approx(0.8, abs=0.05)
    flat = fit_column(Column("x", "float"), pa.array(rng.uniform(5, 9, 5000)))
    assert flat is not None and set(flat) == {"uniform", "round"}
    bell = fit_column(Column("x", "float"), pa.array(rng.normal(50, 5, 5000)))
    assert bell is not None and bell["normal"]["mean"] == pytest.approx(50, abs=0.5)
    money = fit_column(Column("p", "decimal", scale=2), pa.array(rng.lognormal(3, 1, 5000)))
    assert money is not None and money["decimal"]["distribution"] == "lognormal"
    ints = fit_column(Column("n", "int"), pa.array(rng.integers(10, 5000, 5000)))
    assert ints is not None and set(ints["uniform"]) == {"min", "max"}


def test_reference_skew_is_found_only_where_it_is() -> None:
    rng = np.random.default_rng(2)
    uniform = pa.array(rng.integers(0, 5000, 10_000))
    assert ref_skew(uniform, 5000) is None
    hot = np.where(
        rng.random(10_000) < 0.4, rng.integers(0, 100, 10_000), rng.integers(0, 5000, 10_000)
    )
    found = ref_skew(pa.array(hot), 5000)
    assert found is not None and found["hot"]["share"] == pytest.approx(0.41, abs=0.03)


def test_arrival_rate_ignores_a_bulk_load_at_the_start() -> None:
    start = 1_767_225_600_000_000
    loaded = np.full(1000, start)  # a snapshot loaded at once
    arriving = start + np.linspace(0, 3600e6, 360).astype(np.int64)  # then 0.1/s for an hour
    ts = pa.array(np.concatenate([loaded, arriving])).cast(pa.timestamp("us", tz="UTC"))
    assert arrival_rate(ts, len(ts)) == pytest.approx(0.1, rel=0.05)


def test_tables_without_a_usable_key_still_make_a_valid_scenario() -> None:
    from headwater.init.compose import compose
    from headwater.init.model import Schema
    from headwater.init.write import to_yaml
    from headwater.resolve.load import loads

    codes = Table("codes", {"code": Column("code", "text", unique=True)})
    accounts = Table(
        "accounts",
        {
            "number": Column("number", "decimal", precision=12, scale=0),
            "opened": Column("opened", "date", unique=True),
        },
        primary_key=["number"],
    )
    schema = Schema({"codes": codes, "accounts": accounts}, "sqlite", "x.db")
    scenario = compose(schema)
    assert scenario["entities"]["codes"]["fields"] == {
        "id": {"seq": {}},
        "code": {"format": "CODE-{id:08d}"},
    }
    assert scenario["entities"]["accounts"]["fields"]["number"] == {"seq": {}}
    assert "date" in scenario["entities"]["accounts"]["fields"]["opened"]
    loads(to_yaml(scenario, []))
