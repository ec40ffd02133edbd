"""The flags `run` and `serve` share to be seen while they go, as one `Observe` value.

Importing this costs only click: the probe, the server and prometheus_client are imported
when a flag asks for them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from headwater.observe.probe import RunProbe


@dataclass(frozen=True)
class Observe:
    """What the flags asked for: a metrics port (0: a free one), its address, the live view."""

    port: int | None = None
    host: str = "127.0.0.1"
    ui: bool = False

    @contextmanager
    def running(self) -> Iterator[RunProbe | None]:
        """The probe to hand the runner, served meanwhile (None when nothing was asked)."""
        if self.port is None and not self.ui:
            yield None
            return
        from headwater.cli.shared import err
        from headwater.observe.probe import RunProbe
        from headwater.observe.server import ObserveServer

        probe = RunProbe()
        with ObserveServer(probe, self.host, self.port or 0, ui=self.ui) as server:
            err.print(f"metrics    {server.url}/metrics   (Authorization: Bearer {server.token})")
            if self.ui:
                err.print(f"live view  {server.url}/?token={server.token}")
            yield probe


def observe_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --metrics-port, --metrics-host and --ui; the command gets them as `observe`."""

    @functools.wraps(command)
    def wrapper(
        *args: Any, metrics_port: int | None, metrics_host: str, ui: bool, **kw: Any
    ) -> Any:
        return command(*args, observe=Observe(metrics_port, metrics_host, ui), **kw)

    options = [
        click.option(
            "--metrics-port",
            type=click.IntRange(0, 65535),
            help="Serve Prometheus metrics at /metrics on this port (0: a free one, printed).",
        ),
        click.option(
            "--metrics-host",
            default="127.0.0.1",
            show_default=True,
            help="Address the metrics and the live view listen on.",
        ),
        click.option(
            "--ui",
            is_flag=True,
            help="Also serve a live view in the browser at / on the metrics port "
            "(a free one without --metrics-port).",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
