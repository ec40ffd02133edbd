"""`headwater serve` and `headwater receive`: APIs over the running world, and a webhook receiver."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from headwater.cli.observe import Observe, observe_options
from headwater.cli.shared import duration, err, out, user_errors
from headwater.secrets import read_secret_file, remember
from headwater.serve.errors import ServeError


@click.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--host", help="Address to bind (default 127.0.0.1, or serve.host).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="HTTP port for REST and GraphQL (0: free)."
)
@click.option("--grpc-port", type=click.IntRange(0, 65535), help="Also serve gRPC on this port.")
@click.option("--speed", help="World speed while serving: realtime (default) or a factor like 60x.")
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--duration", callback=duration, help="Override the simulated duration, e.g. 6h.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for the scenario's sinks and the .proto (default out/<name>).",
)
@click.option("--no-sinks", is_flag=True, help="Serve only; do not write the scenario's sinks.")
@click.option(
    "--overwrite", is_flag=True, help="Replace the output of an earlier run in the output folder."
)
@click.option("--exit-when-done", is_flag=True, help="Stop when the world's clock ends.")
@observe_options
@user_errors
def serve(
    scenario: Path,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    speed: str | None,
    seed: int | None,
    duration: Any,
    out_dir: Path | None,
    no_sinks: bool,
    overwrite: bool,
    exit_when_done: bool,
    observe: Observe,
) -> None:
    """Run SCENARIO's world and serve its live state as REST, GraphQL and gRPC APIs.

    \b
    What is served, and how it misbehaves, is the scenario's `serve:` section:
      host, port, speed, entities, rest (pagination cursor|offset|page, page_size,
      max_page_size, collections), graphql (path, max_page_size), grpc (port; with
      reflection), auth (header, api_keys, oauth2 clients and token_ttl), rate_limit
      (rate, burst), faults (errors, timeouts, latency, outages), drift, tombstones,
      changes_kept. The options here override host, port, grpc port and speed.

    Every key is described in the README ("Serving APIs"); examples/shop_api.yaml uses
    them all. Data paths answer 503 with Retry-After until the initial snapshot is served
    (GET /health turns 200 then). Unless --no-sinks, the run's ledger records what was
    served as the sink `_serve`: `headwater verify --ledger OUT/ledger --sink _serve --target LANDING`
    checks what a pipeline pulled from the APIs.
    """
    from headwater.resolve.load import load
    from headwater.serve.config import Serve
    from headwater.serve.runtime import Serving

    sc = load(scenario)
    config = sc.serve or Serve()
    if host is not None:
        config = config.model_copy(update={"host": host})
    if speed is not None:
        try:
            Serve.model_validate({"speed": speed})
        except ValueError as exc:
            raise click.BadParameter(_first_error(exc), param_hint="--speed") from None
    serving = Serving(
        sc,
        config,
        seed=seed,
        duration=duration,
        out_dir=out_dir,
        port=port,
        grpc_port=grpc_port,
        speed=speed,
        sinks=not no_sinks,
        source=scenario,
        overwrite=overwrite,
        observer=click.get_current_context().with_resource(observe.running()),
    )
    serving.start()
    try:
        url = serving.url
        if serving.config.rest.enabled:
            out.print(
                f"REST     {url}/v1/<entity>   (OpenAPI: {url}/openapi.json, docs: {url}/docs)"
            )
        if serving.config.graphql.enabled:
            out.print(f"GraphQL  {url}{serving.config.graphql.path}")
        if serving.grpc_address:
            out.print(f"gRPC     {serving.grpc_address}   (proto: {serving.proto_path})")
        out.print(f"world    {serving.config.speed}, entities: {', '.join(serving.entities)}")
        last = 0.0
        while not serving.wait(timeout=0.5):
            if time.monotonic() - last > 10 and err.is_terminal:
                last = time.monotonic()
                err.print(f"  simulated {_clock(serving)}  changes {serving.store.position:,}")
        out.print(f"world finished at {_clock(serving)} ({serving.store.position:,} changes)")
        if not exit_when_done:
            out.print("serving its final state; Ctrl-C to stop")
            while True:
                time.sleep(3600)
    finally:
        serving.stop()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=9000, show_default=True)
@click.option("--secret-env", help="Environment variable holding the shared secret.")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the secret.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("received.jsonl"),
    show_default=True,
    help="JSON Lines file of verified deliveries (appended).",
)
@click.option(
    "--tolerance", type=float, default=300, show_default=True, help="Max signature age, s."
)
@click.option("--fail-first", type=click.IntRange(0), default=0, help="Answer 503 to the first N.")
@click.option(
    "--fail-for", callback=duration, help="Answer 503 for this long after start, e.g. 30s."
)
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, help="Answer 503 at random.")
@click.option(
    "--ack-lost", is_flag=True, help="Keep a delivery, then fail anyway (causes duplicates)."
)
@user_errors
def receive(
    host: str,
    port: int,
    secret_env: str | None,
    secret_file: Path | None,
    out_file: Path,
    tolerance: float,
    fail_first: int,
    fail_for: Any,
    fail_rate: float,
    ack_lost: bool,
) -> None:
    """Receive webhooks: verify each signature and write what arrived."""
    from headwater.serve.receive import Receiver

    secret = _secret(secret_env, secret_file)
    receiver = Receiver(
        secret,
        out=out_file,
        host=host,
        port=port,
        tolerance=tolerance,
        fail_first=fail_first,
        fail_for=fail_for.total_seconds() if fail_for else 0,
        fail_rate=fail_rate,
        ack_lost=ack_lost,
    )
    receiver.start()
    try:
        out.print(f"receiving on {receiver.url} (any path) → {out_file}; Ctrl-C to stop")
        while True:
            time.sleep(3600)
    finally:
        receiver.stop()
        dup = sum(1 for d in receiver.deliveries if d["duplicate"])
        err.print(
            f"received {len(receiver.deliveries)} deliveries ({len(receiver.keys())} distinct, "
            f"{dup} duplicates), rejected {receiver.rejected} with bad signatures"
        )


def _secret(env: str | None, file: Path | None) -> bytes:
    if (env is None) == (file is None):
        raise ServeError("give the shared secret with --secret-env NAME or --secret-file PATH")
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise ServeError(f"--secret-env: environment variable {env} is not set")
        remember(value)
        return value.encode()
    assert file is not None
    try:
        return read_secret_file(file).encode()
    except OSError as exc:
        raise ServeError(f"--secret-file: cannot read {file}: {exc.strerror}") from None
    except ValueError as exc:
        raise ServeError(f"--secret-file: {exc}") from None


def _clock(serving: Any) -> str:
    from datetime import UTC, datetime

    from headwater.core.micros import US

    return datetime.fromtimestamp(serving.store.clock_us / US, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)
