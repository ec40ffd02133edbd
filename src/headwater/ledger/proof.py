"""Proofs of publication: how a reader tells, after a crash, what a sink made visible.

A sink announces a proof right before it publishes; the ledger writes it together with
everything the sink was handed so far. Once the sink reports those rows published, the
proof is dropped. A proof still in the ledger (the run was killed or failed between the
two) is settled by what exists:

    {"file": PATH, "inode": I, "rows": {entity: n}}
                                          a file renamed into place: when PATH holds the
                                          file with inode I, the first n rows handed to the
                                          sink are published
    {"sqlite": PATH, "sink": NAME}        the database's bookkeeping row names the last world
                                          transaction committed: its rows and all before

PATH is relative to the run's output folder (the ledger's parent) when it is under it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BOOKKEEPING = "headwater_applied"  # the SQL sinks' table: per sink and lane, the last txn


def portable(proof: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """The proof as JSON, its path relative to the output folder when under it."""
    out = dict(proof)
    for kind in ("file", "sqlite"):
        if kind in out:
            path = Path(out[kind])
            with contextlib.suppress(ValueError):
                path = path.resolve().relative_to(out_dir.resolve())
            out[kind] = path.as_posix()
    return out


def covered(proof: dict[str, Any], published: dict[str, int], handed: dict[str, int]) -> bool:
    """Whether what the sink reports published already holds all the proof could show."""
    if "file" in proof:
        return all(published.get(e, 0) >= n for e, n in proof["rows"].items())
    return all(published.get(e, 0) >= n for e, n in handed.items())


def settle(
    proof: dict[str, Any], out_dir: Path, txns: Callable[[str], np.ndarray | None]
) -> dict[str, int]:
    """Rows per entity the proof shows published (none when its evidence is absent);
    `txns(entity)` gives the world transaction of every row handed to the sink, in order."""
    if "file" in proof:
        return dict(proof["rows"]) if _is_there(out_dir / proof["file"], proof.get("inode")) else {}
    last = _last_txn(out_dir / proof["sqlite"], proof["sink"])
    if last is None:
        return {}
    rows = {}
    for entity in proof.get("entities", []):
        handed = txns(entity)
        if handed is not None:
            rows[entity] = int(np.count_nonzero(handed <= last))
    return rows


def _is_there(path: Path, inode: int | None) -> bool:
    """The announced file is in place: the path exists and, when the proof knows its inode,
    holds that file, not an earlier one of the same name (a fixed `naming:` replaces files)."""
    try:
        found = path.stat().st_ino
    except OSError:
        return False
    return inode is None or found == inode


def _last_txn(path: Path, sink: str) -> int | None:
    """The last world transaction the sqlite sink committed, from its bookkeeping row."""
    if not path.exists():
        return None
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            row = con.execute(
                f"SELECT txn FROM {BOOKKEEPING} WHERE sink = ? AND lane = 0", (sink,)
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return None if row is None else int(row[0])
