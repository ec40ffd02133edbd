"""`Serving`: the world running on a background thread, its changes folded into the live
store, and the APIs (REST and GraphQL over HTTP, gRPC) serving that store meanwhile.

```python
from headwater.resolve.load import load
from headwater.serve.runtime import Serving

with Serving(load("shop.yaml"), port=0) as s:
    print(s.url)              # http://127.0.0.1:<port>
    s.wait(timeout=60)        # until the world's clock ends
```
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from headwater.core.micros import span_us
from headwater.errors import HeadwaterError, Problem, ScenarioError, require
from headwater.outdir import OutDir
from headwater.resolve.scenario import Scenario
from headwater.serve.config import Serve
from headwater.serve.errors import ServeError
from headwater.serve.store import LiveStore, StoreSink


class _Stopped(HeadwaterError):
    """Raised inside the world thread when the servers are stopped."""


def check_config(scenario: Scenario, config: Serve, source: str | Path | None = None) -> None:
    """Cross-check the serve section against the scenario; ScenarioError with positions."""
    problems = config.check(scenario)
    if not problems:
        return
    doc = None
    if source is not None:
        from headwater.scenario.yamlio import load_yaml_file

        try:
            doc = load_yaml_file(source)
        except HeadwaterError:
            doc = None
    out = []
    for loc, message in problems:
        full = ("serve", *loc)
        if doc is not None:
            out.append(doc.problem(full, message))
        else:
            from headwater.scenario.yamlio import dotted

            out.append(Problem(dotted(full), message))
    raise ScenarioError(out)


def _need_api() -> None:
    for module in ("fastapi", "uvicorn"):
        require(module, "api", "headwater serve")


class Serving:
    """Run the world and serve it; a context manager (`start()`/`stop()` otherwise)."""

    def __init__(
        self,
        scenario: Scenario,
        config: Serve | None = None,
        *,
        seed: int | None = None,
        duration: timedelta | None = None,
        out_dir: str | Path | None = None,
        port: int | None = None,
        grpc_port: int | None = None,
        speed: str | None = None,
        sinks: bool = True,
        source: str | Path | None = None,
        stepped: bool = False,
        clock: Callable[[], float] = time.monotonic,
        overwrite: bool = False,
        observer: Any = None,
    ):
        """`observer`: watches the world's run (runner.RunObserver). `stepped`: the world
        takes a step only when `advance` grants one, as fast as it can then; `clock`: the
        wall clock token lifetimes and rate limits count on. Both let tests pace the servers
        by what they control, not by the machine's speed."""
        _need_api()
        config = config or getattr(scenario, "serve", None) or Serve()
        update: dict[str, Any] = {}
        if port is not None:
            update["port"] = port
        if speed is not None:
            try:
                update["speed"] = Serve.model_validate({"speed": speed}).speed
            except ValueError as exc:
                raise ServeError(f"speed: {exc.errors()[0]['msg']}") from None  # type: ignore[attr-defined]
        if grpc_port is not None:
            update["grpc"] = (config.grpc or _grpc_default()).model_copy(update={"port": grpc_port})
        self.config = config.model_copy(update=update) if update else config
        check_config(scenario, self.config, source)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.duration = duration
        self.out_dir = Path(out_dir) if out_dir is not None else Path("out") / scenario.name
        self.with_sinks = sinks
        self.overwrite = overwrite
        self.observer = observer
        from headwater.world.engine import World

        self.world = World(scenario, seed=self.seed, duration=duration)
        names = self.config.entities or list(scenario.entities)
        self.entities = [e for e in self.world.schemas if e in names]
        self.store = LiveStore(
            {e: self.world.schemas[e] for e in self.entities},
            seed=self.seed,
            start_us=self.world.start_us,
            drift=self.config.drift,
            tombstones_us=span_us(self.config.tombstones),
            changes_kept=self.config.changes_kept,
        )
        self.factor = _factor(self.config.speed)
        self._stopping = threading.Event()
        self.gate = StepGate() if stepped else None
        self.clock = clock
        from headwater.serve.guard import Admission, Authenticator, RateLimiter

        limit = self.config.rate_limit
        self.admission = Admission(
            self.store,
            Authenticator(self.config.auth, clock),
            RateLimiter(limit, clock) if limit else None,
        )
        self.http: Any = None
        self.grpc: Any = None
        self.report: Any = None
        self.proto_path: Path | None = None
        self._thread = threading.Thread(target=self._run_world, name="headwater-world", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Serving:
        from headwater.serve._http import ThreadedServer
        from headwater.serve.app import build_app

        self.folder = OutDir.claim(
            self.out_dir, overwrite=self.overwrite, scenario=self.scenario.name, seed=self.seed
        )
        app = build_app(self)
        self.http = ThreadedServer(app, self.config.host, self.config.port, what="http")
        if self.config.grpc is not None and self.config.grpc.enabled:
            from headwater.serve.rpc import GrpcServer

            self.grpc = GrpcServer(self, self.config.host, self.config.grpc.port)
            self.proto_path = self.grpc.proto_path
        try:
            self.http.start()
            if self.grpc is not None:
                self.grpc.start()
        except BaseException:
            self.stop()
            raise
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self.gate is not None:
            self.gate.release()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self.http is not None:
            self.http.stop()
        if self.grpc is not None:
            self.grpc.stop()

    def __enter__(self) -> Serving:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the world's clock to end; True when it did. Raises the world's error."""
        self._thread.join(timeout)
        if self.store.error is not None and not isinstance(self.store.error, _Stopped):
            raise self.store.error  # a HeadwaterError is the user's; anything else a bug
        return not self._thread.is_alive()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the initial snapshot is served (/health turns ok, data endpoints stop
        answering 503); a stepped world gets there with `advance(1)` instead."""
        if self.gate is not None:
            raise ServeError("a stepped world is ready after advance(1), not by waiting")
        store = self.store
        with store.changed:
            if not store.changed.wait_for(lambda: store.ready or store.done, timeout):
                raise TimeoutError(f"the world served no snapshot in {timeout:g}s")
        if not store.ready:
            self.wait(0)  # raises the world's error

    def advance(self, steps: int = 1, timeout: float = 60.0) -> bool:
        """Let a stepped world take `steps` more steps and wait until the store shows them;
        False when the world ended first. `timeout` only bounds a hang (TimeoutError)."""
        if self.gate is None:
            raise ServeError("advance() needs a stepped world: Serving(..., stepped=True)")
        return self.gate.advance(steps, timeout)

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def grpc_address(self) -> str | None:
        return None if self.grpc is None else f"{self.config.host}:{self.grpc.port}"

    # -- the world thread ----------------------------------------------------------------------
    def _run_world(self) -> None:
        from headwater.runner import build_sinks, run
        from headwater.sinks import SinkContext

        context = SinkContext(self.world.schemas, self.out_dir, self.seed, self.scenario.name)
        sinks = build_sinks(self.scenario, self.world, self.out_dir) if self.with_sinks else {}
        sinks["_serve"] = _Feed(self, context)
        error: BaseException | None = None
        try:
            self.report = run(
                self.scenario,
                seed=self.seed,
                duration=self.duration,
                speed="max" if self.gate is not None else self.config.speed,
                out_dir=self.folder,
                sinks=sinks,
                ledger=self.with_sinks,  # the served store itself needs no ledger of its own
                observer=self.observer,
            )
        except _Stopped as exc:
            error = exc
        except BaseException as exc:  # reported by wait() and /health
            error = exc
        self.store.finish(error)
        if self.gate is not None:
            self.gate.release()


class StepGate:
    """Steps on a leash: the world thread waits before each step reaches the store until one
    is granted; `advance` grants and waits until they are taken (or the world ended)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._granted = 0
        self._taken = 0
        self._released = False  # stopped or ended: nobody waits any more

    def enter(self) -> None:
        """The world thread, before a step: wait for a grant."""
        with self._changed:
            self._changed.wait_for(lambda: self._taken < self._granted or self._released)

    def leave(self) -> None:
        """The world thread, once the step is in the store."""
        with self._changed:
            self._taken += 1
            self._changed.notify_all()

    def release(self) -> None:
        with self._changed:
            self._released = True
            self._changed.notify_all()

    def advance(self, steps: int, timeout: float) -> bool:
        with self._changed:
            self._granted += steps
            target = self._granted
            self._changed.notify_all()
            done = self._changed.wait_for(lambda: self._taken >= target or self._released, timeout)
            if not done:
                raise TimeoutError(f"the world did not take the granted steps in {timeout:g}s")
            return self._taken >= target


class _Feed(StoreSink):
    def __init__(self, serving: Serving, context: Any):
        super().__init__("_serve", serving.store, context)
        self.serving = serving

    def write(self, changes: Any) -> None:
        gate = self.serving.gate
        if gate is not None:
            gate.enter()
        if self.serving._stopping.is_set():
            raise _Stopped("stopped")
        super().write(changes)
        if gate is not None:
            gate.leave()


def _factor(speed: str) -> float:
    return 1.0 if speed == "realtime" else float(speed[:-1])


def _grpc_default() -> Any:
    from headwater.serve.config import Grpc

    return Grpc()
