"""examples/litestar_app.py: log in with a session cookie, then get credentials."""

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

ADA = {"username": "ada", "password": "lovelace"}


@pytest.fixture
def sandboxed(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_sandboxed(monkeypatch, "litestar_app.py")


@pytest.mark.anyio
async def test_login_then_credentials(sandboxed: ModuleType) -> None:
    async with lifespan(sandboxed.app), local(sandboxed.app) as client:
        assert (await client.post(DEFAULT_PATH)).status_code == 401  # no session
        wrong = await client.post("/login", json={"username": "ada", "password": "babbage"})
        assert wrong.status_code == 401
        assert (await client.post(DEFAULT_PATH)).status_code == 401
        assert (await client.post("/login", json=ADA)).status_code == 201
        response = await client.post(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ephemeralToken"].count(".") == 2
        assert any("username" in server for server in body["iceServers"])
        schema = (await client.get("/schema/openapi.json")).json()
        assert {"get", "post"} <= set(schema["paths"][DEFAULT_PATH])
    # The mint reached the endpoint's own fake Orga; the refusals never left the app.
    assert [call.path for call in sandbox_fake(sandboxed).calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]


@pytest.mark.anyio
@pytest.mark.servers
async def test_real_orga_when_the_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk_orga_ai_example_key"
    fake = FakeOrga(api_key=key)
    async with real_mode(monkeypatch, "litestar_app.py", fake, api_key=key) as client:
        assert (await client.post("/login", json=ADA)).status_code == 201
        response = await client.post(DEFAULT_PATH)
        plain = await client.post(f"http://app.example{DEFAULT_PATH}")
    assert response.status_code == 200, response.text
    assert plain.status_code == 403  # real mode serves HTTPS only
    assert plain.json()["error"] == "https_required"
    assert [c.authorization for c in fake.calls_to("client-secrets")] == [f"Bearer {key}"]


@pytest.mark.servers
def test_the_documented_command_serves_it() -> None:
    command = documented_command("litestar_app.py")
    assert command == "uvicorn examples.litestar_app:app"
    with serve_command(command) as served, httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.post(DEFAULT_PATH).status_code == 401
        assert client.post("/login", json=ADA).status_code == 201
        response = client.post(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        assert response.json()["iceServers"]
    assert_clean_shutdown(served.log)
    assert sandbox_warnings(served.log) == 1  # no key: the sandbox, which says so
