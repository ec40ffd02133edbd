"""`headwater validate`, `preview` and `schema`: the scenario without running it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.table import Table

from headwater.cli.shared import out, user_errors
from headwater.errors import HeadwaterError


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@user_errors
def validate(scenario: Path) -> None:
    """Check SCENARIO without connecting to anything; list every problem."""
    from headwater.resolve.estimate import checked
    from headwater.resolve.load import check

    sc, unset = check(scenario)
    est = checked(sc)
    out.print(f"{scenario}: ok ({len(sc.entities)} entities, {len(sc.sinks)} sinks)")
    for line in est.lines():
        out.print(line)
    if unset:
        out.print(f"note: set {', '.join(unset)} in the environment before `headwater run`")


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--entity", "-e", required=True, help="Entity to sample.")
@click.option(
    "-n",
    "rows",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="Rows to show.",
)
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl", "csv"]),
    default="table",
    show_default=True,
)
@user_errors
def preview(scenario: Path, entity: str, rows: int, seed: int | None, fmt: str) -> None:
    """Print sample rows of one entity of SCENARIO."""
    from headwater._plugins import suggest
    from headwater.resolve.load import load
    from headwater.world.sample import sample

    sc = load(scenario)
    if entity not in sc.entities:
        raise HeadwaterError(f"--entity: unknown entity '{entity}'{suggest(entity, sc.entities)}")
    table = sample(sc, entity, rows, seed=seed)
    if fmt == "jsonl":
        for row in table.to_pylist():
            out.print(json.dumps(row, default=str), soft_wrap=True)
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = sys.stdout.buffer
        pacsv.write_csv(table, sink)
        return
    t = Table(title=f"{entity} ({rows} rows)")
    for f in table.schema:
        t.add_column(f.name, overflow="fold")
    for row in table.to_pylist():
        t.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(t)


@click.command()
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to a file instead of stdout.",
)
@user_errors
def schema(out_file: Path | None) -> None:
    """Print the JSON Schema of the scenario language (for editor completion)."""
    from headwater.resolve.jsonschema import scenario_json_schema

    text = json.dumps(scenario_json_schema(), indent=2)
    if out_file:
        out_file.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
