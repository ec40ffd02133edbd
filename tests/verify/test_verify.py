"""verify passes a correct landing in every kind of target and catches each planted error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from headwater.cli import main
from headwater.errors import VerifyError
from headwater.resolve.load import loads
from headwater.runner import build_sinks, run
from headwater.sinks._live import LiveTable
from headwater.verify import verify
from headwater.world.engine import World

SCENARIO = """
name: v
seed: 11
clock: {start: 2026-01-01T00:00:00Z, duration: 15m, step: 30s}
entities:
  customers:
    key: id
    initial: 150
    arrivals: 0.5/s
    fields:
      id: {seq: {}}
      email: {fake: email}
      amount: {uniform: {min: 1.0, max: 500.0}, round: 2}
      active: {bool: {p: 0.7}}
      joined: {date: {start: 2020-01-01, end: 2025-12-31}}
      updated_at: {event_time: {on_update: true}}
    updates: {rate: 1/s, fields: [email, amount]}
    deletes: {rate: 0.1/s}
  visits:
    write: insert_only
    arrivals: 2/s
    fields:
      visit_id: {seq: {}}
      page: {choice: [a, b, c]}
    updates: {rate: 0.5/s, fields: [page]}
sinks:
  src: {kind: memory}
  late:
    kind: memory
    entities: [customers]
    faults: {late: {rate: 0.2, delay: {mean: 3m}}}
  bad:
    kind: memory
    entities: [customers]
    faults: {malformed: {rate: 0.1, kinds: [missing]}}
  text:
    kind: memory
    entities: [customers]
    faults: {malformed: {rate: 0.1, kinds: [truncate]}, duplicate: 0.05}
  drifted:
    kind: memory
    entities: [customers]
    faults:
      drift: [{at: 2026-01-01T00:07:00Z, rename: {amount: total}, type: {active: string}}]
