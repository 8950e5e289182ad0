"""The suite's one way to run a real Redis: a private ``redis-server`` on a loopback port.

No persistence, a temporary directory of its own, optionally a password; ``stop()`` and
``start()`` keep the port, so URLs stay valid across an outage the test causes. The Redis
tests (``tests/redis``) and the reliability suite (``tests/reliability``) build their
fixtures on it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests._support import free_port, require

__all__ = ["INSTALL_HINT", "RedisServer", "redis_binary"]

INSTALL_HINT = "install redis-server (Debian: apt-get install redis-server)"


def redis_binary() -> str:
    """The ``redis-server`` executable; a missing one skips the test (fails under CI)."""
    return require("redis-server", INSTALL_HINT)


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


class RedisServer:
    """A Redis for a test: a private ``redis-server`` (``binary``), or the external one at
    ``url`` (``private`` is then false and it cannot be stopped).

    Args:
        binary: The ``redis-server`` executable (see :func:`redis_binary`).
        url: The external server's URL, when ``binary`` is ``None``.
        password: ``--requirepass`` for the private server; the URL carries it.
        args: Extra server options before the port options (``--sentinel``,
            ``--cluster-enabled yes``).
        config: Written to a file passed first (a sentinel needs one it can rewrite).
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        url: str = "",
        password: str | None = None,
        args: tuple[str, ...] = (),
        config: str = "",
    ) -> None:
        self.private = binary is not None
        self.password = password
        self._binary = binary
        self._external_url = url
        self._port = 0
        self._dir = ""
        self._args = args
        self._process: subprocess.Popen[bytes] | None = None
        if binary is None:
            return
        self._port = _cluster_port() if "--cluster-enabled" in args else free_port()
        self._dir = tempfile.mkdtemp(prefix="orga-redis-")
        if config:
            path = Path(self._dir, "server.conf")
            path.write_text(config)
            self._args = (str(path), *args)

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        if not self.private:
            return self._external_url
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self._port}/0"

    def ping(self) -> bool:
        """Whether the private server answers ``PING`` (after ``AUTH`` if it has a password)."""
        request = b"PING\r\n"
        if self.password:
            request = f"AUTH {self.password}\r\n".encode() + request
        try:
            with socket.create_connection(("127.0.0.1", self._port), timeout=0.5) as sock:
                sock.sendall(request)
                data = b""
                deadline = time.monotonic() + 1
                while b"+PONG" not in data and time.monotonic() < deadline:
                    chunk = sock.recv(64)
                    if not chunk:
                        break
                    data += chunk
                return b"+PONG" in data
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> None:
        """Start the private server (a no-op while it runs); wait until it answers."""
        if self._binary is None:
            raise RuntimeError("only a private server can be started")
        if self.running:
            return
        options = ["--port", str(self._port), "--bind", "127.0.0.1", "--save", ""]
        options += ["--appendonly", "no", "--dir", self._dir]
        if self.password:
            options += ["--requirepass", self.password]
        self._process = subprocess.Popen(
            [self._binary, *self._args, *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.ping():
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
        if self._process is None:
            raise RuntimeError("the server is not running")
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is None:
            raise RuntimeError("the server is not running")
        self._process.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def cleanup(self) -> None:
        self.stop()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
