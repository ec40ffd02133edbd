"""`headwater verify`: compare what a pipeline landed with a run's ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from headwater.cli.shared import duration, out, user_errors


@click.command()
@click.option(
    "--ledger",
    required=True,
    type=click.Path(path_type=Path),
    help="The run's ledger folder (<out>/ledger).",
)
@click.option(
    "--target",
    required=True,
    help="Where the pipeline landed: a DuckDB/SQLite file, a folder of data files in any "
    "format the files sink writes (parquet:PATH, csv:PATH, xml:PATH…), or postgresql://…",
)
@click.option("--sink", help="Which sink's deliveries to expect (needed when the run had several).")
@click.option("--entity", "-e", "entities", multiple=True, help="Only these entities (repeatable).")
@click.option(
    "--table",
    "tables",
    multiple=True,
    help="ENTITY=TABLE when a table (or file group) is not named after its entity.",
)
@click.option(
    "--watermark",
    callback=duration,
    help="Allowed lateness, e.g. 5m: report events delivered later than that.",
)
@click.option(
    "--processing-time",
    help="Target column holding when the pipeline landed a row (default: _processed_at, "
    "processed_at, _loaded_at or loaded_at if present).",
)
@click.option(
    "--deleted-column",
    help="Target column marking soft-deleted rows (default: __deleted, _deleted, _is_deleted or _op).",
)
@click.option("--samples", type=click.IntRange(0, 1000), default=5, show_default=True)
@click.option(
    "--strict-types",
    is_flag=True,
    help="Also fail when a typed target stores a column as another type than the ledger's "
    "(by default values are compared: a decimal landed as text passes, with a note).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@user_errors
def verify(
    ledger: Path,
    target: str,
    sink: str | None,
    entities: tuple[str, ...],
    tables: tuple[str, ...],
    watermark: Any,
    processing_time: str | None,
    deleted_column: str | None,
    samples: int,
    strict_types: bool,
    as_json: bool,
) -> None:
    """Check what a pipeline landed against what a run delivered; exit 1 when it is wrong."""
    from headwater.verify import verify as check

    mapping = {}
    for item in tables:
        entity, sep, table = item.partition("=")
        if not sep or not entity or not table:
            raise click.BadParameter(f"expected ENTITY=TABLE, got {item!r}", param_hint="--table")
        mapping[entity] = table
    report = check(
        ledger,
        target,
        sink=sink,
        entities=list(entities) or None,
        tables=mapping,
        watermark_s=watermark.total_seconds() if watermark is not None else None,
        processing_time=processing_time,
        deleted_column=deleted_column,
        samples=samples,
        strict=strict_types,
    )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        report.render(out)
    if not report.ok:
        sys.exit(1)
