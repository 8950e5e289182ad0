"""``auth.signed_header``: a sidecar trusts only ids its main backend signed, once, recently.

In-process against FakeOrga, then one real ``orga-asgi serve --authorize signed-header``
process, then the README's signing snippets (Node, Go, Python) producing headers it accepts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orga_asgi import ConfigurationError
from orga_asgi.auth import AuthHook, signed_header
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._cli_process import cli
from tests._node import node_project
from tests._support import caller, make_endpoint, require, uvicorn_server

SECRET = "s3cr3t-" + "k" * 40
ROUTE = "/api/orga-client-secrets"
pytestmark = pytest.mark.anyio
README = Path(__file__).parents[2] / "README.md"


def sign(principal_id: str, when: float | None = None, secret: str = SECRET) -> str:
    payload = f"{principal_id}.{int(time.time() if when is None else when)}"
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


@pytest.fixture
def fake() -> FakeOrga:
    return FakeOrga()


async def status(app: Any, value: str | None) -> int:
    # Bytes, so a non-ASCII value reaches the hook as the raw header a client could send.
    headers = {} if value is None else {b"x-orga-principal": value.encode()}
    async with caller(app) as client:
        response = await client.get(ROUTE, headers=headers)
    return response.status_code


def endpoint(fake: FakeOrga, **options: Any) -> Any:
    return make_endpoint(fake, authorize=signed_header(SECRET), **options)


async def test_correctly_signed_is_200_keyed_on_the_principal_id(fake: FakeOrga) -> None:
    app = endpoint(fake, rate_limits="1/minute")
    # One clock reading for both headers: read twice, a second boundary between the reads
    # could make them the same header, which the replay check rightly refuses.
    now = int(time.time())
    assert await status(app, sign("user.42@example.com", now)) == 200
    # A fresh, valid header for the same id hits that id's quota; another id has its own.
    assert await status(app, sign("user.42@example.com", now - 1)) == 429
    assert await status(app, sign("other")) == 200


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(sign("u1", secret="another-secret-" + "x" * 40), id="forged"),
        pytest.param("stale", id="stale"),
        pytest.param("future", id="future"),
        pytest.param(sign("u1")[:-1] + "g", id="non-hex"),
        pytest.param("u1." + str(int(time.time())), id="no-signature"),
        pytest.param("", id="empty"),
        pytest.param("." * 5000, id="dots"),
        pytest.param(sign("u1").replace(".", "", 1), id="no-time"),
        pytest.param(sign("bad\tid"), id="control-char-id"),
        pytest.param(sign("x" * 300), id="id-too-long"),
        pytest.param(sign("u1") + "0", id="long-signature"),
        pytest.param(sign("u1").rpartition(".")[0] + "." + "é" * 64, id="non-ascii-signature"),
        pytest.param(None, id="missing"),
    ],
)
async def test_bad_headers_are_401(fake: FakeOrga, value: str | None) -> None:
    # Times are signed here, not at collection, so the skew is what the test says.
    if value in ("stale", "future"):
        value = sign("u1", time.time() + (-65 if value == "stale" else 65))  # 60 s + slack
    assert await status(endpoint(fake), value) == 401


def sign_ms(principal_id: str, when_ms: int) -> str:
    payload = f"{principal_id}.{when_ms}"
    return f"{payload}.{hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()}"


async def test_millisecond_times_let_one_caller_ask_twice_in_a_second(fake: FakeOrga) -> None:
    app = endpoint(fake)
    now_ms = time.time_ns() // 1_000_000
    # Two requests of one user within the same second: different headers, both served.
    assert await status(app, sign_ms("u1", now_ms)) == 200
    assert await status(app, sign_ms("u1", now_ms + 1)) == 200
    assert await status(app, sign_ms("u1", now_ms + 1)) == 401  # still one use each
    # The skew bound holds in milliseconds as in seconds.
    assert await status(app, sign_ms("u1", now_ms - 62_000)) == 401
    assert await status(app, sign_ms("u1", now_ms + 62_000)) == 401
    assert await status(app, sign_ms("u1", now_ms - 30_000)) == 200


async def test_a_replay_is_401(fake: FakeOrga) -> None:
    app = endpoint(fake)
    value = sign("u1")
    assert await status(app, value) == 200
    assert await status(app, value) == 401
    # The signature's hex case does not make it a new header.
    payload, _, mac = value.rpartition(".")
    assert await status(app, f"{payload}.{mac.upper()}") == 401


def test_a_short_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"at least 32 bytes.*secrets\.token_hex"):
        signed_header("short")
    with pytest.raises(ConfigurationError):
        signed_header(SECRET, max_skew=0)


def test_the_secret_never_shows() -> None:
    hook = signed_header(SECRET)
    assert isinstance(hook, AuthHook)
    assert SECRET not in repr(hook) and SECRET not in str(hook)


# --- one real process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with uvicorn_server(FakeOrga()) as url:
        yield url


@pytest.fixture(scope="module")
def sidecar(upstream: str) -> Iterator[str]:
    env = {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_BASE_URL": upstream, "ORGA_SIDECAR_SECRET": SECRET}
    argv = ("serve", "--authorize", "signed-header", "--trusted-proxy", "127.0.0.1")
    with cli(*argv, env=env) as server:
        yield server.url
    assert SECRET not in server.output
    assert "Traceback" not in server.output


def call(url: str, value: str | None) -> httpx.Response:
    headers = {"x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.7"}
    if value is not None:
        headers["x-orga-principal"] = value
    return httpx.get(url + ROUTE, headers=headers, timeout=10)


@pytest.mark.servers
def test_serve_signed_header_refuses_bad_and_serves_signed(sidecar: str) -> None:
    good = sign("u.real")
    refused = {
        "forged": sign("u1", secret="another-secret-" + "x" * 40),
        "stale": sign("u1", time.time() - 120),
        "future": sign("u1", time.time() + 120),
        "malformed": "u1.notatime.zz",
        "missing": None,
    }
    for name, value in refused.items():
        assert call(sidecar, value).status_code == 401, name
    first = call(sidecar, good)
    assert first.status_code == 200, first.text
    assert first.json()["ephemeralToken"]
    assert call(sidecar, good).status_code == 401  # replayed


# --- the README snippets ------------------------------------------------------------


def snippet(language: str) -> str:
    text = README.read_text()
    section = text.split("### A sidecar for any backend", 1)[1].split("\n### ", 1)[0]
    found = re.search(f"```{language}\n(.*?)```", section, re.S)
    assert found, f"no {language} snippet in the README's sidecar section"
    return found.group(1)


@pytest.mark.servers
def test_readme_node_snippet_signs_a_header_the_hook_accepts(sidecar: str, tmp_path: Path) -> None:
    node = node_project().node
    script = tmp_path / "sign.cjs"
    script.write_text(
        snippet("js") + "\nconst req = { user: { id: process.argv[2] }, headers: {} };\n"
        "signForOrga(req, { sendStatus() { throw new Error('refused'); } }, () => {\n"
        "  console.log(req.headers['x-orga-principal']);\n});\n"
    )
    env = {**os.environ, "ORGA_SIDECAR_SECRET": SECRET}
    done = subprocess.run(
        [node, str(script), "node.user"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert call(sidecar, done.stdout.strip()).status_code == 200


@pytest.mark.servers
def test_readme_python_snippet_signs_a_header_the_hook_accepts(sidecar: str) -> None:
    namespace: dict[str, Any] = {}
    exec(snippet("python"), namespace)
    value = namespace["orga_principal_header"]("py.user", SECRET.encode())
    assert call(sidecar, value).status_code == 200


@pytest.mark.servers
def test_readme_go_snippet_signs_a_header_the_hook_accepts(sidecar: str, tmp_path: Path) -> None:
    go = require("go", "apt-get install golang-go")  # fails under CI=true when missing
    (tmp_path / "go.mod").write_text("module orgasign\n\ngo 1.18\n")
    (tmp_path / "sign.go").write_text(snippet("go"))
    (tmp_path / "sign_test.go").write_text(
        'package orgasign\n\nimport (\n\t"fmt"\n\t"net/http"\n\t"os"\n\t"testing"\n)\n\n'
        "func TestSign(t *testing.T) {\n"
        '\tr, _ := http.NewRequest("GET", "http://x/", nil)\n'
        '\tSignOrgaPrincipal(r, "go.user", []byte(os.Getenv("ORGA_SIDECAR_SECRET")))\n'
        '\tfmt.Println("HEADER=" + r.Header.Get("X-Orga-Principal"))\n}\n'
    )
    env = {**os.environ, "ORGA_SIDECAR_SECRET": SECRET, "GOFLAGS": "-mod=mod"}
    done = subprocess.run(
        [go, "test", "-v", "-count=1", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    value = re.search(r"HEADER=(\S+)", done.stdout)
    assert value, done.stdout
    assert call(sidecar, value.group(1)).status_code == 200