"""
BASE = ["seq", "txn", "op", "event_time", "key", "before", "after"]


def final_state(parts: list[pa.Table], schema: Any, keep: Any = None) -> pa.Table:
    """The rows a correct pipeline lands from delivered change tables (independent of verify)."""
    changes = pa.concat_tables([t.select(BASE) for t in parts]) if parts else None
    if changes is None:
        return schema.schema.empty_table()
    if keep is not None:
        changes = changes.filter(keep(pa.concat_tables(parts)))
    # one row per event (duplicates collapse), in seq order
    changes = changes.take(pc.sort_indices(changes["seq"]))
    seq = changes["seq"].to_numpy()
    unique = pa.array([True, *(seq[1:] != seq[:-1])]) if len(seq) else pa.array([], pa.bool_())
    changes = changes.filter(unique)
    if schema.write == "crud":
        live = LiveTable(schema.schema, schema.key)
        live.apply(changes)
        return live.rows
    after = changes["after"].combine_chunks()
    rows = pa.Table.from_arrays(after.flatten(), names=[f.name for f in after.type])
    rows = rows.append_column("__seq", changes["seq"])
    last = rows.group_by([schema.key, "version"]).aggregate([("__seq", "max")])
    return rows.filter(pc.is_in(rows["__seq"], value_set=last["__seq_max"])).drop_columns(["__seq"])


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("run")
    sc = loads(SCENARIO)
    world = World(sc)
    sinks = build_sinks(sc, world, out)
    run(sc, out_dir=out, sinks=sinks)
    states = {
        name: {
            e: final_state(sinks[name].changes.get(e, []), world.schemas[e])  # type: ignore[attr-defined]
            for e in sinks[name].entities
        }
        for name in sinks
        if name != "drifted"  # its tables change schema: see test_drifted_columns_…
    }
    return {"out": out, "ledger": out / "ledger", "sinks": sinks, "states": states, "world": world}


def duck(path: Path, tables: dict[str, pa.Table], *sql: str) -> Path:
    con = duckdb.connect(str(path))
    for name, table in tables.items():
        con.register("t", table)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM t")
        con.unregister("t")
    for statement in sql:
        con.execute(statement)
    con.close()
    return path


def check(landed: dict[str, Any], target: Any, sink: str = "src", **kw: Any) -> Any:
    return verify(landed["ledger"], target, sink=sink, **kw)


def result(report: Any, entity: str) -> Any:
    return next(e for e in report.entities if e.entity == entity)


# -- correct landings pass ------------------------------------------------------------------------
def test_correct_landing_passes_in_every_kind_of_target(landed, tmp_path):
    states = landed["states"]["src"]
    assert states["customers"].num_rows > 100 and states["visits"].num_rows > 1000
    db = duck(tmp_path / "land.duckdb", states)
    report = check(landed, db)
    assert report.ok, report.as_dict()
    assert result(report, "customers").expected == states["customers"].num_rows
    for fmt in ("parquet", "csv", "jsonl"):
        folder = tmp_path / fmt
        for entity, table in states.items():
            if fmt == "parquet":
                (folder / entity).mkdir(parents=True)
                pq.write_table(table, folder / entity / "part-0.parquet")
            elif fmt == "csv":
                folder.mkdir(exist_ok=True)
                pacsv.write_csv(table, folder / f"{entity}.csv")
            else:
                folder.mkdir(exist_ok=True)
                con = duckdb.connect()
                con.register("t", table)
                con.execute(f"COPY t TO '{folder / (entity + '-0001.jsonl')}' (FORMAT JSON)")
                con.close()
        report = check(landed, folder)
        assert report.ok, (fmt, report.as_dict())
        assert report.target.startswith(fmt)


def test_the_sqlite_sink_is_a_correct_landing(tmp_path):
    sc = loads(SCENARIO.split("sinks:")[0] + "sinks:\n  db: {kind: sqlite, path: app.db}\n")
    run(sc, out_dir=tmp_path)
    report = verify(tmp_path / "ledger", tmp_path / "app.db")
    assert report.ok, report.as_dict()
    assert report.target.startswith("sqlite")


def test_soft_deletes_and_a_processing_time_column(landed, tmp_path):
    states = landed["states"]["src"]
    customers = states["customers"]
    deleted = next(
        t.filter(pc.equal(t["op"], "d"))
        for t in landed["sinks"]["src"].changes["customers"]
        if pc.any(pc.equal(t["op"], "d")).as_py()
    )
    tomb = pa.Table.from_arrays(
        deleted["before"].combine_chunks().flatten(), names=customers.column_names
    )
    rows = pa.concat_tables([customers, tomb])
    rows = rows.append_column(
        "__deleted", pa.array([False] * customers.num_rows + [True] * tomb.num_rows)
    )
    db = duck(
        tmp_path / "soft.duckdb",
        {"customers": rows},
        "ALTER TABLE customers ADD COLUMN _processed_at TIMESTAMPTZ",
        "UPDATE customers SET _processed_at = updated_at + INTERVAL 5 SECOND",
    )
    report = check(landed, db, entities=["customers"])
    r = result(report, "customers")
    assert r.ok, r.as_dict()
    assert r.lag is not None and r.lag["column"] == "_processed_at"
    assert r.lag["since_event"]["p50_s"] == pytest.approx(5, abs=0.01)
    assert r.lag["since_event"]["p99_s"] == pytest.approx(5, abs=0.01)


# -- planted errors are caught ---------------------------------------------------------------------
def _updated_key(landed: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A live customer whose last change is an update, and its image before that update."""
    changes = pa.concat_tables(landed["sinks"]["src"].changes["customers"])
    live = set(landed["states"]["src"]["customers"]["id"].to_pylist())
    last: dict[int, dict[str, Any]] = {}
    for row in changes.select(["key", "op", "before"]).to_pylist():
        last[row["key"]] = row
    key = next(k for k, r in sorted(last.items()) if r["op"] == "u" and k in live)
    return key, last[key]["before"]


@pytest.fixture
def base_db(landed, tmp_path) -> Path:
    return duck(tmp_path / "base.duckdb", landed["states"]["src"])


def plant(db: Path, *sql: str) -> Path:
    con = duckdb.connect(str(db))
    for statement in sql:
        con.execute(statement)
    con.close()
    return db


def test_missing_row(landed, base_db):
    key = landed["states"]["src"]["customers"]["id"][0].as_py()
    r = result(
        check(landed, plant(base_db, f"DELETE FROM customers WHERE id = {key}")), "customers"
    )
    assert (r.missing, r.unexpected, r.duplicates, r.wrong) == (1, 0, 0, 0)
    assert r.samples["missing"] == [key] and not r.ok


def test_duplicate_row(landed, base_db):
    key = landed["states"]["src"]["visits"]["visit_id"][3].as_py()
    db = plant(base_db, f"INSERT INTO visits SELECT * FROM visits WHERE visit_id = {key} LIMIT 1")
    r = result(check(landed, db), "visits")
    assert (r.duplicates, r.duplicate_rows, r.missing, r.wrong) == (1, 1, 0, 0)
    assert r.samples["duplicates"] == [[key, 1]] or r.samples["duplicates"][0][0] == key


