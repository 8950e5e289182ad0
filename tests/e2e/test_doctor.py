"""``orga-asgi doctor`` against real servers on loopback: the dev sandbox, the vendor guide's
Express example under Node, the kit over TLS, and a route that leaks."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi._doctor import CHECKS, add_doctor_parser, run_doctor
from orga_asgi.auth import bearer
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._node import NODE_DIR, node_project
from tests._support import free_port, uvicorn_server
from tests._tls import write_tls

pytestmark = pytest.mark.servers
ROUTE = "/api/orga-client-secrets"


def doctor(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, dict[str, dict[str, str]], str]:
    """Run ``orga-asgi doctor --json argv``; return its exit status, results by check, output."""
    parser = argparse.ArgumentParser(prog="orga-asgi")
    add_doctor_parser(parser.add_subparsers(dest="command"))
    capsys.readouterr()
    status = run_doctor(parser.parse_args(["doctor", "--json", *argv]))
    out = capsys.readouterr().out
    results = json.loads(out)
    assert [r["check"] for r in results] == list(CHECKS)
    assert all(set(r) == {"check", "status", "why", "fix"} for r in results)
    return status, {r["check"]: r for r in results}, out


def statuses(results: dict[str, dict[str, str]]) -> dict[str, str]:
    return {check: r["status"] for check, r in results.items()}


@contextlib.contextmanager
def process(args: list[str], ready_url: str, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` in a session of its own until ``ready_url`` answers; stop it after."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **popen
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(ready_url, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[:3]} did not start: {_stop(proc)[-2000:]}") from None
                time.sleep(0.1)
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> str:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return (out or b"").decode(errors="replace")


@pytest.fixture
def dev_url() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "orga_asgi.cli", "dev", "--port", str(port)], url + "/"):
        yield url + ROUTE


def test_doctor_passes_what_the_dev_sandbox_can_and_says_why_not_the_rest(
    dev_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, results, out = doctor(capsys, dev_url, "--probe-limit", "40")
    assert statuses(results) == {
        "transport.http": "SKIP",
        "transport.hsts": "SKIP",
        "auth.required": "SKIP",
        "token.response": "PASS",
        "token.no_store": "PASS",
        "token.nosniff": "PASS",
        "token.request_id": "PASS",
        "origin.foreign": "PASS",
        "cors.credentials": "PASS",
        "ratelimit.headers": "PASS",
        "ratelimit.probe": "PASS",
        "errors.leak": "PASS",
        "server.banner": "PASS",
    }
    assert status == 0
    assert "plain http on loopback" in results["transport.http"]["why"]
    assert "HTTPS only" in results["transport.hsts"]["why"]
    assert "sandbox" in results["auth.required"]["why"]
    assert "429 after" in results["ratelimit.probe"]["why"]
    assert "eyJ" not in out  # the tokens it received are described, never shown


def test_doctor_prints_one_line_per_check(dev_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="orga-asgi")
    add_doctor_parser(parser.add_subparsers(dest="command"))
    assert run_doctor(parser.parse_args(["doctor", dev_url])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == list(CHECKS)
    assert {line.split()[0] for line in lines[:-1]} <= {"PASS", "SKIP"}
    assert lines[-1].startswith("orga-asgi doctor: 0 FAIL, 0 WARN,")
    assert "eyJ" not in "\n".join(lines)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeOrga, str]]:
    fake = FakeOrga()
    with uvicorn_server(fake) as url:
        yield fake, url


def test_doctor_fails_the_guides_express_example(
    upstream: tuple[FakeOrga, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, base_url = upstream
    node = node_project(NODE_DIR)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = node.env(ORGA_BASE_URL=base_url, ORGA_API_KEY=FAKE_API_KEY, PORT=str(port))
    script = NODE_DIR / "guide_express.js"
    with process(node.command(script), url + "/", env=env):
        status, results, out = doctor(capsys, url + ROUTE, "--probe-limit", "5")
    assert status == 1
    failed = {check for check, r in results.items() if r["status"] == "FAIL"}
    assert failed == {"auth.required", "token.no_store", "ratelimit.headers", "ratelimit.probe"}
    assert results["token.response"]["status"] == "PASS"  # the body itself is what the SDK wants
    assert results["origin.foreign"]["status"] == "WARN"  # minted, though unreadable cross-site
    assert results["token.nosniff"]["status"] == "WARN"
    assert results["token.request_id"]["status"] == "WARN"
    assert "without credentials got 200 with a token (JWT-shaped" in results["auth.required"]["why"]
    assert "5 requests in a row, no 429" in results["ratelimit.probe"]["why"]
    assert all(r["fix"] for r in results.values() if r["status"] == "FAIL")
    issued = fake.issued_secrets()
    assert issued  # the route really minted (7 + 5 requests' worth)
    assert not any(secret in out for secret in issued)


# --- the kit over TLS, and a route that leaks -----------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 it signed: (ca, cert, key) PEM files."""
    return write_tls(tmp_path_factory.mktemp("tls"), "127.0.0.1")


