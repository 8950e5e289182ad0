"""Shared helpers for the suite: endpoints wired to a FakeOrga, clients, real servers."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from orga_asgi import OrgaClientSecrets, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga

CALLER = ("203.0.113.7", 40000)  # a documentation address: not loopback, not trusted
seen_responses: list[httpx.Response] = []  # read by the leak guard in conftest.py


def fake_client(fake: FakeOrga) -> httpx.AsyncClient:
    """An httpx client whose every request reaches ``fake`` in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url=FAKE_BASE_URL)


def make_endpoint(fake: FakeOrga, **overrides: Any) -> OrgaClientSecrets:
    """An endpoint against ``fake`` in-process; ``overrides`` win."""
    options: dict[str, Any] = {
        "authorize": allow_anonymous,
        "api_key": FAKE_API_KEY,
        "base_url": FAKE_BASE_URL,
        "http_client": fake_client(fake),
    }
    options.update(overrides)
    return OrgaClientSecrets(**options)


def track_closes(endpoint: OrgaClientSecrets) -> list[bool]:
    """Record every ``aclose()`` of ``endpoint`` (it still closes for real)."""
    closed: list[bool] = []
    original = endpoint.aclose

    async def aclose() -> None:
        closed.append(True)
        await original()

    endpoint.aclose = aclose  # type: ignore[method-assign]
    return closed


def caller(
    app: Any, *, scheme: str = "https", client: tuple[str, int] = CALLER, **kwargs: Any
) -> httpx.AsyncClient:
    """A client calling ``app`` in-process as a remote browser would, over ``scheme``."""

    async def remember(response: httpx.Response) -> None:
        # Handed to the leak guard, which checks headers and error bodies after the test.
        await response.aread()
        seen_responses.append(response)

    transport = httpx.ASGITransport(app=app, client=client)
    hooks = kwargs.pop("event_hooks", {})
    hooks.setdefault("response", []).append(remember)
    return httpx.AsyncClient(
        transport=transport, base_url=f"{scheme}://testserver", event_hooks=hooks, **kwargs
    )


def unavailable(reason: str) -> None:
    """Skip for a missing dependency (Redis, Chromium), except under ``CI=true``, where a
    skip would let the run go green without the test: there it fails."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this test must run)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(app: Any, *, port: int | None = None, **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a loopback port in a thread; yield its base URL."""
    import uvicorn

    port = port or free_port()
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "access_log": False}
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
