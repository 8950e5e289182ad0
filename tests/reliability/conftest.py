"""Fixtures of the reliability suite: log capture (with the unclosed-session check), a private
password-protected redis-server."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests._redis import RedisServer, redis_binary
from tests._support import LogCapture
from tests.reliability._rel_support import REDIS_PASSWORD


@pytest.fixture(autouse=True)
def logs() -> Iterator[LogCapture]:
    """Every log record of the test, at DEBUG, from every logger; afterwards nothing may have
    reported an unclosed aiohttp session or connector (garbage is collected first, so the
    ``__del__`` reports run inside the test)."""
    capture = LogCapture().install()
    try:
        yield capture
        gc.collect()
        unclosed = [line for line in capture.lines if "Unclosed" in line]
        assert not unclosed, unclosed[:5]
    finally:
        capture.uninstall()


@pytest.fixture(scope="session")
def redis_process() -> Iterator[RedisServer]:
    """A private redis-server for the session; skipped without the binary, except under
    ``CI=true`` where that is a failure."""
    server = RedisServer(redis_binary(), password=REDIS_PASSWORD)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis(redis_process: RedisServer) -> Iterator[RedisServer]:
    """The private server, running; a test may stop and restart it (same port)."""
    redis_process.start()
    yield redis_process
    redis_process.start()
