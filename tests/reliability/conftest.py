"""Fixtures of the reliability suite: log capture with leak checks, a private redis-server."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from _rel_support import LogCapture, RedisProcess, redis_binary, unavailable


@pytest.fixture(autouse=True)
def logs() -> Iterator[LogCapture]:
    """Every log record of the test, at DEBUG; afterwards nothing may report an unclosed
    aiohttp session or connector (garbage is collected first so ``__del__`` reports run)."""
    capture = LogCapture().install()
    try:
        yield capture
        gc.collect()
        unclosed = [line for line in capture.lines if "Unclosed" in line]
        assert not unclosed, unclosed[:5]
    finally:
        capture.uninstall()


@pytest.fixture(scope="session")
def redis_process() -> Iterator[RedisProcess]:
    binary = redis_binary()
    if binary is None:
        unavailable("no redis-server binary on PATH")
    assert binary is not None
    server = RedisProcess(binary)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis(redis_process: RedisProcess) -> Iterator[RedisProcess]:
    """The private server, running; tests may stop and restart it, and leave it running."""
    redis_process.start()
    yield redis_process
    redis_process.start()
