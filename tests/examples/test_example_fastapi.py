"""examples/fastapi_app.py: a bearer token gets credentials; none without one."""

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

ALICE = {"authorization": "Bearer alice-token"}


@pytest.fixture
def sandboxed(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_sandboxed(monkeypatch, "fastapi_app.py")


@pytest.mark.anyio
async def test_token_then_credentials_and_401_without_it(sandboxed: ModuleType) -> None:
    async with lifespan(sandboxed.app), local(sandboxed.app) as client:
        response = await client.get(DEFAULT_PATH, headers=ALICE)
        assert response.status_code == 200, response.text
        assert response.json()["ephemeralToken"]
        for headers in ({}, {"authorization": "Bearer mallory-token"}):
            refused = await client.get(DEFAULT_PATH, headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
        # FastAPI's own route checks the same token, through its dependency.
        assert (await client.get("/me", headers=ALICE)).json() == {"user": "alice"}
        assert (await client.get("/me", headers={"authorization": "Bearer x"})).status_code == 401
    # One mint reached the endpoint's own fake Orga; the refusals never left the app.
    assert [call.path for call in sandbox_fake(sandboxed).calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]
    # The route is FastAPI's own now: documented, behind the same bearer scheme.
    operation = sandboxed.app.openapi()["paths"][DEFAULT_PATH]["get"]
    assert operation["security"] == [{"HTTPBearer": []}]


@pytest.mark.anyio
@pytest.mark.servers
async def test_real_orga_when_the_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOrga()
    async with real_mode(monkeypatch, "fastapi_app.py", fake) as client:
        response = await client.get(DEFAULT_PATH, headers=ALICE)
        plain = await client.get(f"http://app.example{DEFAULT_PATH}", headers=ALICE)
    assert response.status_code == 200, response.text
    assert plain.status_code == 403  # real mode serves HTTPS only
    assert len(fake.calls) == 2


@pytest.mark.servers
def test_the_documented_command_serves_it() -> None:
    command = documented_command("fastapi_app.py")
    assert command == "uvicorn examples.fastapi_app:app"
    with serve_command(command) as served, httpx.Client(base_url=served.url, timeout=10) as client:
        response = client.get(DEFAULT_PATH, headers=ALICE)
        assert response.status_code == 200, response.text
        assert response.json()["iceServers"]
        assert client.get(DEFAULT_PATH).status_code == 401
    assert_clean_shutdown(served.log)
    assert sandbox_warnings(served.log) == 1  # no key: the sandbox, which says so
