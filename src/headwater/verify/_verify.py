"""Check a landing against a run's ledger, entity by entity (see the package docstring)."""

from __future__ import annotations

from pathlib import Path

from headwater.errors import VerifyError, require
from headwater.ledger.reader import LedgerReader
from headwater.verify.compare import EntityCheck, EntityResult, Options
from headwater.verify.report import VerifyReport, storage_note
from headwater.verify.targets import Target, open_target


def verify(
    ledger: str | Path,
    target: str | Path,
    *,
    sink: str | None = None,
    entities: list[str] | None = None,
    tables: dict[str, str] | None = None,
    watermark_s: float | None = None,
    processing_time: str | None = None,
    deleted_column: str | None = None,
    samples: int = 5,
    strict: bool = False,
) -> VerifyReport:
    """Check a landing against a run's ledger; raises VerifyError for unusable input.

    Values are compared whatever type the target stores them as (decimals as text, …);
    `strict` also fails an entity whose columns are stored as other types than the ledger's.
    """
    duckdb = require("duckdb", "verify", "verify")
    book = LedgerReader(ledger)
    info = book.sink(sink)
    chosen = entities or list(info.entities)
    for e in chosen:
        if e not in info.entities:
            from headwater._plugins import suggest

            raise VerifyError(
                f"--entity: sink '{info.name}' has no entity '{e}'{suggest(e, info.entities)}"
            )
    tables = dict(tables or {})
    for e in tables:
        if e not in info.entities:
            from headwater._plugins import suggest

            raise VerifyError(f"--table: unknown entity '{e}'{suggest(e, info.entities)}")
    tgt: Target = open_target(str(target))
    options = Options(watermark_s, processing_time, deleted_column, samples, strict)
    report = VerifyReport(str(book.root), info.name, tgt.describe(), book.complete, strict)
    if not book.complete:
        report.notes.append(
            "the ledger is incomplete (the run did not finish): expectations cover what the "
            "sink published before the run stopped"
        )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'").fetchall()
        for e in chosen:
            check = EntityCheck(
                con, book, info.name, info.entities[e], tgt, tables.get(e, e), options
            )
            try:
                result = check.run()
            except VerifyError:
                raise
            except duckdb.Error as exc:
                result = EntityResult(e, tables.get(e, e), error=f"cannot compare: {exc}")
            report.entities.append(result)
            note = storage_note(result)
            if note:
                report.notes.append(note)
        tgt.close(con)
    finally:
        con.close()
    return report