def test_stale_update(landed, base_db):
    key, before = _updated_key(landed)
    sets = ", ".join(f"{f} = {v!r}" for f, v in before.items() if f in ("email", "amount"))
    r = result(
        check(landed, plant(base_db, f"UPDATE customers SET {sets} WHERE id = {key}")), "customers"
    )
    assert (r.wrong, r.missing, r.duplicates) == (1, 0, 0)
    assert r.stale == 0  # updated_at still says the newer version: not an older row as a whole
    db2 = plant(
        base_db,
        f"UPDATE customers SET updated_at = TIMESTAMPTZ '{before['updated_at'].isoformat()}' WHERE id = {key}",
    )
    r = result(check(landed, db2), "customers")
    assert (r.wrong, r.stale) == (1, 1)
    sample = r.samples["wrong"][0]
    assert sample["key"] == key
    assert {"email", "amount", "updated_at"} & set(sample["fields"])


def test_changed_value_is_a_field_diff(landed, base_db):
    key = landed["states"]["src"]["customers"]["id"][5].as_py()
    db = plant(base_db, f"UPDATE customers SET email = 'x@example.org' WHERE id = {key}")
    r = result(check(landed, db), "customers")
    assert (r.wrong, r.stale, r.diffs) == (1, 0, {"email": 1})
    assert r.samples["wrong"][0]["fields"]["email"]["found"] == "x@example.org"


def test_wrong_type_in_a_typed_target(landed, base_db):
    db = plant(
        base_db,
        "ALTER TABLE customers ALTER amount TYPE VARCHAR",
        "UPDATE customers SET amount = 'n/a' WHERE id = (SELECT min(id) FROM customers)",
    )
    r = result(check(landed, db), "customers")
    assert r.column_types == [{"field": "amount", "expected": "DOUBLE", "found": "VARCHAR"}]
    assert r.type_errors == {"amount": 1} and not r.ok


def test_wrong_type_in_a_text_target(landed, tmp_path):
    states = landed["states"]["src"]
    folder = tmp_path / "csv"
    folder.mkdir()
    table = states["customers"]
    amount = pc.cast(table["amount"], pa.string()).to_pylist()
    amount[0] = "12,50 EUR"
    table = table.set_column(table.column_names.index("amount"), "amount", pa.array(amount))
    pacsv.write_csv(table, folder / "customers.csv")
    r = result(check(landed, folder, entities=["customers"]), "customers")
    assert r.type_errors == {"amount": 1} and r.column_types == [] and not r.ok


def test_unexpected_and_resurrected_rows(landed, base_db):
    changes = pa.concat_tables(landed["sinks"]["src"].changes["customers"])
    gone = changes.filter(pc.equal(changes["op"], "d"))["before"][0].as_py()
    cols = ", ".join(gone)
    values = ", ".join("NULL" if v is None else repr(str(v)) for v in gone.values())
    db = plant(
        base_db,
        f"INSERT INTO customers ({cols}) VALUES ({values})",
        "INSERT INTO customers (id, email) VALUES (999999, 'ghost@example.org')",
    )
    r = result(check(landed, db), "customers")
    assert (r.unexpected, r.not_deleted, r.missing) == (2, 1, 0)


def test_missing_table_and_columns(landed, tmp_path):
    states = landed["states"]["src"]
    db = duck(tmp_path / "part.duckdb", {"customerz": states["customers"].drop_columns(["joined"])})
    report = check(landed, db, tables={"visits": "customerz"})
    c, v = result(report, "customers"), result(report, "visits")
    assert c.error and "did you mean 'customerz'" in c.error
    assert v.error == "the target table has no column for the key 'visit_id'" and not v.ok
    report = check(landed, db, tables={"customers": "customerz"}, entities=["customers"])
    assert report.ok and result(report, "customers").not_compared == {
        "joined": "no such column in the target"
    }


# -- faults: late data and malformed records ---------------------------------------------------------
def test_late_data_past_the_watermark(landed, tmp_path):
    states = landed["states"]["late"]
    db = duck(tmp_path / "late.duckdb", states)
    r = result(check(landed, db, sink="late", watermark_s=60), "customers")
    assert r.ok and r.late["late_events"] > 0 and r.late["missing_after_watermark"] == 0
    # a pipeline that dropped rows whose last change came after the watermark
    from headwater.ledger import LedgerReader

    ev = LedgerReader(landed["ledger"]).events("late", "customers")
    delay = pc.subtract(
        pc.cast(ev["ingest_time"], pa.int64()), pc.cast(ev["event_time"], pa.int64())
    )
    late_keys = set(ev.filter(pc.greater(delay, 60_000_000))["key"].to_pylist())
    last = {}
    for row in ev.select(["key", "seq"]).to_pylist():
        last[row["key"]] = max(last.get(row["key"], -1), row["seq"])
    late_seqs = set(ev.filter(pc.greater(delay, 60_000_000))["seq"].to_pylist())
    dropped = [k for k in late_keys if last[k] in late_seqs]
    assert dropped
    db = plant(db, f"DELETE FROM customers WHERE id IN ({', '.join(map(str, dropped))})")
    r = result(check(landed, db, sink="late", watermark_s=60), "customers")
    assert r.missing > 0 and r.late["missing_after_watermark"] == r.missing


