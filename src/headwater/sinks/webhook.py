"""Webhooks: POST the world's changes to a URL, signed, retried, at least once.

Each change becomes a JSON event (`id`, `type` like `orders.updated`, `created`,
`data.object`, and `data.previous` for updates). Every request is signed Stripe-style:
`Headwater-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, signed
anew on each attempt, and carries `Idempotency-Key` (the event id, or the batch's first and
last ids), the same on every retry. A non-2xx answer, a timeout or a refused connection is
retried with exponential backoff and jitter (`retry`, sinks/_retry: `attempts` per request,
and `for`, a deadline, if given); an answer lost after the receiver acted on it
therefore arrives twice with the same key (at-least-once). Deliveries are written in order,
one request at a time, so a receiver sees each key's changes in order. The secret comes
from an environment variable or a file, read when the sink opens, and is never logged.
Every delivery (id, attempts, status) is appended to `<name>.deliveries.jsonl` in the output
folder; counts are in the run report.

```yaml
sinks:
  hooks:
    kind: webhook
    url: http://127.0.0.1:9000/hooks
    secret_env: HEADWATER_WEBHOOK_SECRET
    entities: [orders]
    retry: {attempts: 8, initial: 200ms, max: 10s}
```
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from datetime import timedelta
from typing import Any, Literal, TextIO

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from headwater.core.micros import US
from headwater.core.random import stream
from headwater.core.units import Duration
from headwater.errors import SinkError, SinkUnavailable, require
from headwater.secrets import mask_url, read_secret_file, redact, redact_logs, remember
from headwater.sinks._retry import Backoff, RequestRetry
from headwater.sinks._text import json_text, jsonable
from headwater.sinks.base import Sink, SinkConfig, SinkContext
from headwater.sinks.capabilities import Capabilities, Ordering
from headwater.world.changes import Changes

SIGNATURE_HEADER = "Headwater-Signature"
TYPES = {"r": "snapshot", "c": "created", "u": "updated", "d": "deleted"}


class WebhookConfig(SinkConfig):
    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://", description="where events are POSTed")
    secret_env: str | None = Field(None, description="environment variable holding the secret")
    secret_file: str | None = Field(None, description="file holding the secret")
    batch: int = Field(1, ge=1, description="events per request; >1 sends {events: [...]}")
    snapshot: bool = Field(False, description="also send the initial rows (type *.snapshot)")
    timeout: Duration = Field(timedelta(seconds=5), description="per request")
    retry: RequestRetry = Field(default_factory=RequestRetry)
    on_failure: Literal["fail", "drop"] = Field(
        "fail", description="after the last attempt: stop the run, or log it and go on"
    )
    header: str = Field(SIGNATURE_HEADER, description="the signature header's name")

    @model_validator(mode="after")
    def _secret(self) -> WebhookConfig:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError("give secret_env or secret_file (one of them)")
        return self


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for a body sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: bytes, body: bytes, header: str, tolerance: float = 300, now: float | None = None
) -> bool:
    """Whether a signature header is valid for this body and recent enough."""
    return refusal(secret, body, header, tolerance, now) is None


def refusal(
    secret: bytes, body: bytes, header: str, tolerance: float = 300, now: float | None = None
) -> str | None:
    """Why a signature header is refused (None: it is valid), for the receiver's answer: a
    sender with a wrong clock needs to hear "too old", not "invalid signature"."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    if not header.strip():
        return "no signature header"
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return "malformed signature header: expected t=<unix seconds>,v1=<hex HMAC-SHA256>"
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        return "invalid signature"
    age = (time.time() if now is None else now) - t
    if age > tolerance:
        return (
            f"signature timestamp too old: signed {age:.0f}s ago, accepted for "
            f"{tolerance:g}s (a replay, or the sender's clock is behind)"
        )
    if -age > tolerance:
        return (
            f"signature timestamp {-age:.0f}s in the future, accepted within {tolerance:g}s "
            "(the sender's clock is ahead)"
        )
    return None


