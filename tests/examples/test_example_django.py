"""examples/django_app: log in with Django's session, then credentials; none without it.

The project runs in its own process through the command documented in asgi.py, so its
Django settings never meet those of the other tests.
"""

from __future__ import annotations

import httpx
import pytest

from orga_asgi import DEFAULT_PATH
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import uvicorn_server
from tests.examples._example_support import (
    assert_clean_shutdown,
    documented_command,
    sandbox_warnings,
    serve_command,
)

pytestmark = pytest.mark.servers

COMMAND = documented_command("django_app/asgi.py")


def log_in(client: httpx.Client) -> None:
    csrf = client.get("/login").json()["csrfToken"]
    response = client.post("/login", headers={"x-csrftoken": csrf})
    assert response.status_code == 200, response.text


def tampered(signed: str) -> str:
    """``signed`` with its signature changed (its first character: the last one of a base64
    signature may carry only unused bits, and then decodes to the same bytes)."""
    value, _, signature = signed.rpartition(":")
    return f"{value}:{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_the_command_is_documented() -> None:
    assert COMMAND == "uvicorn examples.django_app.asgi:application"


def test_session_login_then_token_and_401_without_it() -> None:
    with serve_command(COMMAND) as served, httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get(DEFAULT_PATH).status_code == 401
        # Django's own routes keep their protections: no CSRF token, no login.
        assert client.post("/login").status_code == 403
        log_in(client)
        response = client.get(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ephemeralToken"] and body["iceServers"]
        session = client.cookies["sessionid"]
        client.cookies.clear()
        assert client.get(DEFAULT_PATH).status_code == 401
        client.cookies.set("sessionid", tampered(session))
        assert client.get(DEFAULT_PATH).status_code == 401
        client.cookies.clear()
        assert client.get("/nowhere").status_code == 404  # Django still answers the rest
    assert_clean_shutdown(served.log)
    assert sandbox_warnings(served.log) == 1  # no key: the sandbox, which says so


def test_real_orga_when_the_key_is_set() -> None:
    fake = FakeOrga()
    with uvicorn_server(fake) as upstream:
        env = {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_BASE_URL": upstream}
        with (
            serve_command(COMMAND, env=env) as served,
            httpx.Client(base_url=served.url, timeout=10) as client,
        ):
            log_in(client)
            # Real mode serves HTTPS only; behind a TLS proxy on this machine it says so
            # (uvicorn believes X-Forwarded-Proto from 127.0.0.1 by default).
            assert client.get(DEFAULT_PATH).json()["error"] == "https_required"
            response = client.get(DEFAULT_PATH, headers={"x-forwarded-proto": "https"})
            assert response.status_code == 200, response.text
    assert_clean_shutdown(served.log)
    assert sandbox_warnings(served.log) == 0
    assert [call.path for call in fake.calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]
