"""What every command shares: the consoles, the wrapper that turns a HeadwaterError into a
message and exit code 2 (any other exception into a bug report, exit 70), option callbacks.
Every command module of the package imports it; it imports no command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from headwater.core.units import parse_duration
from headwater.errors import HeadwaterError

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


BUG = 70  # EX_SOFTWARE: not the user's doing (verify's exit 1 means a wrong landing)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """HeadwaterError → its message on stderr, exit 2; --debug shows the traceback. Any other
    exception is a bug in headwater: its traceback and a request to report it, exit 70.
    Tracebacks are redacted too: a driver's exception chained to an error may quote a URL or
    a password."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HeadwaterError as exc:
            if click.get_current_context().find_root().params.get("debug"):
                _traceback()
            else:
                # escaped: a message's own brackets (pip install "headwater[mysql]") are text
                err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: bad options and arguments are user errors too
        except Exception:
            _traceback()
            err.print(
                "[bold red]this is a bug in headwater; please report it[/] with the traceback "
                "above and the command you ran",
                markup=True,
            )
            sys.exit(BUG)

    return wrapper


def _traceback() -> None:
    import traceback

    from headwater.secrets import redact

    sys.stderr.write(redact(traceback.format_exc()))


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
