"""SyslogSender against real sockets on 127.0.0.1: every line arrives intact, framed as
RFC 6587 says, and a missing receiver is a SinkUnavailable that names host:port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from headwater.errors import SinkError, SinkUnavailable
from headwater.sinks.logs.syslog_transport import SyslogSender

LINES = [
    "<14>1 2026-01-01T00:00:00.000000Z web-01 shop 42 ORDER - order 7 placed",
    '<11>1 2026-01-01T00:00:01.000000Z web-01 shop - - [x@1 k="a\\"b"] payment failed',
    "<13>Jan  1 00:00:02 web-01 shop[42]: héllo wörld 😀",
    "<15>1 - - - - - - ",
]


class UdpReceiver:
    """Collects datagrams on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(70_000))
            except TimeoutError:
                continue

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class TcpReceiver:
    """Accepts one connection on 127.0.0.1 and keeps every byte it receives."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.data = bytearray()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            while chunk := conn.recv(1 << 16):
                self.data += chunk

    def received(self) -> bytes:
        """Everything, once the sender has closed the connection."""
        self._thread.join(timeout=10)
        self.server.close()
        return bytes(self.data)


@pytest.fixture
def udp() -> Iterator[UdpReceiver]:
    receiver = UdpReceiver()
    yield receiver
    receiver.stop()


def parse_octet_counted(data: bytes) -> list[bytes]:
    """RFC 6587 section 3.4.1: MSG-LEN SP SYSLOG-MSG, repeated."""
    messages, pos = [], 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        assert data[pos:space] == str(length).encode(), "MSG-LEN has no leading zeros"
        messages.append(data[space + 1 : space + 1 + length])
        pos = space + 1 + length
    return messages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_udp_delivers_each_line_as_one_datagram(udp: UdpReceiver) -> None:
    lines = [f"{LINES[i % len(LINES)]} #{i}\nsecond line" for i in range(600)]
    with SyslogSender("127.0.0.1", udp.port, "udp") as sender:
        for start in range(0, len(lines), 50):  # a batch at a time, so no datagram is dropped
            assert sender.send(pa.array(lines[start : start + 50])) == len(
                lines[start : start + 50]
            )
            udp.wait_for(start + 50)
    assert [m.decode() for m in udp.wait_for(len(lines))] == lines
    assert sender.sent == 600 and sender.truncated == 0


def test_udp_cuts_oversized_messages_at_a_character_boundary(udp: UdpReceiver) -> None:
    sender = SyslogSender("127.0.0.1", udp.port, max_datagram=10)
    sender.send(["ééééééé", "short"])  # 14 bytes: the cut falls inside the sixth é
    sender.close()
    assert udp.wait_for(2) == ["ééééé".encode(), b"short"]
    assert sender.truncated == 1


def test_tcp_octet_counting_carries_any_bytes() -> None:
    receiver = TcpReceiver()
    lines = [f"{LINES[i % len(LINES)]} #{i}\nwith a newline" for i in range(5000)]
    sender = SyslogSender("127.0.0.1", receiver.port, "tcp")
    sender.send(pa.chunked_array([lines[:1234], lines[1234:]]))
    sender.send(pa.array(LINES).dictionary_encode())
    sender.close()
    assert [m.decode() for m in parse_octet_counted(receiver.received())] == lines + LINES


def test_tcp_newline_framing() -> None:
    receiver = TcpReceiver()
    with SyslogSender("127.0.0.1", receiver.port, "tcp", framing="newline") as sender:
        sender.send(pa.array(LINES, pa.large_string()))
        with pytest.raises(SinkError, match="newline framing cannot carry"):
            sender.send(["two\nlines"])
    assert receiver.received().decode() == "".join(line + "\n" for line in LINES)


def test_unreachable_tcp_receiver_names_host_and_port() -> None:
    port = free_port()
    sender = SyslogSender("127.0.0.1", port, "tcp", sink="app_logs")
    with pytest.raises(
        SinkUnavailable, match=rf"sink 'app_logs': .*127\.0\.0\.1:{port} over TCP"
    ) as info:
        sender.send(LINES)
    assert info.value.sink == "app_logs"


def test_unknown_host_is_unavailable() -> None:
    sender = SyslogSender("no-such-host.invalid", 514, "tcp")
    with pytest.raises(SinkUnavailable, match=r"no-such-host\.invalid:514"):
        sender.open()


def test_receiver_that_goes_away_is_unavailable() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    sender = SyslogSender("127.0.0.1", port, "tcp")
    sender.open()
    conn, _ = server.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # linger 0: a reset, as a crashed receiver gives
    server.close()
    with pytest.raises(SinkUnavailable, match=rf"127\.0\.0\.1:{port}"):
        for _ in range(50):
            sender.send(["x" * 10_000] * 10)
            time.sleep(0.01)


def test_udp_to_a_closed_port_is_unavailable() -> None:
    sender = SyslogSender("127.0.0.1", free_port(), "udp")
    with pytest.raises(SinkUnavailable, match="over UDP"):
        for _ in range(50):  # the ICMP refusal is reported on a later send
            sender.send(LINES)
            time.sleep(0.01)


def test_ipv6_address_is_bracketed() -> None:
    assert SyslogSender("::1", 514).address == "[::1]:514"


def test_empty_batch_does_not_connect() -> None:
    sender = SyslogSender("127.0.0.1", free_port(), "tcp")
    assert sender.send(pa.array([], pa.string())) == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("127.0.0.1", 514, "sctp"), {}, "protocol must be 'udp' or 'tcp'"),
        (("127.0.0.1", 514, "tcp", "crlf"), {}, "framing must be"),
        (("127.0.0.1", 0), {}, "port must be within"),
        (("", 514), {}, "host must not be empty"),
        (("127.0.0.1", 514), {"max_datagram": 70_000}, "max_datagram must be within"),
    ],
)
def test_invalid_arguments(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SyslogSender(*args, **kwargs)  # type: ignore[arg-type]


def test_null_and_non_string_lines_are_rejected(udp: UdpReceiver) -> None:
    sender = SyslogSender("127.0.0.1", udp.port)
    with pytest.raises(SinkError, match="null syslog message"):
        sender.send(pa.array(["a", None]))
    with pytest.raises(TypeError, match="must be strings"):
        sender.send(pa.array([1, 2]))
    sender.close()
