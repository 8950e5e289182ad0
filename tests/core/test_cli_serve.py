"""``orga-asgi serve`` as a real process on 127.0.0.1, against a FakeOrga on a real socket.

The server's own proxy handling is off: a plain-HTTP request from a loopback peer that says
``X-Forwarded-Proto: https`` gets no token, and the app sees the socket's peer and scheme,
not what a header claims. ``--trusted-proxy`` is the one way to make those headers count.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._cli_process import cli
from tests._support import uvicorn_server

pytestmark = pytest.mark.servers
ROUTE = "/api/orga-client-secrets"
FORGED = {"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"}
SEEN_HOOK = """\
import json, os
from orga_asgi import Principal

def hook(request):
    # What the app itself is told: the ASGI scope, as the server filled it in.
    with open(os.environ["CLI_TEST_SEEN"], "a") as seen:
        seen.write(json.dumps([request.scope["client"][0], request.scope["scheme"]]) + "\\n")
    return Principal(id="cli-test-" + os.environ["CLI_TEST_ID"])
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with uvicorn_server(FakeOrga()) as url:
        yield url


def test_serve_gives_no_token_for_a_forged_https_from_loopback(upstream: str) -> None:
    env = {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_BASE_URL": upstream}
    with cli("serve", "--authorize", "orga_asgi:allow_anonymous", env=env) as server:
        response = httpx.get(server.url + ROUTE, headers=FORGED, timeout=10)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "https_required"
    assert "ephemeralToken" not in response.text
    assert "Traceback" not in server.output


def test_serve_app_sees_the_socket_peer_not_the_headers(upstream: str, tmp_path: Path) -> None:
    # Trusting 127.0.0.1 is the kit's decision (--trusted-proxy), made on the real peer;
    # the server itself must not have rewritten the scope before anyone looked.
    (tmp_path / "seen_hook.py").write_text(SEEN_HOOK)
    seen = tmp_path / "seen.jsonl"
    env = {
        "ORGA_API_KEY": FAKE_API_KEY,
        "ORGA_BASE_URL": upstream,
        "CLI_TEST_SEEN": str(seen),
        "CLI_TEST_ID": tmp_path.name,
    }
    argv = ("serve", "--authorize", "seen_hook:hook", "--trusted-proxy", "127.0.0.1")
    with cli(*argv, env=env, cwd=tmp_path) as server:
        response = httpx.get(server.url + ROUTE, headers=FORGED, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["ephemeralToken"]
    assert [json.loads(line) for line in seen.read_text().splitlines()] == [["127.0.0.1", "http"]]


def test_trusted_proxy_is_the_one_source_of_trust(upstream: str, tmp_path: Path) -> None:
    (tmp_path / "seen_hook.py").write_text(SEEN_HOOK)
    env = {
        "ORGA_API_KEY": FAKE_API_KEY,
        "ORGA_BASE_URL": upstream,
        "CLI_TEST_SEEN": str(tmp_path / "seen.jsonl"),
        "CLI_TEST_ID": tmp_path.name,
    }
    argv = ("serve", "--authorize", "seen_hook:hook", "--trusted-proxy", "127.0.0.1")
    argv += ("--ip-rate-limit", "1/minute", "--rate-limit", "none")
    with cli(*argv, env=env, cwd=tmp_path) as server, httpx.Client(timeout=10) as client:
        statuses = [
            client.get(server.url + ROUTE, headers={**FORGED, "x-forwarded-for": ip}).status_code
            for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.1")
        ]
        # One bucket per client the trusted proxy names; no proto from it: plain http.
        plain = client.get(server.url + ROUTE, headers={"x-forwarded-for": "198.51.100.3"})
    assert statuses == [200, 200, 429]
    assert plain.status_code == 403
    assert plain.json()["error"] == "https_required"


def test_console_script_imports_hooks_from_the_current_directory(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("orga-asgi")
    if not script.exists():
        pytest.skip("the orga-asgi console script is not installed next to this Python")
    (tmp_path / "cwd_hooks.py").write_text(
        "from orga_asgi import Principal\n\ndef authorize(request):\n"
        "    return Principal(id='cwd')\n"
    )
    env = {"ORGA_API_KEY": FAKE_API_KEY}
    argv = ("serve", "--authorize", "cwd_hooks:authorize")
    with cli(*argv, env=env, cwd=tmp_path, command=[str(script)]) as server:
        response = httpx.get(server.url + ROUTE, timeout=10)
    # It started (the hook was found) and refuses plain HTTP before any upstream call.
    assert response.status_code == 403
    assert "trusted proxies: none" in server.output


def test_serve_prints_the_audit_line_and_honours_log_level(upstream: str) -> None:
    env = {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_BASE_URL": upstream}
    argv = ("serve", "--authorize", "orga_asgi:allow_anonymous")
    with cli(*argv, env=env) as server:
        httpx.get(server.url + ROUTE, timeout=10)
    with cli(*argv, "--log-level", "warning", env=env) as quiet:
        httpx.get(quiet.url + ROUTE, timeout=10)
    assert "orga_asgi.audit" in server.output
    assert "status=403" in server.output
    assert "https_required" in server.output
    assert "orga_asgi.audit" not in quiet.output
    assert FAKE_API_KEY not in server.output + quiet.output
