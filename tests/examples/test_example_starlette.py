"""examples/starlette_app.py: Starlette session login, then credentials; none without it."""

from __future__ import annotations

from types import ModuleType

import httpx
import pytest

from orga_asgi import DEFAULT_PATH
from orga_asgi.testing import FakeOrga
from tests.examples._example_support import (
    assert_clean_shutdown,
    documented_command,
    lifespan,
    load_sandboxed,
    local,
    real_mode,
    sandbox_fake,
    sandbox_warnings,
    serve_command,
)


@pytest.fixture
def sandboxed(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_sandboxed(monkeypatch, "starlette_app.py")


@pytest.mark.anyio
async def test_login_then_token_and_401_without_session(sandboxed: ModuleType) -> None:
    async with lifespan(sandboxed.app), local(sandboxed.app) as client:
        assert (await client.get(DEFAULT_PATH)).status_code == 401
        login = await client.post("/login")
        assert login.status_code == 200
        assert "httponly" in login.headers["set-cookie"].lower()
        response = await client.get(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ephemeralToken"] and body["iceServers"]
        client.cookies.clear()
        refused = await client.get(DEFAULT_PATH)
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
    # The mint reached the endpoint's own fake Orga; the refusals never left the app.
    assert [call.path for call in sandbox_fake(sandboxed).calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]


@pytest.mark.anyio
async def test_forged_session_cookie_is_401(sandboxed: ModuleType) -> None:
    async with local(sandboxed.app) as client:
        client.cookies.set("session", "eyJ1c2VyX2lkIjogImFsaWNlIn0=.forged.sig")
        assert (await client.get(DEFAULT_PATH)).status_code == 401


@pytest.mark.anyio
async def test_sandbox_allows_plain_http_only_from_this_machine(sandboxed: ModuleType) -> None:
    async with local(sandboxed.app, client=("203.0.113.7", 40000)) as client:
        await client.post("/login")
        response = await client.get(DEFAULT_PATH)
    assert response.status_code == 403
    assert response.json()["error"] == "https_required"


@pytest.mark.anyio
@pytest.mark.servers
async def test_real_orga_when_the_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOrga()
    async with real_mode(monkeypatch, "starlette_app.py", fake) as client:
        await client.post("/login")
        response = await client.get(DEFAULT_PATH)
    assert response.status_code == 200, response.text
    assert [call.path for call in fake.calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]


@pytest.mark.servers
def test_the_documented_command_serves_it() -> None:
    command = documented_command("starlette_app.py")
    assert command == "uvicorn examples.starlette_app:app"
    with serve_command(command) as served, httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get(DEFAULT_PATH).status_code == 401
        assert client.post("/login").status_code == 200
        response = client.get(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        assert response.json()["ephemeralToken"]
    assert_clean_shutdown(served.log)
    assert sandbox_warnings(served.log) == 1  # no key: the sandbox, which says so