def test_malformed_records_may_be_rejected_but_not_landed_broken(landed, tmp_path):
    world = landed["world"]
    schema = world.schemas["customers"]
    parts = landed["sinks"]["bad"].changes["customers"]

    def intact(t: pa.Table) -> pa.Array:
        return pc.invert(pc.fill_null(pc.match_substring(t["fault"], "malformed"), False))

    rejected = final_state(parts, schema, keep=intact)
    r = result(
        check(landed, duck(tmp_path / "rej.duckdb", {"customers": rejected}), sink="bad"),
        "customers",
    )
    assert r.ok, r.as_dict()
    assert r.delivered["malformed"] > 0
    broken = final_state(parts, schema)  # landed the records with a field missing
    r = result(
        check(landed, duck(tmp_path / "brk.duckdb", {"customers": broken}), sink="bad"), "customers"
    )
    assert r.wrong > 0 and not r.ok
    # a sink that does not encode text delivers text-malformed records intact: either is fine
    parts = landed["sinks"]["text"].changes["customers"]
    for name, keep in (("all", None), ("some", intact)):
        state = final_state(parts, schema, keep=keep)
        r = result(
            check(landed, duck(tmp_path / f"{name}.duckdb", {"customers": state}), sink="text"),
            "customers",
        )
        assert r.ok, (name, r.as_dict())


def test_drifted_columns_are_matched_under_either_name(landed, tmp_path):
    """A pipeline that keeps both names (old rows in amount, new ones in total) is correct."""
    flat = []
    for t in landed["sinks"]["drifted"].changes["customers"]:
        image = pc.if_else(pc.equal(t["op"], "d"), t["before"], t["after"])
        cols = image.combine_chunks().flatten()
        names = [f.name for f in image.type]
        part = pa.Table.from_arrays(cols, names=names)
        i = names.index("active")  # bool before the drift, text after: the pipeline keeps text
        part = part.set_column(i, "active", pc.cast(part["active"], pa.string()))
        flat.append(part.append_column("_seq", t["seq"]).append_column("_op", t["op"]))
    rows = pa.concat_tables(flat, promote_options="permissive")
    con = duckdb.connect(str(tmp_path / "drift.duckdb"))
    con.register("r", rows)
    con.execute(
        """CREATE TABLE customers AS SELECT * EXCLUDE (_seq, _op) FROM r
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY _seq DESC) = 1 AND _op <> 'd'"""
    )
    both = con.execute(
        "SELECT count(*) FILTER (amount IS NOT NULL), count(*) FILTER (total IS NOT NULL) FROM customers"
    ).fetchone()
    con.close()
    assert both[0] > 0 and both[1] > 0
    r = result(check(landed, tmp_path / "drift.duckdb", sink="drifted"), "customers")
    assert r.ok, str(r.as_dict())


# -- the command line ------------------------------------------------------------------------------
def test_cli_exit_codes_and_json(landed, base_db, tmp_path):
    cli = CliRunner()
    args = ["verify", "--ledger", str(landed["ledger"]), "--sink", "src", "--target", str(base_db)]
    ok = cli.invoke(main, [*args, "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["ok"] and set(data["entities"]) == {"customers", "visits"}
    text = cli.invoke(main, args)
    assert text.exit_code == 0 and "2/2 entities correct" in text.output
    bad = shutil.copy(base_db, tmp_path / "bad.duckdb")
    plant(Path(bad), "DELETE FROM visits WHERE visit_id < 5")
    wrong = cli.invoke(main, [*args[:-1], str(bad)])
    assert wrong.exit_code == 1 and "missing" in wrong.output
    for extra, message in (
        (["--sink", "nope"], "unknown sink 'nope'"),
        (["--entity", "customer"], "did you mean 'customers'"),
        (["--table", "customers"], "expected ENTITY=TABLE"),
        (["--watermark", "5 min"], "invalid duration"),
    ):
        res = cli.invoke(main, [*args, *extra])
        assert res.exit_code == 2, (extra, res.output)
        assert message in res.output, (extra, res.output)
    res = cli.invoke(main, ["verify", "--ledger", str(tmp_path), "--target", str(base_db)])
    assert res.exit_code == 2 and "no ledger at" in res.output
    res = cli.invoke(main, [*args[:-1], str(tmp_path / "nothing.duckdb")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_several_sinks_need_a_choice(landed, base_db):
    with pytest.raises(VerifyError, match="choose one: bad, drifted, late, src, text"):
        verify(landed["ledger"], base_db)
