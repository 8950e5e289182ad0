"""Shutdown: SIGTERM with requests in flight, and lifespan shutdown closing every upstream
connection (the process's descriptors fall back to where they were before the first request).
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from starlette.applications import Starlette

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY
from tests._redis import RedisServer
from tests._support import LogCapture, caller
from tests.reliability._rel_support import (
    ROUTE,
    ServerProcess,
    assert_mapped_error,
    connections_to,
    fd_count,
    server_process,
)

pytestmark = pytest.mark.servers

# The endpoint process prints ResourceWarnings (unclosed sockets, sessions) to stderr.
PYTHON_FLAGS = ("-W", "default::ResourceWarning")
BAD_STDERR = ("Traceback", "Unclosed", "ResourceWarning", "Task was destroyed", "never awaited")


@pytest.fixture(scope="module")
def fake() -> Iterator[ServerProcess]:
    args = ["--timeout-keep-alive", "60", "--timeout-graceful-shutdown", "1"]
    with server_process("_fake_app:app", extra_args=args, dev_mode=False) as server:
        yield server


def control(fake: ServerProcess, *, fail_every: int = 0, delay: float = 0.0) -> None:
    url = f"{fake.url}/_control?fail_every={fail_every}&delay={delay}"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5):
        pass


async def fire(url: str, count: int) -> list[tuple[str, Any]]:
    """``count`` concurrent GETs; each ends as ("ok", status, headers, body) or ("gone", exc)."""
    results: list[tuple[str, Any]] = []

    async def one(session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(url, headers={"x-forwarded-proto": "https"}) as response:
                body = await response.read()
                headers = {k.lower(): v for k, v in response.headers.items()}
                results.append(("ok", (response.status, headers, body)))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            results.append(("gone", repr(exc)))

    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        await asyncio.gather(*(one(session) for _ in range(count)))
    return results


def endpoint_process(fake: ServerProcess, *extra_args: str) -> ServerProcess:
    return ServerProcess(
        "_load_app:app",
        env={"ORGA_REL_UPSTREAM": fake.url},
        python_flags=PYTHON_FLAGS,
        log_level="info",  # to see uvicorn's shutdown steps
        extra_args=extra_args,
    ).wait_ready()


def check_clean_exit(
    stderr: str, code: int, seconds: float, bound: float, *, cancelled: int = 0
) -> None:
    """A graceful exit: lifespan shutdown completed, the server finished, nothing in stderr.

    uvicorn (>= 0.29) re-raises the signal it caught once it has shut down gracefully, so the
    exit status after SIGTERM is -SIGTERM rather than 0; its log tells the two apart from a
    process killed outright.
    """
    assert code in (0, -signal.SIGTERM), f"exit code {code}\n{stderr[-3000:]}"
    assert seconds < bound, f"took {seconds:.1f}s to exit"
    assert "Application shutdown complete." in stderr, stderr[-3000:]
    assert "Finished server process" in stderr, stderr[-3000:]
    # uvicorn logs each request task it had to cancel (graceful-shutdown timeout) with the
    # CancelledError's traceback; any other traceback (or report) is a failure.
    reports = 0
    for record in re.split(r"\n(?=(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)[: ])", stderr):
        if not any(marker in record for marker in BAD_STDERR):
            continue
        cancellation = record.startswith("ERROR:    Exception in ASGI application") and (
            record.rstrip().endswith(
                "CancelledError: Task cancelled, timeout graceful shutdown exceeded"
            )
        )
        assert cancellation and "Unclosed" not in record, record[-3000:]
        reports += 1
    assert reports == cancelled, stderr[-3000:]


def upstream_calls(fake: ServerProcess) -> int:
    with urllib.request.urlopen(f"{fake.url}/_stats", timeout=5) as response:
        return int(json.loads(response.read())["calls"])


async def sigterm_mid_flight(
    server: ServerProcess, fake: ServerProcess, count: int
) -> tuple[Any, ...]:
    requests = asyncio.create_task(fire(server.url + ROUTE, count))
    # SIGTERM once every request is in flight: its upstream mint is sleeping in the fake.
    deadline = time.monotonic() + 15
    while await asyncio.to_thread(upstream_calls, fake) < count:
        assert time.monotonic() < deadline, "the requests never reached the upstream"
        await asyncio.sleep(0.05)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    results = await requests
    code = await asyncio.to_thread(server.process.wait, 20)
    return results, code, time.monotonic() - started


def test_sigterm_lets_in_flight_requests_finish(fake: ServerProcess) -> None:
    """Requests in flight when SIGTERM arrives all get their 200; the process then shuts
    down gracefully: lifespan shutdown closes the pool (no ResourceWarning, no "Unclosed"
    report, no traceback in its stderr) and it exits at once."""
    control(fake)
    server = endpoint_process(fake)
    try:
        warm = asyncio.run(fire(server.url + ROUTE, 32))
        assert [entry[1][0] for entry in warm] == [200] * 32
        assert connections_to(fake.port, server.pid), "pooled upstream connections expected"
        control(fake, delay=0.6)  # every mint now takes 0.6 s upstream
        results, code, seconds = asyncio.run(sigterm_mid_flight(server, fake, 24))
        print(f"\nSIGTERM with 24 in flight: exit {code} after {seconds:.2f}s")
        check_clean_exit(server.stderr(), code, seconds, 10)
    finally:
        server.cleanup()
        control(fake)
    assert len(results) == 24
    statuses = [entry[1][0] for entry in results if entry[0] == "ok"]
    assert statuses == [200] * 24, results[:3]


@pytest.fixture(scope="module")
def hung_shutdown(fake: ServerProcess) -> tuple[list[tuple[str, Any]], int, float, str]:
    """SIGTERM while 8 requests wait on an upstream that hangs (8 s) longer than uvicorn's
    graceful-shutdown timeout (1 s): uvicorn cancels them."""
    control(fake, delay=8)
    try:
        server = endpoint_process(fake, "--timeout-graceful-shutdown", "1")
        try:
            results, code, seconds = asyncio.run(sigterm_mid_flight(server, fake, 8))
            print(f"\nSIGTERM with 8 hung: exit {code} after {seconds:.2f}s")
            stderr = server.stderr()
        finally:
            server.cleanup()
    finally:
        control(fake)
    return results, code, seconds, stderr


def test_sigterm_with_a_hung_upstream_exits_cleanly(
    hung_shutdown: tuple[list[tuple[str, Any]], int, float, str],
) -> None:
    """The process exits at once after the graceful timeout, lifespan shutdown completes,
    the pool is closed (no "Unclosed"/ResourceWarning), no traceback but uvicorn's own
    report of each task it cancelled."""
    results, code, seconds, stderr = hung_shutdown
    assert len(results) == 8
    check_clean_exit(stderr, code, seconds, 6, cancelled=8)


def test_sigterm_with_a_hung_upstream_answers_json(
    hung_shutdown: tuple[list[tuple[str, Any]], int, float, str],
) -> None:
    results = hung_shutdown[0]
    for kind, detail in results:
        if kind == "ok":  # an answer, if any, is a documented JSON error
            status, headers, body = detail
            assert status != 500, body
            assert_mapped_error(status, headers, body)


# --------------------------------------------------------------------------- lifespan


async def lifespan_round(app: Any, fake_port: int, requests: int) -> dict[str, int]:
    """Startup, ``requests`` through the endpoint (16 at a time), shutdown; descriptor counts."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.startup.complete"
    gc.collect()
    counts = {"before": fd_count()}

    async with caller(app, timeout=30) as client:
        semaphore = asyncio.Semaphore(16)

        async def one() -> int:
            async with semaphore:
                return (await client.get(ROUTE)).status_code

        statuses = await asyncio.gather(*(one() for _ in range(requests)))
    assert statuses == [200] * requests
    counts["pooled"] = len(connections_to(fake_port))
    counts["during"] = fd_count()

    await inbox.put({"type": "lifespan.shutdown"})
    assert (await asyncio.wait_for(outbox.get(), 10))["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(task, 10)
    await asyncio.sleep(0)  # let closed transports drop their sockets
    gc.collect()
    counts["after"] = fd_count()
    counts["upstream_after"] = len(connections_to(fake_port))
    return counts


def _app(fake: ServerProcess, **options: Any) -> OrgaMiddleware:
    endpoint = OrgaClientSecrets(
        authorize=allow_anonymous,
        api_key=FAKE_API_KEY,
        base_url=fake.url,
        rate_limits=("100000/minute",),
        ip_rate_limits=("100000/minute",),
        max_in_flight_per_principal=None,
        **options,
    )
    return OrgaMiddleware(Starlette(), endpoint=endpoint)


def _check_counts(counts: dict[str, int]) -> None:
    print(f"\nlifespan: {counts}")
    assert counts["pooled"] > 0, "requests should have pooled upstream connections"
    assert counts["during"] > counts["before"]
    assert counts["upstream_after"] == 0, counts
    assert counts["after"] <= counts["before"], counts


def test_lifespan_shutdown_closes_every_upstream_connection(
    fake: ServerProcess, logs: LogCapture
) -> None:
    control(fake)
    counts = asyncio.run(lifespan_round(_app(fake), fake.port, 200))
    _check_counts(counts)


@pytest.mark.redis
def test_lifespan_shutdown_closes_the_redis_connections_too(
    fake: ServerProcess, redis: RedisServer, logs: LogCapture
) -> None:
    control(fake)
    app = _app(fake, storage_uri=redis.url)
    counts = asyncio.run(lifespan_round(app, fake.port, 100))
    _check_counts(counts)
    assert not connections_to(redis.port), "a Redis connection outlived the shutdown"
    assert "Shared rate limit store" not in logs.text()  # Redis answered throughout
