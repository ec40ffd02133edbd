"""What stands between a client and the data, as real APIs have it: readiness (503 with
Retry-After until the world's initial snapshot is served), authentication (API key
header, OAuth2 client-credentials bearer tokens that expire), a per-client rate limit
(token bucket, 429 with Retry-After and X-RateLimit-*), and the misbehaviour a scenario asks
for (outage windows in simulated time, random 5xx, hangs that end in 504, slow responses).

`Guard` is a plain ASGI middleware so REST and GraphQL share it and the hot path stays thin.
Injected failures draw from a seeded generator: the same sequence of requests sees the same
failures.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from headwater.core.micros import US, epoch_us
from headwater.core.random import stream
from headwater.serve.config import Auth, Faults, RateLimit
from headwater.serve.store import LiveStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a credential's id, and the entities it may read (None: all)."""

    id: str
    entities: frozenset[str] | None = None

    def may_read(self, entity: str) -> bool:
        return self.entities is None or entity in self.entities


ANONYMOUS = Principal("anonymous")


class Denied(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


class Authenticator:
    """Checks credentials; issues and expires bearer tokens (wall clock)."""

    def __init__(self, auth: Auth | None, clock: Callable[[], float] = time.monotonic):
        self.auth = auth
        self.clock = clock
        self.header = (auth.header if auth else "X-API-Key").lower().encode()
        self.keys: dict[str, Principal] = {}
        self.clients: dict[str, tuple[str, Principal]] = {}
        if auth:
            for i, k in enumerate(auth.api_keys):
                ents = frozenset(k.entities) if k.entities is not None else None
                self.keys[k.secret.get_secret_value()] = Principal(f"key-{i + 1}", ents)
            if auth.oauth2:
                for cid, c in auth.oauth2.clients.items():
                    ents = frozenset(c.entities) if c.entities is not None else None
                    self.clients[cid] = (
                        c.secret.get_secret_value(),
                        Principal(f"client-{cid}", ents),
                    )
        self.tokens: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.auth is not None

    @property
    def ttl(self) -> float:
        assert self.auth and self.auth.oauth2
        return self.auth.oauth2.token_ttl.total_seconds()

    def _challenge(
        self, error: str | None = None, description: str | None = None
    ) -> dict[str, str]:
        if self.clients:
            value = 'Bearer realm="headwater"'
            if error:
                value += f', error="{error}", error_description="{description}"'
            return {"WWW-Authenticate": value}
        return {
            "WWW-Authenticate": f'ApiKey realm="headwater", header="{self.auth.header if self.auth else ""}"'
        }

    def issue(self, client_id: str, secret: str) -> tuple[str, float]:
        """A new bearer token for valid client credentials; Denied(401 invalid_client) else."""
        known = self.clients.get(client_id)
        if known is None or not hmac.compare_digest(known[0].encode(), secret.encode()):
            raise Denied(401, "invalid_client", "unknown client or wrong secret")
        token = secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            self.tokens = {t: v for t, v in self.tokens.items() if v[0] > now}
            self.tokens[token] = (now + self.ttl, known[1])
        return token, self.ttl

    def identify(self, headers: list[tuple[bytes, bytes]]) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        bearer = key = None
        for name, value in headers:
            if name == b"authorization":
                scheme, _, cred = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    bearer = cred.strip()
            elif name == self.header:
                key = value.decode("latin-1")
        if key is not None and self.keys:
            p = self.keys.get(key)
            if p is None:
                raise Denied(401, "invalid_api_key", "the API key is not valid", self._challenge())
            return p
        if bearer is not None and self.clients:
            entry = self.tokens.get(bearer)
            if entry is None:
                raise Denied(
                    401,
                    "invalid_token",
                    "the access token is not valid",
                    self._challenge("invalid_token", "the access token is not valid"),
                )
            if entry[0] <= self.clock():
                raise Denied(
                    401,
                    "invalid_token",
                    "the access token expired",
                    self._challenge("invalid_token", "the access token expired"),
                )
            return entry[1]
        what = " or ".join(
            x
            for x, on in (
                (f"an API key in {self.auth.header}" if self.auth else "", self.keys),
                ("a bearer token", self.clients),
            )
            if on
        )
        raise Denied(
            401, "unauthenticated", f"authentication required: send {what}", self._challenge()
        )


class RateLimiter:
    """A token bucket per principal; refills continuously at `rate` per second. One limiter
    serves HTTP (event loop) and gRPC (worker threads): a client has one budget."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.rate, self.capacity = limit.rate, limit.capacity
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> tuple[bool, dict[str, str]]:
        with self._lock:
            now = self.clock()
            tokens, last = self.buckets.get(who, (float(self.capacity), now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            ok = tokens >= 1
            if ok:
                tokens -= 1
            self.buckets[who] = (tokens, now)
        full_in = (self.capacity - tokens) / self.rate
        headers = {
            "X-RateLimit-Limit": str(self.capacity),
            "X-RateLimit-Remaining": str(int(tokens)),
            "X-RateLimit-Reset": str(math.ceil(full_in)),
        }
        if not ok:
            headers["Retry-After"] = str(max(1, math.ceil((1 - tokens) / self.rate)))
        return ok, headers


class Admission:
    """The checks every data request passes, whatever the protocol: the world's initial
    snapshot is served (else 503 with Retry-After), the caller is authenticated, and within
    its rate limit. HTTP (`Guard`) and gRPC (`rpc.py`) share one, so bearer tokens and rate
    budgets are the same on both."""

    def __init__(self, store: LiveStore, auth: Authenticator, limiter: RateLimiter | None):
        self.store, self.auth, self.limiter = store, auth, limiter

    def admit(
        self, headers: list[tuple[bytes, bytes]], address: str, need_ready: bool = True
    ) -> tuple[Principal, dict[str, str]]:
        """(who, rate-limit headers) or Denied; `address` is the client's host, the rate
        limit's key when no credential names the client."""
        principal = self.auth.identify(headers)
        extra: dict[str, str] = {}
        if self.limiter is not None:
            who = principal.id if principal is not ANONYMOUS else f"address {address}"
            ok, extra = self.limiter.take(who)
            if not ok:
                raise Denied(429, "rate_limited", "too many requests", extra)
        if need_ready and not self.store.ready:
            raise Denied(
                503,
                "starting",
                "the world's initial snapshot is not served yet; retry shortly",
                {**extra, "Retry-After": "1"},
            )
        return principal, extra


class Misbehaviour:
    """Decides per request: outage, injected error, hang, or extra latency."""

    def __init__(self, faults: Faults, store: LiveStore, seed: int, factor: float):
        self.faults, self.store, self.factor = faults, store, factor
        self.rng = stream(seed, "serve", "faults")
        self.outages = [(epoch_us(o.at), epoch_us(o.at + o.for_), o.status) for o in faults.outages]
        self.enabled = bool(faults.errors or faults.timeouts or faults.latency or faults.outages)

    def outage(self) -> tuple[int, int] | None:
        """(status, Retry-After seconds) when the simulated clock is inside an outage window."""
        now = self.store.clock_us
        for start, end, status in self.outages:
            if start <= now < end:
                return status, max(1, math.ceil((end - now) / US / self.factor))
        return None

    def draw(self) -> tuple[str, float | int] | None:
        f = self.faults
        if f.errors and self.rng.random() < f.errors.rate:
            return "error", int(self.rng.choice(f.errors.status))
        if f.timeouts and self.rng.random() < f.timeouts.rate:
            return "timeout", f.timeouts.after.total_seconds()
        if f.latency:
            lo, hi = f.latency.min.total_seconds(), f.latency.max.total_seconds()
            return "latency", lo + (hi - lo) * float(self.rng.random())
        return None


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


async def respond(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware over the data paths: authenticate, rate limit, misbehave."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefixes: tuple[str, ...],
        admission: Admission,
        faults: Misbehaviour | None,
    ):
        self.app, self.prefixes = app, prefixes
        self.admission, self.faults = admission, faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        try:
            client = scope.get("client")
            principal, extra = self.admission.admit(scope["headers"], client[0] if client else "")
        except Denied as d:
            await respond(send, d.status, error_body(d.code, d.message), d.headers)
            return
        scope.setdefault("state", {})["principal"] = principal
        if self.faults is not None and self.faults.enabled:
            out = self.faults.outage()
            if out is not None:
                status, retry = out
                headers = {**extra, "Retry-After": str(retry)}
                await respond(
                    send, status, error_body("unavailable", "service unavailable (outage)"), headers
                )
                return
            act = self.faults.draw()
            if act is not None:
                kind, value = act
                if kind == "error":
                    await respond(
                        send, int(value), error_body("server_error", "injected server error"), extra
                    )
                    return
                await asyncio.sleep(float(value))
                if kind == "timeout":
                    await respond(send, 504, error_body("timeout", "upstream timed out"), extra)
                    return
        if not extra:
            await self.app(scope, receive, send)
            return
        raw_extra = [(k.lower().encode(), v.encode()) for k, v in extra.items()]

        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *raw_extra]}
            await send(message)

        await self.app(scope, receive, send_with)
