"""A real Redis for the tests: the one ``REDIS_URL`` names, or a private ``redis-server``.

The private server runs on a free loopback port, without persistence, in a temporary
directory, for the whole session; tests can stop and restart it on the same port (so URLs stay
valid) to exercise the storage-error policies. Without Redis the tests skip with the reason;
with ``CI=true`` that skip is a failure, so CI cannot go green without having run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _support import free_port, unavailable


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """The Redis under test; ``stop``/``start`` only for a private one."""

    def __init__(
        self, url: str, binary: str | None = None, *, args: tuple[str, ...] = (), config: str = ""
    ) -> None:
        self.url = url
        self.private = binary is not None
        self._binary = binary
        cluster = "--cluster-enabled" in args
        self._port = (_cluster_port() if cluster else free_port()) if binary else 0
        self._dir = tempfile.mkdtemp(prefix="orga-redis-") if binary else ""
        self._args = args  # extra options: --sentinel, --cluster-enabled yes...
        if config:  # written to a file passed first (a sentinel needs one it can rewrite)
            path = Path(self._dir, "server.conf")
            path.write_text(config)
            self._args = (str(path), *args)
        self._process: subprocess.Popen[bytes] | None = None
        if binary:
            self.url = f"redis://127.0.0.1:{self._port}/0"

    @property
    def port(self) -> int:
        return self._port

    def start(self, timeout: float = 10.0) -> None:
        assert self._binary is not None, "only a private server can be started"
        options = ["--port", str(self._port), "--bind", "127.0.0.1", "--save", ""]
        options += ["--appendonly", "no", "--dir", self._dir]
        self._process = subprocess.Popen(
            [self._binary, *self._args, *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _ping(self._port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self._port}")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # a paused server cannot handle SIGTERM
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open, nothing answers, like a hung host."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def cleanup(self) -> None:
        self.stop()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield RedisServer(url)
        return
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("no Redis: set REDIS_URL or install redis-server")
    server = RedisServer("", binary)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if redis_server.private and not redis_server.running:
        redis_server.start()  # a previous test stopped it and failed before restarting
    return redis_server.url


@pytest.fixture
def private_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The private server, to stop and restart mid-test; always left running."""
    if not redis_server.private:
        pytest.skip("needs a private redis-server to stop and restart (REDIS_URL is set)")
    if not redis_server.running:
        redis_server.start()
    yield redis_server
    if not redis_server.running:
        redis_server.start()


@pytest.fixture
def spawn_redis() -> Iterator[Callable[..., RedisServer]]:
    """Start extra private ``redis-server`` processes (sentinels, cluster nodes) for a test.

    ``spawn(*args, config="")``: ``args`` go before the port options; ``config`` is written
    to a file passed first (a sentinel needs one it can rewrite). All are stopped after.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("needs the redis-server binary")
    servers: list[RedisServer] = []

    def spawn(*args: str, config: str = "") -> RedisServer:
        server = RedisServer("", binary, args=args, config=config)
        servers.append(server)
        server.start()
        return server

    try:
        yield spawn
    finally:
        for server in servers:
            server.cleanup()


@pytest.fixture
def key_prefix() -> str:
    """A prefix of its own per test: tests never see each other's keys."""
    return f"orga_test_{uuid.uuid4().hex[:10]}"


class Monitor:
    """Counts the commands clients send to Redis (``MONITOR``), excluding those of scripts."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._sock.sendall(b"MONITOR\r\n")
        self._buffer = b""
        assert self._readline() == b"+OK"
        self.lines: list[str] = []
        self._marker = f"orga-monitor-end-{uuid.uuid4().hex}"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _readline(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("monitor closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _run(self) -> None:
        try:
            while True:
                line = self._readline().decode("utf-8", "replace")
                if self._marker in line:
                    break
                self.lines.append(line)
        except OSError:
            pass
        finally:
            self._done.set()

    def stop(self) -> list[str]:
        """Every client command seen so far (not the ones Lua scripts ran)."""
        with socket.create_connection(("127.0.0.1", self._port), timeout=5) as sock:
            marker = self._marker.encode()
            sock.sendall(b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(marker), marker))
            sock.recv(1024)
        assert self._done.wait(10), "monitor did not see its end marker"
        self._sock.close()
        return [line for line in self.lines if "[0 lua]" not in line and " lua] " not in line]


@pytest.fixture
def redis_monitor(private_redis: RedisServer) -> Callable[[], Monitor]:
    """Starts a ``Monitor`` on the private server (a shared one has other clients too)."""
    return lambda: Monitor(private_redis.port)
