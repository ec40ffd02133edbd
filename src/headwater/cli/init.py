"""The `headwater init` command (registered by headwater.cli)."""

from __future__ import annotations

from pathlib import Path

import click

from headwater.cli.shared import err, user_errors
from headwater.init import DEFAULT_SAMPLE


@click.command()
@click.option(
    "--from",
    "source",
    required=True,
    help="sqlite:///PATH, postgresql://USER@HOST/DB, mysql://USER@HOST/DB, or a schema file: "
    "JSON Schema (.json), Avro (.avsc), OpenAPI (.json/.yaml).",
)
@click.option(
    "-o",
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the scenario to this file instead of stdout.",
)
@click.option(
    "--profile", is_flag=True, help="Sample the data and fit what it shows (databases only)."
)
@click.option(
    "--sample",
    type=click.IntRange(100, 1_000_000),
    default=DEFAULT_SAMPLE,
    show_default=True,
    help="Rows sampled per table with --profile.",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="Environment variable holding the database password (instead of the URL).",
)
@user_errors
def init(
    source: str, out_file: Path | None, profile: bool, sample: int, password_env: str | None
) -> None:
    """Write a scenario from an existing database schema or schema file."""
    from headwater.init import init_scenario

    text = init_scenario(source, profile=profile, sample=sample, password_env=password_env)
    if out_file is None:
        click.echo(text, nl=False)
        return
    out_file.write_text(text, encoding="utf-8")
    err.print(f"wrote {out_file}; check it with `headwater validate {out_file}`")