def kit_app(base_url: str) -> Any:
    def verify(token: str) -> Principal | None:
        return Principal(id="doctor-user") if token == "doctor-user-token" else None

    endpoint = OrgaClientSecrets(
        authorize=bearer(verify),
        api_key=FAKE_API_KEY,
        base_url=base_url,
        rate_limits=("8/minute",),
    )
    return OrgaMiddleware(Starlette(), endpoint=endpoint)


def test_doctor_passes_the_kit_over_https(
    upstream: tuple[FakeOrga, str],
    tls: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, base_url = upstream
    ca, cert, key = tls
    port = free_port()
    # The same app on a plain-http port too, as a server that also listens on :80 would be.
    with (
        uvicorn_server(kit_app(base_url)) as plain,
        uvicorn_server(kit_app(base_url), port=port, ssl_certfile=str(cert), ssl_keyfile=str(key)),
    ):
        status, results, out = doctor(
            capsys,
            f"https://127.0.0.1:{port}{ROUTE}",
            "--cacert", str(ca),
            "--http-url", plain + ROUTE,
            "--header", "Authorization: Bearer doctor-user-token",
            "--probe-limit", "20",
        )  # fmt: skip
    assert dict.fromkeys(CHECKS, "PASS") == statuses(results), results
    assert status == 0
    assert "refused (403 (error: https_required))" in results["transport.http"]["why"]
    assert "max-age=" in results["transport.hsts"]["why"]
    assert "doctor-user-token" not in out
    assert not any(secret in out for secret in fake.issued_secrets())


def test_doctor_refuses_an_unknown_certificate(
    tls: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], upstream: tuple[FakeOrga, str]
) -> None:
    _, cert, key = tls
    port = free_port()
    app = kit_app(upstream[1])
    with uvicorn_server(app, port=port, ssl_certfile=str(cert), ssl_keyfile=str(key)):
        nobody = f"http://127.0.0.1:{free_port()}/"
        url = f"https://127.0.0.1:{port}{ROUTE}"
        status, results, _ = doctor(capsys, url, "--http-url", nobody)
    assert status == 1
    assert results["auth.required"]["status"] == "FAIL"
    assert "CERTIFICATE_VERIFY_FAILED" in results["auth.required"]["why"]
    assert results["transport.http"]["status"] == "PASS"  # nothing listens there


async def leaky(request: Request) -> JSONResponse:
    """A route that gets everything wrong that a token route can show the world."""
    cors = {
        "access-control-allow-origin": request.headers.get("origin", "*"),
        "access-control-allow-credentials": "true",
        "server": "nginx/1.25.3",
    }
    auth = request.headers.get("authorization", "")
    if auth != "Bearer good":
        message = f"upstream: POST https://api.orga-ai.com/v1/realtime/client-secrets 401 {auth}"
        return JSONResponse({"error": message}, status_code=401, headers=cors)
    body = {"ephemeralToken": "opaque-token-value", "iceServers": [{"urls": "turn:t.example:3478"}]}
    return JSONResponse(body, headers=cors)


