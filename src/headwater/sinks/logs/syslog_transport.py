"""Deliver formatted syslog lines to a receiver (rsyslog, syslog-ng, Vector, Fluent Bit).

UDP sends one datagram per message (RFC 5426), the way most devices log. TCP frames
messages as RFC 6587 describes: octet counting by default (`27 <14>1 2026-...`), which
carries any byte including newlines, or non-transparent newline framing, which older
receivers expect and which cannot carry a message containing a newline.

A batch is framed with pyarrow in one pass and handed to `sendall` as one buffer; UDP
needs one `send` per datagram, so that loop only slices a buffer. Any host may be
configured; the tests use 127.0.0.1.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from types import TracebackType
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.errors import SinkError, SinkUnavailable

Protocol = Literal["udp", "tcp"]
Framing = Literal["octet-counting", "newline"]

MAX_UDP_PAYLOAD = 65_507
"""Largest UDP payload over IPv4; longer messages are cut (at a UTF-8 boundary)."""


class SyslogSender:
    """Send syslog lines to `host:port` over UDP or TCP; connects on `open()` or first send."""

    def __init__(
        self,
        host: str,
        port: int,
        protocol: Protocol = "udp",
        framing: Framing = "octet-counting",
        *,
        sink: str = "logs",
        timeout: float = 5.0,
        max_datagram: int = MAX_UDP_PAYLOAD,
    ):
        if protocol not in ("udp", "tcp"):
            raise ValueError(f"protocol must be 'udp' or 'tcp', got {protocol!r}")
        if framing not in ("octet-counting", "newline"):
            raise ValueError(f"framing must be 'octet-counting' or 'newline', got {framing!r}")
        if not host:
            raise ValueError("host must not be empty")
        if not 0 < port < 65_536:
            raise ValueError(f"port must be within 1..65535, got {port}")
        if not 0 < max_datagram <= MAX_UDP_PAYLOAD:
            raise ValueError(
                f"max_datagram must be within 1..{MAX_UDP_PAYLOAD}, got {max_datagram}"
            )
        self.host = host
        self.port = port
        self.protocol = protocol
        self.framing = framing
        self.sink = sink
        self.timeout = timeout
        self.max_datagram = max_datagram
        self._sock: socket.socket | None = None
        self.sent = 0
        self.truncated = 0

    @property
    def address(self) -> str:
        """`host:port` as messages name it (`[::1]:514` for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def open(self) -> None:
        """Resolve and connect; a receiver that is down or unknown raises SinkUnavailable."""
        if self._sock is not None:
            return
        kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
        try:
            family, _, proto, _, addr = socket.getaddrinfo(self.host, self.port, type=kind)[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise self._unavailable("cannot resolve", exc) from exc
        try:
            sock.settimeout(self.timeout)
            sock.connect(addr)  # for UDP this only fixes the destination
        except OSError as exc:
            sock.close()
            raise self._unavailable("cannot connect to", exc) from exc
        self._sock = sock

    def send(self, lines: pa.Array | pa.ChunkedArray | Sequence[str]) -> int:
        """Send each line as one syslog message; returns how many were sent."""
        arr = _strings(lines)
        if len(arr) == 0:
            return 0
        if arr.null_count:
            raise SinkError(self.sink, "cannot send a null syslog message")
        self.open()
        try:
            if self.protocol == "udp":
                self._send_datagrams(arr)
            else:
                self._send_stream(arr)
        except OSError as exc:
            self.close()
            raise self._unavailable("cannot send to", exc) from exc
        self.sent += len(arr)
        return len(arr)

    def close(self) -> None:
        """Close the socket; a later send reconnects."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> SyslogSender:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _send_datagrams(self, arr: pa.Array) -> None:
        assert self._sock is not None
        data, offsets = _buffers(arr)
        ends = offsets[1:]
        starts = offsets[:-1]
        too_long = np.flatnonzero(ends - starts > self.max_datagram)
        if len(too_long):
            ends = ends.copy()
            for i in too_long:
                ends[i] = _utf8_cut(data, int(starts[i]), int(starts[i]) + self.max_datagram)
            self.truncated += len(too_long)
        send = self._sock.send
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            send(data[start:end])

    def _send_stream(self, arr: pa.Array) -> None:
        assert self._sock is not None
        if self.framing == "newline":
            body = arr.cast(pa.large_string())
            if _contains(body, b"\n"):
                raise SinkError(
                    self.sink,
                    "a syslog message contains a newline, which newline framing cannot carry: "
                    "use framing 'octet-counting', or let the formatter escape control characters",
                )
            framed = pc.binary_join_element_wise(body, _large("\n"), _large(""))
        else:
            length = pc.cast(pc.cast(pc.binary_length(arr), pa.string()), pa.large_string())
            framed = pc.binary_join_element_wise(
                length, _large(" "), arr.cast(pa.large_string()), _large("")
            )
        data, offsets = _buffers(framed)
        self._sock.sendall(data[offsets[0] : offsets[-1]])

    def _unavailable(self, what: str, exc: OSError) -> SinkUnavailable:
        reason = exc.strerror or str(exc) or type(exc).__name__
        return SinkUnavailable(
            self.sink,
            f"{what} syslog receiver at {self.address} over {self.protocol.upper()}: {reason}",
        )


def _strings(lines: pa.Array | pa.ChunkedArray | Sequence[str]) -> pa.Array:
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    elif not isinstance(lines, pa.Array):
        lines = pa.array(lines, pa.string())
    if pa.types.is_dictionary(lines.type):
        lines = lines.dictionary.take(lines.indices)
    if not (pa.types.is_string(lines.type) or pa.types.is_large_string(lines.type)):
        raise TypeError(f"syslog lines must be strings, got {lines.type}")
    return lines


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _buffers(arr: pa.Array) -> tuple[memoryview, np.ndarray]:
    """The raw bytes of a string array and its n+1 offsets into them."""
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], width)[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    return memoryview(data if data is not None else b""), offsets.astype(np.int64)


def _contains(arr: pa.Array, needle: bytes) -> bool:
    data, offsets = _buffers(arr)
    return re.search(re.escape(needle), data[offsets[0] : offsets[-1]]) is not None


def _utf8_cut(data: memoryview, start: int, limit: int) -> int:
    """The largest end <= `limit` that does not split a UTF-8 character."""
    end = limit
    while end > start and (data[end] & 0xC0) == 0x80:
        end -= 1
    return end
