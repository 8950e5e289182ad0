"""A real Redis for the tests: the one ``REDIS_URL`` names, or a private ``redis-server``.

The private server (``tests/_redis.py``) runs for the whole session; tests can stop and
restart it on the same port (so URLs stay valid) to exercise the storage-error policies.
Without Redis the tests skip with what to install; with ``CI=true`` that skip is a failure,
so CI cannot go green without having run them.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests._redis import RedisServer, redis_binary


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield RedisServer(url=url)
        return
    server = RedisServer(redis_binary())
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
    binary = redis_binary()
    servers: list[RedisServer] = []

    def spawn(*args: str, config: str = "") -> RedisServer:
        server = RedisServer(binary, args=args, config=config)
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
