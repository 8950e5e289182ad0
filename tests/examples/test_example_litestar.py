"""examples/litestar_app.py, served by uvicorn as its docstring says: login, then a token."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from _support import uvicorn_server

from orga_asgi import DEFAULT_PATH
from orga_asgi.testing import FakeOrga

pytestmark = pytest.mark.servers

EXAMPLE = Path(__file__).parents[2] / "examples" / "litestar_app.py"


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the example afresh: it reads ORGA_API_KEY when imported."""
    spec = importlib.util.spec_from_file_location("litestar_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def login_then_mint(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        anonymous = client.post(DEFAULT_PATH)
        assert anonymous.status_code == 401  # Litestar's session auth refuses first
        wrong = client.post("/login", json={"username": "ada", "password": "babbage"})
        assert wrong.status_code == 401
        assert client.post(DEFAULT_PATH).status_code == 401
        logged_in = client.post("/login", json={"username": "ada", "password": "lovelace"})
        assert logged_in.status_code == 201, logged_in.text
        response = client.post(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ephemeralToken"].count(".") == 2
        assert any("username" in server for server in body["iceServers"])
        schema = client.get("/schema/openapi.json").json()
        assert {"get", "post"} <= set(schema["paths"][DEFAULT_PATH])


def test_example_on_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORGA_API_KEY", raising=False)
    example = load_example(monkeypatch)
    with uvicorn_server(example.app) as base:
        login_then_mint(base)
    assert example.sandbox.is_closed  # the app's shutdown closed the sandbox client


def test_example_with_an_api_key_talks_to_that_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk_orga_ai_example_key"
    fake = FakeOrga(api_key=key)
    with uvicorn_server(fake) as upstream:
        monkeypatch.setenv("ORGA_API_KEY", key)
        monkeypatch.setenv("ORGA_BASE_URL", upstream)
        example = load_example(monkeypatch)
        assert not hasattr(example, "sandbox")
        with uvicorn_server(example.app) as base:
            login_then_mint(base)
    assert [call.authorization for call in fake.calls_to("client-secrets")] == [f"Bearer {key}"]
