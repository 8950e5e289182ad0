"""examples/quart_app.py: the page, a quart-auth login, then a token; sandbox and real key."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from orga_asgi_quart import EXTENSION_KEY

from orga_asgi import DEFAULT_PATH, OrgaClientSecrets
from orga_asgi.testing import FakeOrga
from tests._support import free_port, uvicorn_server

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "quart_app.py"


def load_example() -> ModuleType:
    """Import the example afresh: it reads ORGA_API_KEY when imported."""
    spec = importlib.util.spec_from_file_location("quart_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_of(example: ModuleType) -> FakeOrga | None:
    """The FakeOrga of the example's endpoint: ``None`` unless it runs in the sandbox."""
    endpoint: OrgaClientSecrets = example.app.extensions[EXTENSION_KEY].endpoint
    return endpoint.fake_orga


def login_then_mint(client: httpx.Client) -> dict[str, object]:
    assert client.post(DEFAULT_PATH).status_code == 401
    login = client.post("/login")
    assert login.status_code == 302
    assert "QUART_AUTH" in client.cookies
    response = client.post(DEFAULT_PATH)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.anyio
async def test_example_on_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORGA_API_KEY", raising=False)
    example = load_example()
    transport = httpx.ASGITransport(app=example.app, client=("127.0.0.1", 50000))
    async with (
        example.app.test_app(),  # before_serving / after_serving, as a server runs them
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client,
    ):
        page = await client.get("/")
        assert 'action="/login"' in page.text
        assert (await client.get(DEFAULT_PATH)).status_code == 401
        assert (await client.post("/login")).status_code == 302
        response = await client.get(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ephemeralToken"].count(".") == 2
        assert any("username" in server for server in body["iceServers"])
        await client.post("/logout")
        assert (await client.post(DEFAULT_PATH)).status_code == 401
    fake = fake_of(example)  # the sandbox endpoint's own: the one mint reached it
    assert fake is not None
    assert [call.path for call in fake.calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]


@pytest.mark.servers
def test_example_with_an_api_key_talks_to_that_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk_orga_ai_example_key"
    fake = FakeOrga(api_key=key)
    with uvicorn_server(fake) as upstream:
        monkeypatch.setenv("ORGA_API_KEY", key)
        monkeypatch.setenv("ORGA_BASE_URL", upstream)
        example = load_example()
        assert fake_of(example) is None
        with uvicorn_server(example.app) as base, httpx.Client(base_url=base) as client:
            login_then_mint(client)
    assert [call.authorization for call in fake.calls_to("client-secrets")] == [f"Bearer {key}"]


@pytest.mark.servers
def test_the_documented_command_serves_the_example() -> None:
    documented = re.search(r"^    (hypercorn .+)$", EXAMPLE.read_text(), re.MULTILINE)
    assert documented is not None
    command = documented.group(1).split()
    assert command[-1] == "127.0.0.1:8000"
    port = free_port()
    command[0:1] = [sys.executable, "-m", "hypercorn"]
    command[-1] = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGA_")}
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, server.communicate()[1].decode()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "hypercorn did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            body = login_then_mint(client)
        assert body["ephemeralToken"]
    finally:
        server.terminate()
        server.wait(10)
        assert server.stderr is not None
        server.stderr.close()
