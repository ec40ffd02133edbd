"""A reference ingestion pipeline: DuckDB loads headwater's CDC files, with dedup and merge.

The input is what a `cdc` sink writes to files: Debezium change events as JSON Lines, one
folder per table (`<cdc>/<table>/dt=…/hour=…/<table>-00001.jsonl`). Each load reads the
files it has not loaded yet and merges them into one table per source table:

    dedup + merge (correct)   the latest change of every key wins by its log position
                              (`source.lsn`), so duplicates collapse and late or
                              out-of-order events never overwrite newer ones; deletes leave
                              a tombstone (`__deleted = true`) that keeps a late, older change
                              of the same key from bringing the row back.
    naive (wrong on purpose)  inserts every create, lets the last update to arrive win and
                              deletes on delete: duplicates land twice, late updates land stale.

Run it, then check it:

    headwater run examples/shop.yaml --out out/shop --overwrite
    python examples/pipelines/duckdb_cdc.py out/shop/cdc out/landing.duckdb
    headwater verify --ledger out/shop/ledger --sink changes --target out/landing.duckdb
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import duckdb

STATE = "_loaded_files"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _arrival(path: Path) -> tuple[int, str]:
    """Files in the order they were written: the sink numbers them (…-00042.jsonl)."""
    m = re.search(r"-(\d+)\.jsonl(\.gz)?$", path.name)
    return (int(m.group(1)) if m else 0, str(path))


def new_files(con: Any, cdc: Path) -> dict[str, list[Path]]:
    """Per table, the JSON Lines files not loaded yet, in arrival order."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {STATE} (path VARCHAR PRIMARY KEY)")
    done = {r[0] for r in con.execute(f"SELECT path FROM {STATE}").fetchall()}
    out: dict[str, list[Path]] = {}
    for folder in sorted(p for p in cdc.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files = [
            p
            for p in folder.rglob("*.jsonl*")
            if p.is_file() and not p.name.startswith((".", "_")) and str(p) not in done
        ]
        if files:
            out[folder.name] = sorted(files, key=_arrival)
    return out


def stage(con: Any, files: list[Path]) -> None:
    """Read files into `staged` with their arrival order; malformed lines are skipped."""
    con.execute("DROP TABLE IF EXISTS staged")
    listed = "[" + ", ".join(_lit(str(p)) for p in files) + "]"
    con.execute(
        f"""CREATE TEMP TABLE staged AS
        SELECT source.lsn AS _seq, op, coalesce(after, before) AS img,
               row_number() OVER (ORDER BY file_index, file_row) AS _arrival
        FROM (
            SELECT *, row_number() OVER (PARTITION BY filename) AS file_row,
                   list_position({listed}, filename) AS file_index
            FROM read_json({listed}, format = 'newline_delimited', filename = true,
                           union_by_name = true, ignore_errors = true)
        )
        WHERE op IS NOT NULL"""
    )


def merge(con: Any, table: str, keys: list[str]) -> None:
    """Dedup + merge `staged` into `table` by log position, with tombstones for deletes."""
    t = _q(table)
    on = " AND ".join(f"t.{_q(k)} = l.img.{_q(k)}" for k in keys)
    by = ", ".join(f"img.{_q(k)}" for k in keys)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE latest AS SELECT * FROM staged
        QUALIFY row_number() OVER (PARTITION BY {by} ORDER BY _seq DESC) = 1"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {t} AS
        SELECT unnest(img), _seq, FALSE AS __deleted, now() AS _loaded_at FROM latest LIMIT 0"""
    )
    con.execute(f"DELETE FROM {t} t USING latest l WHERE {on} AND l._seq > t._seq")
    con.execute(
        f"""INSERT INTO {t} BY NAME
        SELECT unnest(img), _seq, op = 'd' AS __deleted, now() AS _loaded_at FROM latest l
        WHERE NOT EXISTS (SELECT 1 FROM {t} t WHERE {on})"""
    )


def naive(con: Any, table: str, keys: list[str]) -> None:
    """No dedup, no ordering: append creates, last-arriving update wins, deletes delete."""
    t = _q(table)
    on = " AND ".join(f"{t}.{_q(k)} = l.img.{_q(k)}" for k in keys)
    by = ", ".join(f"img.{_q(k)}" for k in keys)
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {t} AS
        SELECT unnest(img), now() AS _loaded_at FROM staged LIMIT 0"""
    )
    con.execute(
        f"""INSERT INTO {t} BY NAME SELECT unnest(img), now() AS _loaded_at FROM staged
        WHERE op IN ('r', 'c') ORDER BY _arrival"""
    )
    cols = [
        r[0]
        for r in con.execute(f"DESCRIBE {t}").fetchall()
        if r[0] not in keys and r[0] != "_loaded_at"
    ]
    if cols:
        sets = ", ".join(f"{_q(c)} = l.img.{_q(c)}" for c in cols)
        con.execute(
            f"""UPDATE {t} SET {sets}, _loaded_at = now() FROM (
                SELECT * FROM staged WHERE op = 'u'
                QUALIFY row_number() OVER (PARTITION BY {by} ORDER BY _arrival DESC) = 1
            ) l WHERE {on}"""
        )
    con.execute(f"DELETE FROM {t} WHERE EXISTS (SELECT 1 FROM staged l WHERE l.op = 'd' AND {on})")


def load(
    cdc: str | Path,
    database: str | Path,
    *,
    keys: dict[str, list[str]] | None = None,
    dedup: bool = True,
) -> dict[str, int]:
    """Load new CDC files into `database`; returns files loaded per table.

    `keys` names each table's key columns; by default the first column of the row.
    """
    keys = keys or {}
    con = duckdb.connect(str(database))
    try:
        con.execute("SET TimeZone = 'UTC'")
        loaded = {}
        for table, files in new_files(con, Path(cdc)).items():
            con.execute("BEGIN")
            stage(con, files)
            if con.execute("SELECT count(*) FROM staged").fetchone()[0]:
                first = con.execute("SELECT unnest(img) FROM staged LIMIT 0").description[0][0]
                key = keys.get(table) or [first]
                (merge if dedup else naive)(con, table, key)
            con.executemany(f"INSERT INTO {STATE} VALUES (?)", [[str(p)] for p in files])
            con.execute("COMMIT")
            loaded[table] = len(files)
        return loaded
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cdc", type=Path, help="the cdc sink's folder of JSON Lines files")
    parser.add_argument("database", type=Path, help="the DuckDB database to land into")
    parser.add_argument("--key", action="append", default=[], help="TABLE=COL[,COL]")
    parser.add_argument("--naive", action="store_true", help="no dedup, last arrival wins")
    args = parser.parse_args()
    keys = {t: c.split(",") for t, _, c in (k.partition("=") for k in args.key)}
    for table, n in load(args.cdc, args.database, keys=keys, dedup=not args.naive).items():
        print(f"{table}: {n} new files")


if __name__ == "__main__":
    main()
