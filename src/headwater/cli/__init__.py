"""The command line: one module per command group, each command wrapped by
`shared.user_errors`, the one place where a HeadwaterError becomes a message and exit code 2,
and any other exception is shown as the bug it is (traceback, exit code 70)."""

from __future__ import annotations

import click

from headwater.cli.init import init
from headwater.cli.run import run
from headwater.cli.scenario import preview, schema, validate
from headwater.cli.serve import receive, serve
from headwater.cli.verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="headwater")
def main(debug: bool) -> None:
    """headwater: simulate the source systems data engineers ingest from."""


for _command in (run, validate, preview, schema, verify, serve, receive, init):
    main.add_command(_command)
