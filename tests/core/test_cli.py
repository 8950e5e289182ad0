"""``orga-asgi dev`` and ``orga-asgi serve``."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from _support import caller, free_port

from orga_asgi.cli import build_dev_app, main

pytestmark = pytest.mark.anyio
ROUTE = "/api/orga-client-secrets"


async def test_dev_app_mints_for_loopback_callers_only() -> None:
    app = build_dev_app()
    async with caller(app, scheme="http", client=("127.0.0.1", 5000)) as local:
        ok = await local.get(ROUTE)
        index = await local.get("/")
    async with caller(app, scheme="http") as remote:
        refused = await remote.get(ROUTE)
    assert ok.status_code == 200
    assert ok.json()["ephemeralToken"].count(".") == 2
    assert index.json() == {"sandbox": True, "endpoint": ROUTE}
    assert refused.json()["error"] == "https_required"


async def test_dev_app_refuses_anonymous_remote_callers_even_over_https() -> None:
    async with caller(build_dev_app()) as remote:
        assert (await remote.get(ROUTE)).status_code == 401


def test_dev_command_serves_a_working_endpoint() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orga_asgi.cli", "dev", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{ROUTE}", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["iceServers"]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode()
    assert "SANDBOX" in output
    assert "Traceback" not in output


def test_serve_without_a_key_exits_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ORGA_API_KEY", raising=False)
    assert main(["serve", "--authorize", "orga_asgi:allow_anonymous"]) == 2
    assert "ORGA_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["nocolon", "no_such_module_x:f", "orga_asgi:no_such_hook"])
def test_serve_with_a_bad_hook_exits_2(
    spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORGA_API_KEY", "sk_orga_ai_clitest")
    assert main(["serve", "--authorize", spec]) == 2
    err = capsys.readouterr().err
    assert "--authorize" in err
    assert "sk_orga_ai_clitest" not in err


def test_serve_builds_the_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    from orga_asgi.cli import _parser, build_serve_app

    monkeypatch.setenv("ORGA_API_KEY", "sk_orga_ai_clitest")
    args = _parser().parse_args(
        ["serve", "--authorize", "orga_asgi:allow_anonymous", "--trusted-proxy", "10.0.0.0/8",
         "--path", "/api/orga-session"]
    )  # fmt: skip
    app = build_serve_app(args)
    assert app.path == "/api/orga-session"
    assert app.endpoint.config.trusted_proxies == ("10.0.0.0/8",)
    assert os.environ["ORGA_API_KEY"] not in repr(app.endpoint)
