"""`headwater receive`: a small webhook receiver that verifies signatures and writes what
it got, for tests and demos.

Every POST (any path) must carry a valid `Headwater-Signature` for its body, signed with the
shared secret less than `tolerance` seconds ago; otherwise it answers 400 saying why (no
or a malformed header, an invalid signature, a timestamp too old or in the future) and
records nothing. A verified delivery is appended to a JSON Lines file as
`{received_at, idempotency_key, attempt, duplicate, event}`, where `duplicate` says whether
the same idempotency key came before. To rehearse a pipeline's failure handling it can
misbehave: answer 503 to the first N deliveries or for the first seconds (`fail_first`,
`fail_for`), or at random (`fail_rate`); with `ack_lost` it keeps the delivery and *then*
fails, as when an answer is lost, so the sender retries and a duplicate arrives.

```python
from headwater.serve.receive import Receiver

with Receiver(b"secret", fail_first=3) as r:
    ...                                # point a webhook sink at r.url
    r.keys()                           # the distinct idempotency keys received
```
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Any

from headwater.sinks.webhook import SIGNATURE_HEADER, refusal


class Receiver:
    """The receiver's state and ASGI app; `start()` serves it on a background thread."""

    def __init__(
        self,
        secret: bytes,
        *,
        out: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        header: str = SIGNATURE_HEADER,
        tolerance: float = 300,
        fail_first: int = 0,
        fail_for: float = 0,
        fail_rate: float = 0,
        ack_lost: bool = False,
        seed: int = 0,
    ):
        self.secret = secret
        self.out = Path(out) if out is not None else None
        self.host, self.port = host, port
        self.header = header.lower().encode()
        self.tolerance = tolerance
        self.fail_first, self.fail_for, self.fail_rate = fail_first, fail_for, fail_rate
        self.ack_lost = ack_lost
        self.rng = random.Random(seed)
        self.deliveries: list[dict[str, Any]] = []
        self.rejected = 0
        self.requests = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._file: Any = None
        self._server: Any = None
        self.started_at = time.monotonic()

    # -- what it got ---------------------------------------------------------------------------
    def keys(self) -> set[str]:
        with self._lock:
            return set(self._seen)

    def events(self) -> list[dict[str, Any]]:
        """Distinct events (first delivery of each key), unpacking batches."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        with self._lock:
            for d in self.deliveries:
                if d["idempotency_key"] in seen:
                    continue
                seen.add(d["idempotency_key"])
                body = d["event"]
                out += body["events"] if isinstance(body, dict) and "events" in body else [body]
        return out

    # -- ASGI ----------------------------------------------------------------------------------
    def _failing(self) -> bool:
        if self.requests <= self.fail_first:
            return True
        if self.fail_for and time.monotonic() - self.started_at < self.fail_for:
            return True
        return bool(self.fail_rate) and self.rng.random() < self.fail_rate

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "POST only"})
            return
        headers = dict(scope["headers"])
        signature = headers.get(self.header, b"").decode("latin-1")
        why = refusal(self.secret, body, signature, self.tolerance)
        if why is not None:
            with self._lock:
                self.rejected += 1
            await _answer(send, 400, {"error": why})
            return
        with self._lock:
            self.requests += 1
            failing = self._failing()
            if not failing or self.ack_lost:
                self._record(headers, body)
        if failing:
            await _answer(send, 503, {"error": "unavailable (injected)"})
            return
        await _answer(send, 200, {"ok": True})

    def _record(self, headers: dict[bytes, bytes], body: bytes) -> None:
        key = headers.get(b"idempotency-key", b"").decode("latin-1")
        try:
            event = json.loads(body)
        except ValueError:
            event = body.decode("utf-8", "replace")
        entry = {
            "received_at": round(time.time(), 6),
            "idempotency_key": key,
            "attempt": int(headers.get(b"headwater-attempt", b"1") or 1),
            "duplicate": key in self._seen,
            "event": event,
        }
        self._seen.add(key)
        self.deliveries.append(entry)
        if self._file is not None:
            self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._file.flush()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Receiver:
        from headwater.serve._http import ThreadedServer

        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.out.open("a", encoding="utf-8")
        self._server = ThreadedServer(self, self.host, self.port, what="receiver")
        self.port = self._server.port
        self.started_at = time.monotonic()
        self._server.start()
        return self

    @property
    def url(self) -> str:
        return f"{self._server.url}/hooks"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})
