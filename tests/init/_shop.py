"""The database `make demo` writes (examples/shop.yaml's SQLite sink), from a short run,
and what a scenario written by `init` produces when it runs."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater.resolve.load import load, loads
from headwater.runner import run

EXAMPLE = Path(__file__).parents[2] / "examples" / "shop.yaml"


def demo_database(out: Path, minutes: int = 30) -> Path:
    run(load(EXAMPLE), duration=timedelta(minutes=minutes), out_dir=out)
    return out / "shop.db"


def run_text(text: str, out: Path, minutes: int = 10) -> Any:
    """Validate and run a scenario's YAML into `out`; its report."""
    return run(loads(text), duration=timedelta(minutes=minutes), out_dir=out)


def tables(db: Path) -> dict[str, dict[str, Any]]:
    """Per user table: its columns with their primary-key position, and its foreign keys."""
    with sqlite3.connect(db) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'headwater%'"
            )
        ]
        return {
            n: {
                "columns": [(r[1], r[5]) for r in conn.execute(f"PRAGMA table_info('{n}')")],
                "foreign_keys": sorted(
                    (r[3], r[2], r[4]) for r in conn.execute(f"PRAGMA foreign_key_list('{n}')")
                ),
            }
            for n in names
        }


def shares(db: Path, table: str, column: str) -> dict[Any, float]:
    """Each value's share of the rows (None for null)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f'SELECT "{column}", COUNT(*) FROM "{table}" GROUP BY "{column}"'
        ).fetchall()
    total = sum(n for _, n in rows)
    return {v: n / total for v, n in rows}
