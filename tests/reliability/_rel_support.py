"""Helpers of the reliability suite: leak checks, the error contract, real server processes,
/proc measurements and a bounded load generator.

Imported as ``from tests.reliability._rel_support import ...``; log capture and the private
Redis are the suite-wide ``tests._support.LogCapture`` and ``tests._redis.RedisServer``.
The fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests._support import free_port

HERE = Path(__file__).resolve().parent
ROUTE = "/api/orga-client-secrets"

# The README's error table, less 500 internal_error (a raising authorize hook): no request in
# this suite may ever see a 500.
ERROR_TABLE: dict[str, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "https_required": 403,
    "cross_origin_forbidden": 403,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "rate_limited": 429,
    "too_many_in_flight": 429,
    "rate_limiter_unavailable": 503,
    "busy": 503,
    "upstream_auth_failed": 502,
    "upstream_rate_limited": 503,
    "upstream_timeout": 504,
    "upstream_unavailable": 502,
    "upstream_invalid_response": 502,
}
UPSTREAM_CODES = frozenset(code for code in ERROR_TABLE if code.startswith("upstream_"))


# --------------------------------------------------------------------------- logs and leaks


def assert_no_secret(where: str, texts: Iterable[str], secrets: Iterable[str]) -> None:
    """None of ``secrets`` (ignoring ones too short to mean anything) appears in ``texts``.

    The failure message names the place and shows the surroundings with the secret masked,
    so a failing leak check does not leak in turn.
    """
    wanted = [s for s in set(secrets) if s and len(s) >= 6]
    for text in texts:
        for secret in wanted:
            at = text.find(secret)
            if at >= 0:
                context = text[max(0, at - 80) : at + len(secret) + 80].replace(secret, "<SECRET>")
                pytest.fail(f"a secret ({len(secret)} chars) leaked into {where}: ...{context}...")


def response_texts(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> list[str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [f"{name}: {value}" for name, value in items]


def assert_mapped_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    expected_status: int | None = None,
    expected_code: str | None = None,
) -> dict[str, Any]:
    """A documented JSON error: ``{"error", "message", "requestId"}``, id = ``X-Request-ID``."""
    try:
        data = json.loads(body)
    except ValueError:
        pytest.fail(f"HTTP {status}: the body is not JSON: {body[:200]!r}")
    assert isinstance(data, dict), data
    assert set(data) == {"error", "message", "requestId"}, data
    code = data["error"]
    assert code in ERROR_TABLE, f"undocumented error code {code!r}"
    assert ERROR_TABLE[code] == status, f"{code} came with HTTP {status}"
    if expected_code is not None:
        assert code == expected_code, f"expected {expected_code}, got {code} ({status})"
    if expected_status is not None:
        assert status == expected_status, f"expected {expected_status}, got {status} ({code})"
    assert data["requestId"], data
    assert data["requestId"] == headers.get("x-request-id"), (data, dict(headers))
    assert "Traceback" not in data["message"]
    assert headers.get("content-type", "").startswith("application/json")
    return data


# --------------------------------------------------------------------------- redis-server

# The reliability suite's private Redis (tests/_redis.py) requires a password: the leak
# checks then prove it never reaches a log line or an error body.
REDIS_PASSWORD = "rel-redis-pw-6a9c1f0e"


# --------------------------------------------------------------------------- /proc


def fd_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _socket_inodes(pid: int | str) -> set[str]:
    inodes = set()
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


@dataclass(frozen=True)
class TcpSocket:
    local_port: int
    remote_port: int
    state: str  # hex, "01" is ESTABLISHED, "0A" LISTEN


def tcp_sockets(pid: int | str = "self") -> list[TcpSocket]:
    """The TCP sockets (v4 and v6) that process ``pid`` holds open."""
    inodes = _socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as rows:
                next(rows)
                for row in rows:
                    parts = row.split()
                    if parts[9] in inodes:
                        local, remote = parts[1], parts[2]
                        found.append(
                            TcpSocket(
                                int(local.rsplit(":", 1)[1], 16),
                                int(remote.rsplit(":", 1)[1], 16),
                                parts[3],
                            )
                        )
        except FileNotFoundError:
            continue
    return found


def connections_to(port: int, pid: int | str = "self") -> list[TcpSocket]:
    """ESTABLISHED connections of ``pid`` to a loopback server listening on ``port``."""
    return [s for s in tcp_sockets(pid) if s.remote_port == port and s.state == "01"]


def connections_from_clients(port: int, pid: int | str = "self") -> list[TcpSocket]:
    """Sockets ``pid`` accepted on its listening ``port`` (any state but LISTEN)."""
    return [s for s in tcp_sockets(pid) if s.local_port == port and s.state != "0A"]


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


# --------------------------------------------------------------------------- TCP chaos proxy


class ChaosProxy:
    """A loopback TCP relay in front of a server, for faults no HTTP server makes on purpose.

    ``fault(kind, times)`` applies to the next ``times`` requests (``None``: until
    ``clear()``); one client read is taken as one request, which holds for the small
    header-only requests of the exchange:

    * ``"close"``: close the client connection without answering (FIN);
    * ``"reset"``: abort it with a TCP RST (``SO_LINGER`` 0);
    * ``"blackhole"``: swallow the request and never answer.

    Runs its own event loop in a daemon thread; ``accepted`` counts client connections.
    """

    def __init__(self, target_port: int) -> None:
        import asyncio
        import collections
        import threading

        self.target_port = target_port
        self.accepted = 0
        self._faults: collections.deque[list[Any]] = collections.deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._tasks: set[Any] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fault(self, kind: str, times: int | None = 1) -> None:
        assert kind in ("close", "reset", "blackhole")
        with self._lock:
            self._faults.append([kind, times])

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _next_fault(self) -> str | None:
        with self._lock:
            if not self._faults:
                return None
            entry = self._faults[0]
            if entry[1] is not None:
                entry[1] -= 1
                if entry[1] == 0:
                    self._faults.popleft()
            return str(entry[0])

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> ChaosProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the chaos proxy did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        import asyncio

        async def stop() -> None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: Any, writer: Any) -> None:
        import asyncio
        import struct

        task = asyncio.current_task()
        self._tasks.add(task)
        self.accepted += 1
        up_writer = None
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

            async def downstream() -> None:
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                writer.close()

            relay = asyncio.create_task(downstream())
            try:
                while data := await reader.read(65536):
                    kind = self._next_fault()
                    if kind == "blackhole":
                        continue
                    if kind == "close":
                        return
                    if kind == "reset":
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        writer.transport.abort()
                        return
                    up_writer.write(data)
                    await up_writer.drain()
            finally:
                relay.cancel()
                with contextlib.suppress(BaseException):
                    await relay
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
            self._tasks.discard(task)


# --------------------------------------------------------------------------- server processes


class ServerProcess:
    """``python -m uvicorn module:app`` on a loopback port, with stderr kept in a file."""

    def __init__(
        self,
        app: str,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        extra_args: Iterable[str] = (),
        python_flags: Iterable[str] = (),
        log_level: str = "warning",
        dev_mode: bool | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="orga-rel-server-", suffix=".log", delete=False
        )
        args = [sys.executable, *python_flags, "-m", "uvicorn", app, "--app-dir", str(HERE)]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "on"]
        args += ["--loop", "uvloop", "--http", "httptools", "--log-level", log_level]
        args += ["--no-access-log", *extra_args]
        child_env = dict(os.environ)
        child_env.pop("PYTHONWARNINGS", None)
        if dev_mode is not None:  # else inherited (nox runs the suite with PYTHONDEVMODE=1)
            child_env.pop("PYTHONDEVMODE", None)
            if dev_mode:
                child_env["PYTHONDEVMODE"] = "1"
        child_env.update(env or {})
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=child_env,
            cwd=str(HERE),
        )
        self.pid = self.process.pid

    def wait_ready(self, timeout: float = 30.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.stderr()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server not listening after {timeout}s") from None
                time.sleep(0.05)

    def stderr(self) -> str:
        self._stderr.flush()
        return Path(self._stderr.name).read_text(errors="replace")

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL after ``timeout``: -9)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            return -9

    def stop(self) -> None:
        if self.process.poll() is None:
            self.terminate(10)
        self._stderr.close()

    def cleanup(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self._stderr.name)


@contextlib.contextmanager
def server_process(app: str, **kwargs: Any) -> Iterator[ServerProcess]:
    server = ServerProcess(app, **kwargs)
    try:
        yield server.wait_ready()
    finally:
        server.cleanup()


# --------------------------------------------------------------------------- load generator


@dataclass
class LoadResult:
    """What one load round saw."""

    requests: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)  # "200" or "502 upstream_..."
    problems: list[str] = field(default_factory=list)  # anything not a documented answer

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        return self.requests - self.outcomes["200"]


async def run_load(
    url: str,
    *,
    total: int,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
    time_budget: float = 300.0,
) -> LoadResult:
    """``total`` GETs of ``url`` from ``concurrency`` workers over one aiohttp connector.

    Bounded in count and in time: workers stop at ``total`` or when ``time_budget`` runs out
    (the round then fails with what it saw).
    """
    import asyncio

    import aiohttp

    result = LoadResult()
    issued = 0
    deadline = time.monotonic() + time_budget
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal issued
        while issued < total and time.monotonic() < deadline:
            issued += 1
            try:
                async with session.get(url, headers=headers) as resp:
                    body = await resp.read()
                    status = resp.status
                    resp_headers = {k.lower(): v for k, v in resp.headers.items()}
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                result.requests += 1
                result.outcomes[f"client:{type(exc).__name__}"] += 1
                result.problems.append(f"transport error {exc!r}")
                continue
            result.requests += 1
            if status == 200:
                try:
                    data = json.loads(body)
                    ok = bool(data["ephemeralToken"]) and isinstance(data["iceServers"], list)
                except (ValueError, KeyError, TypeError):
                    ok = False
                result.outcomes["200" if ok else "200 malformed"] += 1
                if not ok:
                    result.problems.append(f"bad 200 body {body[:120]!r}")
                continue
            try:
                data = assert_mapped_error(status, resp_headers, body)
            except (AssertionError, pytest.fail.Exception) as exc:
                result.outcomes[f"{status} unmapped"] += 1
                result.problems.append(f"HTTP {status}: {exc} {body[:120]!r}")
                continue
            result.outcomes[f"{status} {data['error']}"] += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