def test_doctor_fails_a_route_that_leaks(capsys: pytest.CaptureFixture[str]) -> None:
    app = Starlette(routes=[Route(ROUTE, leaky, methods=["GET", "OPTIONS"])])
    with uvicorn_server(app, server_header=False) as url:
        status, results, out = doctor(capsys, url + ROUTE, "--header", "Authorization: Bearer good")
    assert status == 1
    assert results["errors.leak"]["status"] == "FAIL"
    assert "a Bearer credential" in results["errors.leak"]["why"]
    assert "upstream or internal text ('orga-ai.com')" in results["errors.leak"]["why"]
    assert results["cors.credentials"]["status"] == "FAIL"
    assert results["origin.foreign"]["status"] == "FAIL"  # the foreign page may read the token
    assert results["server.banner"]["status"] == "WARN"
    assert "nginx/1.25.3" in results["server.banner"]["why"]
    # A turn: URL without username/credential: RTCPeerConnection would throw.
    assert results["token.response"]["status"] == "FAIL"
    assert "turn: URL but no username" in results["token.response"]["why"]
    assert "Bearer good" not in out and "opaque-token-value" not in out


@contextlib.contextmanager
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback port that accepts connections and never answers; yields its URL and the
    connections it accepted."""
    accepted: list[socket.socket] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in [*accepted, listener]:
            conn.close()


def test_doctor_is_bounded_by_timeout_and_budget(capsys: pytest.CaptureFixture[str]) -> None:
    with silent_server() as (url, accepted):
        started = time.monotonic()
        status, results, _ = doctor(
            capsys, url + ROUTE, "--timeout", "0.3", "--budget", "1", "--probe-limit", "1000"
        )
        elapsed = time.monotonic() - started
    assert status == 1
    assert results["auth.required"]["why"] == "no answer: no complete answer within 0.3 s"
    assert "the overall budget of 1 s ran out" in results["ratelimit.probe"]["why"]
    assert len(accepted) <= 5  # 1000 probes asked, the budget let a handful through
    assert elapsed < 10  # bounded by the budget (1 s), with slack for a loaded machine


def test_the_orga_asgi_command_runs_doctor() -> None:
    app = Starlette(routes=[Route(ROUTE, leaky, methods=["GET", "OPTIONS"])])
    with uvicorn_server(app, server_header=False) as url:
        done = subprocess.run(
            [sys.executable, "-m", "orga_asgi.cli", "doctor", url + ROUTE, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr
    results = {r["check"]: r["status"] for r in json.loads(done.stdout)}
    assert results["auth.required"] == "PASS"
    assert results["errors.leak"] == "FAIL"


def test_doctor_refuses_a_bad_ca_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="orga-asgi")
    add_doctor_parser(parser.add_subparsers(dest="command"))
    (tmp_path / "ca.pem").write_text("not a certificate")
    for bundle in (tmp_path / "ca.pem", tmp_path / "missing.pem"):
        args = parser.parse_args(["doctor", "https://127.0.0.1:9/x", "--cacert", str(bundle)])
        assert run_doctor(args) == 2
        assert "--cacert" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["https://user:pw@example.com/x"], "must not carry credentials"),
        (["ftp://example.com/x"], "must be absolute"),
        (["https://example.com/x", "--header", "Cookie session=s3cr3t-value"], "--header takes"),
        (["https://example.com/x", "--probe-limit", "0"], "from 1 to 1000"),
        (["https://example.com/x", "--timeout", "nan"], "positive number"),
    ],
)
def test_doctor_refuses_bad_arguments_without_echoing_them(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="orga-asgi")
    add_doctor_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exit_info:
        run_doctor(parser.parse_args(["doctor", *argv]))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "s3cr3t" not in err and "pw@" not in err
