"""The command line: its commands, each wrapped by `cli_shared._user_errors`, the one place
where a HeadwaterError becomes a message and exit code 2, and any other exception is shown as
the bug it is (traceback, exit code 70)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from headwater.cli_shared import _duration, _user_errors, err, out
from headwater.errors import HeadwaterError
from headwater.observe.cli import Observe, observe_options
from headwater.scenario.units import format_duration
from headwater.serve.commands import receive, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="headwater")
def main(debug: bool) -> None:
    """headwater: simulate the source systems data engineers ingest from."""


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--duration", callback=_duration, help="Override the simulated duration, e.g. 6h.")
@click.option("--speed", help="max (default), realtime or a factor like 60x.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default out/<name>).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace the output of an earlier run in the output folder (only what it wrote).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@observe_options
@_user_errors
def run(
    scenario: Path,
    seed: int | None,
    duration: Any,
    speed: str | None,
    out_dir: Path | None,
    overwrite: bool,
    as_json: bool,
    observe: Observe,
) -> None:
    """Run SCENARIO on its simulated clock and write into its sinks."""
    from headwater.runner import run as run_world
    from headwater.scenario.load import load
    from headwater.scenario.model import _speed

    sc = load(scenario)
    if speed is not None:
        try:
            _speed(speed)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--speed") from None
    with observe.running() as observer, _progress(as_json) as on_step:
        report = run_world(
            sc,
            seed=seed,
            duration=duration,
            speed=speed,
            out_dir=out_dir,
            on_step=on_step,
            overwrite=overwrite,
            observer=observer,
        )
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
    else:
        _print_report(report)


class _progress:
    """A live line of simulated time and events/s while a run goes (stderr, only on a terminal)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet or not err.is_terminal

    def __enter__(self) -> Callable[..., None] | None:
        if self.quiet:
            return None
        from rich.live import Live

        self.live = Live(console=err, transient=True, refresh_per_second=4)
        self.live.__enter__()
        return self.update

    def update(self, changes: Any, report: Any) -> None:
        from datetime import UTC, datetime

        from headwater.micros import US

        now = datetime.fromtimestamp(changes.end_us / US, UTC).strftime("%Y-%m-%d %H:%M:%S")
        self.live.update(f"simulated {now}  step {report.steps}  {report.events:,} events")

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.live.__exit__(None, None, None)


def _print_report(report: Any) -> None:
    t = Table(title=f"headwater run: {report.scenario} (seed {report.seed})")
    for col in ("entity", "snapshot (r)", "creates (c)", "updates (u)", "deletes (d)", "total"):
        t.add_column(col, justify="left" if col == "entity" else "right")
    for entity, ops in report.entities.items():
        t.add_row(entity, *(f"{ops.get(o, 0):,}" for o in "rcud"), f"{sum(ops.values()):,}")
    out.print(t)
    s = Table(title="sinks")
    for col in ("sink", "kind", "events written", "bytes", "detail"):
        s.add_column(col, justify="right" if col in ("events written", "bytes") else "left")
    for name, info in report.sinks.items():
        total = sum(sum(ops.values()) for ops in info["counts"].values())
        detail = ", ".join(
            f"{k}={v}" for k, v in info.items() if k not in ("kind", "counts", "bytes", "faults")
        )
        s.add_row(
            name, info["kind"], f"{total:,}", f"{info['bytes']:,}" if info["bytes"] else "-", detail
        )
    out.print(s)
    _print_faults(report)
    out.print(
        f"simulated {format_duration(report.simulated)} in {report.wall_seconds:.2f}s wall "
        f"({report.events:,} events, {report.events_per_second:,.0f} events/s) → {report.out_dir}"
    )


def _print_faults(report: Any) -> None:
    """One row per fault a sink applied, with what it did (from faults' summaries)."""
    rows = [
        (name, fault, summary)
        for name, info in report.sinks.items()
        for fault, summary in info.get("faults", {}).items()
        if fault != "delivered"
    ]
    if not rows:
        return
    t = Table(title="faults")
    for col in ("sink", "fault", "what happened"):
        t.add_column(col)
    for name, fault, summary in rows:
        text = (
            ", ".join(
                f"{k}={'; '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in summary.items()
            )
            if isinstance(summary, dict)
            else str(summary)
        )
        t.add_row(name, fault, text)
    out.print(t)


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@_user_errors
def validate(scenario: Path) -> None:
    """Check SCENARIO without connecting to anything; list every problem."""
    from headwater.scenario.load import check
    from headwater.world.estimate import checked

    sc, unset = check(scenario)
    est = checked(sc)
    out.print(f"{scenario}: ok ({len(sc.entities)} entities, {len(sc.sinks)} sinks)")
    for line in est.lines():
        out.print(line)
    if unset:
        out.print(f"note: set {', '.join(unset)} in the environment before `headwater run`")


@main.command()
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
@_user_errors
def preview(scenario: Path, entity: str, rows: int, seed: int | None, fmt: str) -> None:
    """Print sample rows of one entity of SCENARIO."""
    from headwater._plugins import suggest
    from headwater.scenario.load import load
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


@main.command()
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to a file instead of stdout.",
)
@_user_errors
def schema(out_file: Path | None) -> None:
    """Print the JSON Schema of the scenario language (for editor completion)."""
    from headwater.scenario.jsonschema import scenario_json_schema

    text = json.dumps(scenario_json_schema(), indent=2)
    if out_file:
        out_file.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


@main.command()
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
    callback=_duration,
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
@_user_errors
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


main.add_command(serve)
main.add_command(receive)
