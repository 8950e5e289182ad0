"""The same end-to-end checks through uvicorn, hypercorn and granian, each in its own
process on a loopback port, over HTTP/1.1 and (where the server offers it) HTTP/2."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import free_port, require_module, uvicorn_server

pytestmark = pytest.mark.servers

HERE = Path(__file__).parent
COMMANDS = {
    "uvicorn": ["-m", "uvicorn", "_server_app:app", "--host", "127.0.0.1", "--port", "{port}",
                "--log-level", "warning"],
    "hypercorn": ["-m", "hypercorn", "_server_app:app", "--bind", "127.0.0.1:{port}",
                  "--log-level", "warning"],
    "granian": ["-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}",
                "--http", "{http}", "--log-level", "warning", "_server_app:app"],
}  # fmt: skip
CELLS = [
    ("uvicorn", "1.1"),
    ("hypercorn", "1.1"),
    ("hypercorn", "2"),
    ("granian", "1.1"),
    ("granian", "2"),
]
AUTH = {"authorization": "Bearer cell-token", "x-forwarded-proto": "https"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeOrga, str]]:
    fake = FakeOrga()
    with uvicorn_server(fake) as url:
        yield fake, url


def start(server: str, http: str, base_url: str) -> tuple[subprocess.Popen[bytes], str]:
    require_module(server, f"pip install {server} (nox -s servers)")
    port = free_port()
    args = [a.format(port=port, http="1" if http == "1.1" else "2") for a in COMMANDS[server]]
    env = {**os.environ, "ORGA_API_KEY": FAKE_API_KEY, "ORGA_BASE_URL": base_url}
    # A session of its own: granian forks workers, and stopping means stopping them all.
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            # granian --http 2 speaks only HTTP/2: probe in the protocol under test.
            with httpx.Client(http1=http == "1.1", http2=http == "2", timeout=0.5) as probe:
                probe.get(url + "/")
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{server} did not start")


def stop(proc: subprocess.Popen[bytes]) -> str:
    """Stop the server and every process of its session; return its stderr."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    with contextlib.suppress(ProcessLookupError):  # workers that outlived their parent
        os.killpg(proc.pid, signal.SIGKILL)
    return err.decode(errors="replace")


@pytest.mark.parametrize(("server", "http"), CELLS, ids=[f"{s}-http{h}" for s, h in CELLS])
def test_server_cell(server: str, http: str, upstream: tuple[FakeOrga, str]) -> None:
    fake, base_url = upstream
    proc, url = start(server, http, base_url)
    try:
        h2 = http == "2"
        # HTTP/2 over cleartext with prior knowledge (h2c): what a TLS-terminating proxy
        # speaking HTTP/2 to its backends does.
        with httpx.Client(base_url=url, http1=not h2, http2=h2, timeout=10) as client:
            ok = client.get("/api/orga-client-secrets", headers=AUTH)
            assert ok.http_version == ("HTTP/2" if h2 else "HTTP/1.1")
            assert ok.status_code == 200, ok.text
            body = ok.json()
            assert body["ephemeralToken"] in fake.issued_secrets()
            assert body["iceServers"]
            assert ok.headers["cache-control"] == "no-store"
            assert ok.headers["strict-transport-security"]

            posted = client.post("/api/orga-client-secrets", headers=AUTH, content=b"{}")
            assert posted.status_code == 200

            refused = client.get("/api/orga-client-secrets", headers={"x-forwarded-proto": "https"})
            assert refused.status_code == 401
            assert refused.json()["requestId"] == refused.headers["x-request-id"]

            plain = client.get(
                "/api/orga-client-secrets", headers={"authorization": AUTH["authorization"]}
            )
            assert plain.json()["error"] == "https_required"

            if not h2:
                # Over HTTP/2, hypercorn (0.18) crashes the connection (KeyError on the
                # finished stream) whenever an app answers before reading the whole body;
                # a bare 5-line ASGI app does the same, so the 413 is checked on HTTP/1.1.
                big = client.post("/api/orga-client-secrets", headers=AUTH, content=b"x" * 70_000)
                assert big.status_code == 413

            assert client.get("/").text == "home"
    finally:
        stderr = stop(proc)
    assert "Traceback" not in stderr
    assert "Unclosed" not in stderr
    assert FAKE_API_KEY not in stderr