class WebhookSink(Sink):
    kind = "webhook"
    Config = WebhookConfig
    capabilities = Capabilities(
        updates=True, deletes=True, ordering=Ordering.PER_KEY, at_least_once=True, headers=True
    )
    config: WebhookConfig

    def __init__(self, name: str, config: SinkConfig, context: SinkContext):
        super().__init__(name, config, context)
        self.client: Any = None  # set by open(), closed by close()
        self.log: TextIO | None = None

    @property
    def ops(self) -> frozenset[str] | None:
        return None if self.config.snapshot else frozenset("cud")

    def open(self) -> None:
        httpx = require("httpx", "api", "the webhook sink")
        self.secret = self._read_secret()
        redact_logs("httpx")  # it logs every request's URL, a ?token=… included
        import socket

        # headers and body go out in two writes: without NODELAY, Nagle's algorithm and the
        # peer's delayed ACK add 40 ms to every request
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        self.client = httpx.Client(timeout=self.config.timeout.total_seconds(), transport=transport)
        self._httpx = httpx
        self.rng = stream(self.context.seed, "webhook", self.name)
        self.log_path = self.context.out_dir / f"{self.name}.deliveries.jsonl"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("w", encoding="utf-8")
        self.stats.extra.update(
            {
                "url": mask_url(self.config.url),
                "delivered": 0,
                "requests": 0,
                "retries": 0,
                "failed": 0,
            }
        )

    def _read_secret(self) -> bytes:
        c = self.config
        if c.secret_env is not None:
            value = os.environ.get(c.secret_env)
            if not value:
                raise SinkError(self.name, f"environment variable {c.secret_env} is not set")
            remember(value)
            return value.encode()
        path = c.secret_file or ""  # relative to the working directory, not the output
        try:
            return read_secret_file(path).encode()
        except OSError as exc:
            raise SinkError(
                self.name, f"cannot read the secret file {path}: {exc.strerror}"
            ) from None
        except ValueError as exc:
            raise SinkError(self.name, str(exc)) from None

    # -- events --------------------------------------------------------------------------------
    def events(self, changes: Changes) -> list[tuple[int, str, dict[str, Any]]]:
        """(seq, id, event) for every change, in seq order across entities."""
        out = []
        for entity, table in changes.tables.items():
            if table.num_rows == 0:
                continue
            after = jsonable(table["after"].combine_chunks()).to_pylist()
            before = jsonable(table["before"].combine_chunks()).to_pylist()
            seqs = table["seq"].to_pylist()
            txns = table["txn"].to_pylist()
            ops = table["op"].to_pylist()
            times = pc.cast(table["event_time"], pa.int64()).to_pylist()
            iso = pc.strftime(table["event_time"], format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
            for i, op in enumerate(ops):
                data: dict[str, Any] = {"object": before[i] if op == "d" else after[i]}
                if op == "u":
                    data["previous"] = before[i]
                eid = f"evt_{entity}-{seqs[i]}"
                out.append(
                    (
                        seqs[i],
                        eid,
                        {
                            "id": eid,
                            "type": f"{entity}.{TYPES[op]}",
                            "created": times[i] // US,
                            "occurred_at": iso[i],
                            "entity": entity,
                            "seq": seqs[i],
                            "txn": txns[i],
                            "data": data,
                        },
                    )
                )
        out.sort(key=lambda e: e[0])
        return out

    def write(self, changes: Changes) -> None:
        events = self.events(changes)
        size = self.config.batch
        for i in range(0, len(events), size):
            chunk = events[i : i + size]
            if size == 1:
                key, body = chunk[0][1], chunk[0][2]
            else:
                key = f"{chunk[0][1]}..{chunk[-1][1]}"
                body = {"events": [e[2] for e in chunk]}
            raw = json_text(body).encode()
            if self._deliver(key, raw):
                self.stats.extra["delivered"] += len(chunk)
        self.stats.add(changes)

    def _deliver(self, key: str, raw: bytes) -> bool:
        c = self.config
        attempt, started, status, error = 0, time.time(), None, None
        backoff = Backoff(c.retry, jitter=lambda: float(self.rng.random()))
        while True:
            attempt += 1
            self.stats.extra["requests"] += 1
            headers = {
                "content-type": "application/json",
                "Idempotency-Key": key,
                c.header: sign(self.secret, raw, int(time.time())),
                "Headwater-Attempt": str(attempt),
                "User-Agent": "headwater-webhook/1",
            }
            try:
                resp = self.client.post(c.url, content=raw, headers=headers)
                status, error = resp.status_code, None
                if 200 <= status < 300:
                    self._log(key, attempt, status, started, None)
                    self.stats.bytes += len(raw)
                    return True
            except self._httpx.HTTPError as exc:
                status, error = None, redact(f"{type(exc).__name__}: {exc}")
            if not backoff.sleep():
                break
            self.stats.extra["retries"] += 1
        self.stats.extra["failed"] += 1
        self._log(key, attempt, status, started, error)
        what = f"HTTP {status}" if status is not None else error
        if c.on_failure == "fail":
            raise SinkUnavailable(
                self.name,
                f"{mask_url(c.url)}: gave up on {key} after {attempt} attempts ({what})",
            )
        return False

    def _log(
        self, key: str, attempts: int, status: int | None, started: float, error: str | None
    ) -> None:
        entry = {
            "id": key,
            "attempts": attempts,
            "status": status,
            "ok": status is not None and 200 <= status < 300,
            "first_attempt_at": round(started, 3),
            "finished_at": round(time.time(), 3),
        }
        if error:
            entry["error"] = error
        assert self.log is not None, "open() first"
        self.log.write(json.dumps(entry) + "\n")

    def flush(self) -> None:
        if self.log is not None:
            self.log.flush()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.log is not None:
            self.log.close()
