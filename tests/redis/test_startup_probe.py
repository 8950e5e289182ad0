"""The store check at startup: a ``storage_uri`` nothing answers on is noticed at once.

The mistyped store is a closed loopback port (nothing listens: connection refused at once);
its URI carries a password, which must never show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, allow_anonymous
from orga_asgi._errors import ConfigurationError
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client
from tests._support import LogCapture, caller, free_port

pytestmark = [pytest.mark.redis, pytest.mark.anyio]

PASSWORD = "pr0be-s3cret"


@pytest.fixture
def closed_uri() -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    with LogCapture().installed("orga_asgi") as capture:
        yield capture


def endpoint_for(uri: str, **options: Any) -> OrgaClientSecrets:
    options.setdefault("rate_limits", ("2/minute",))
    return OrgaClientSecrets(
        authorize=allow_anonymous,
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox_client(),
        storage_uri=uri,
        ip_rate_limits=None,
        **options,
    )


async def lifespan(app: Any) -> list[dict[str, Any]]:
    """Run startup (and shutdown, when it started) of ``app``; the messages it sent."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


def store_warnings(logs: LogCapture) -> list[str]:
    return [
        r.getMessage()
        for r in logs.records
        if r.levelno >= logging.WARNING and r.name == "orga_asgi.limits"
    ]


def no_secret(logs: LogCapture, *texts: str) -> None:
    for text in [*logs.leak_texts(), *texts]:
        assert PASSWORD not in text


async def test_fallback_warns_once_at_startup_then_limits_per_process(
    closed_uri: str, logs: LogCapture
) -> None:
    endpoint = endpoint_for(closed_uri)
    sent = await lifespan(endpoint)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    async with caller(endpoint) as client:
        statuses = [(await client.get("/")).status_code for _ in range(3)]
    await endpoint.aclose()
    assert statuses == [200, 200, 429]  # the per-process window, right from the start
    [warning] = store_warnings(logs)
    assert "redis://***@127.0.0.1:" in warning
    assert "did not answer at startup" in warning
    assert "limiting per process in memory" in warning
    assert "Check storage_uri" in warning
    no_secret(logs)


async def test_deny_fails_the_startup_with_a_fix_hint(closed_uri: str, logs: LogCapture) -> None:
    endpoint = endpoint_for(closed_uri, on_storage_error="deny")
    sent = await lifespan(endpoint)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    message = sent[0]["message"]
    assert "redis://***@127.0.0.1:" in message
    assert "did not answer at startup" in message
    assert "on_storage_error='fallback'" in message
    assert store_warnings(logs) == []  # the failed startup is the one message
    no_secret(logs, message)
    with pytest.raises(ConfigurationError, match="fix storage_uri"):
        await endpoint.startup()
    await endpoint.aclose()


async def test_a_store_that_answers_starts_quietly(redis_url: str, logs: LogCapture) -> None:
    endpoint = endpoint_for(redis_url, on_storage_error="deny")
    sent = await lifespan(endpoint)
    assert sent[0]["type"] == "lifespan.startup.complete"
    assert store_warnings(logs) == []


async def test_without_lifespan_the_first_request_checks(closed_uri: str, logs: LogCapture) -> None:
    endpoint = endpoint_for(closed_uri)
    async with caller(endpoint) as client:
        statuses = [(await client.get("/")).status_code for _ in range(3)]
    await endpoint.aclose()
    assert statuses == [200, 200, 429]
    [warning] = store_warnings(logs)
    assert "did not answer on first use" in warning
    assert "limiting per process in memory" in warning
    no_secret(logs)


async def test_the_middleware_checks_after_the_app_started(closed_uri: str) -> None:
    started: list[bool] = []

    @asynccontextmanager
    async def app_lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append(True)
        yield

    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("app")

    inner = Starlette(routes=[Route("/", home)], lifespan=app_lifespan)
    deny = OrgaMiddleware(inner, endpoint=endpoint_for(closed_uri, on_storage_error="deny"))
    sent = await lifespan(deny)
    assert started == [True]
    # What the server hears of the startup (this driver then asks for a shutdown anyway).
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "did not answer at startup" in sent[0]["message"]

    async def no_lifespan(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("this app does not speak lifespan")

    fallback = OrgaMiddleware(no_lifespan, endpoint=endpoint_for(closed_uri))
    sent = await lifespan(fallback)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_uvicorn_refuses_to_start_on_a_dead_store_under_deny(closed_uri: str) -> None:
    import uvicorn

    endpoint = endpoint_for(closed_uri, on_storage_error="deny")
    config = uvicorn.Config(
        endpoint, host="127.0.0.1", port=free_port(), lifespan="on", log_level="error"
    )
    server = uvicorn.Server(config)
    exits: list[object] = []

    def run() -> None:
        try:
            server.run()
        except SystemExit as exc:  # what `uvicorn app` exits with, from its main thread
            exits.append(exc.code)

    with LogCapture().installed("uvicorn.error") as logs:
        thread = threading.Thread(target=run, daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(15)
    assert not thread.is_alive(), "uvicorn kept running"
    assert not server.started
    assert exits == [3]  # uvicorn's "startup failed" status
    assert time.monotonic() - started < 10
    text = logs.text()
    assert "did not answer at startup" in text
    assert PASSWORD not in text


def test_uvicorn_starts_and_serves_per_process_under_fallback(closed_uri: str) -> None:
    import uvicorn

    endpoint = endpoint_for(closed_uri, trusted_proxies=["127.0.0.1"])
    port = free_port()
    config = uvicorn.Config(endpoint, host="127.0.0.1", port=port, lifespan="on", log_level="error")
    server = uvicorn.Server(config)
    with LogCapture().installed("orga_asgi") as logs:
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            assert server.started
            # Warned before the first request: at startup.
            assert len(store_warnings(logs)) == 1
            headers = {"X-Forwarded-Proto": "https"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                statuses = [client.get("/", headers=headers).status_code for _ in range(3)]
        finally:
            server.should_exit = True
            thread.join(10)
    assert statuses == [200, 200, 429]
    assert len(store_warnings(logs)) == 1
    no_secret(logs)
