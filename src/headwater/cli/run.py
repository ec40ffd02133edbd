"""`headwater run`: a scenario into its sinks, with live progress and the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from headwater.cli.observe import Observe, observe_options
from headwater.cli.shared import duration, err, out, user_errors
from headwater.core.units import format_duration


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--duration", callback=duration, help="Override the simulated duration, e.g. 6h.")
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
@user_errors
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
    from headwater.core.units import parse_speed
    from headwater.resolve.load import load
    from headwater.runner import run as run_world

    sc = load(scenario)
    if speed is not None:
        try:
            parse_speed(speed)
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

        from headwater.core.micros import US

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
