"""deploy/Dockerfile and docs/deployment.md's process models, run on the host.

The Dockerfile cannot be built here (no registry), so its instructions are checked and its
CMD and HEALTHCHECK run as the image would run them, with the environment it sets. Then the
page's ``--workers`` command on a real Redis, and its uvicorn and gunicorn commands for
users' own apps, against an app that shows what the server made of a forged request.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import orga_asgi
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._cli_process import cli
from tests._support import free_port, require_module, uvicorn_server
from tests.e2e._deployment import ROOT, ROUTE, SECRET, fenced, sign, started, substitute

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
pytestmark = [pytest.mark.servers, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with uvicorn_server(FakeOrga()) as url:
        yield url


# --- deploy/Dockerfile ---------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (
            line.partition(" ") for line in lines if line and not line.startswith("#")
        )
    ]


def dockerfile() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for word, rest in instructions():
        found.setdefault(word, []).append(rest)
    return found


def test_the_dockerfile_runs_as_a_user_with_a_healthcheck() -> None:
    found = dockerfile()
    assert found["FROM"] == ["python:3.12-slim"]
    order = [word for word, _ in instructions()]
    user = found["USER"][-1]
    assert user.split(":")[0] not in ("root", "0"), user
    assert order.index("USER") > max(i for i, w in enumerate(order) if w == "RUN")
    assert any("orga-asgi[server" in run for run in found["RUN"])
    assert f"ORGA_ASGI_VERSION={orga_asgi.__version__}" in found["ARG"], "pin the release"
    assert len(found["HEALTHCHECK"]) == 1 and len(found["CMD"]) == 1
    cmd = json.loads(found["CMD"][0])
    assert cmd[:2] == ["orga-asgi", "serve"]
    assert found["EXPOSE"] == [cmd[cmd.index("--port") + 1]]
    assert f":{found['EXPOSE'][0]}/healthz" in found["HEALTHCHECK"][0]


def test_the_dockerfile_cmd_serves_and_its_healthcheck_sees_it(upstream: str) -> None:
    found = dockerfile()
    env: dict[str, str] = {}
    for line in found["ENV"]:
        env.update(part.split("=", 1) for part in shlex.split(line))  # type: ignore[misc]
    cmd = json.loads(found["CMD"][0])
    port = cmd[cmd.index("--port") + 1]
    at = cmd.index("--host")
    assert cmd[at + 1] == "0.0.0.0"  # in the container; here, loopback only
    argv = [*cmd[1:at], "--host", "127.0.0.1", *cmd[at + 2 :]]
    argv = argv[: argv.index("--port")] + argv[argv.index("--port") + 2 :]
    check = json.loads(found["HEALTHCHECK"][0].split(" CMD ", 1)[1])
    assert check[0] == "python"
    # What the page's `docker run` adds (the secrets, the proxy's address), and the fake
    # upstream in place of Orga.
    env.update(ORGA_API_KEY=FAKE_API_KEY, ORGA_BASE_URL=upstream, ORGA_SIDECAR_SECRET=SECRET)
    env["ORGA_TRUSTED_PROXIES"] = "127.0.0.1"
    program = str(Path(sys.executable).with_name("orga-asgi"))
    with cli(*argv, env=env, command=[program]) as server:
        here = server.url.rsplit(":", 1)[1]
        health = [sys.executable, *(arg.replace(f":{port}/", f":{here}/") for arg in check[1:])]
        done = subprocess.run(health, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        token = httpx.get(
            server.url + ROUTE,
            headers={"X-Orga-Principal": sign("docker.user"), "X-Forwarded-Proto": "https"},
            timeout=10,
        )
        assert token.status_code == 200, token.text
    assert subprocess.run(health, capture_output=True, timeout=30).returncode != 0  # stopped


# --- several processes, and users' own uvicorn / gunicorn ------------------------------------


@pytest.mark.redis
def test_the_workers_command_shares_redis_and_each_worker_remembers_alone(
    upstream: str, tmp_path: Path
) -> None:
    from tests._redis import RedisServer, redis_binary

    command = fenced("sh", "orga-asgi serve ").replace("\\\n", " ")
    redis = RedisServer(redis_binary())
    redis.start()
    try:
        # Two workers, not the page's four: this machine's cores are shared.
        argv = shlex.split(
            substitute(
                command, {"--workers 4": "--workers 2", "redis://127.0.0.1:6379/0": redis.url}
            )
        )[1:]
        at = argv.index("--port")
        env = {
            "ORGA_API_KEY": FAKE_API_KEY,
            "ORGA_BASE_URL": upstream,
            "ORGA_SIDECAR_SECRET": SECRET,
        }
        with cli(*argv[:at], *argv[at + 2 :], env=env, start_timeout=60) as server:
            value = sign("replayed")
            statuses = []
            for i in range(8):  # a new connection each time, so that both workers see some
                headers = {"X-Orga-Principal": value, "X-Forwarded-Proto": "https"}
                headers["X-Forwarded-For"] = f"198.51.100.{i + 10}"
                statuses.append(
                    httpx.get(server.url + ROUTE, headers=headers, timeout=10).status_code
                )
            assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        redis.cleanup()
    # What the page says: each worker accepts a header once, so at most once per worker.
    assert 1 <= statuses.count(200) <= 2 and statuses.count(401) == 8 - statuses.count(200)


ECHO_APP = '''\
import json


async def app(scope, receive, send):
    """What the server made of the request: its scheme and client, after any rewriting."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps({"scheme": scope["scheme"], "client": scope["client"][0]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})
'''


def served_as(argv: list[str], folder: Path) -> dict[str, str]:
    """What an app under ``argv`` (its port replaced) sees of a forged forwarded request."""
    port = free_port()
    argv = [str(Path(sys.executable).with_name(argv[0])), *argv[1:]]
    argv = [arg.replace("8000", str(port)) for arg in argv]
    (folder / "app.py").write_text(ECHO_APP)
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with started(argv, ports=[port], log=folder / f"{port}.log", cwd=folder):
        seen: dict[str, str] = httpx.get(
            f"http://127.0.0.1:{port}/", headers=forged, timeout=10
        ).json()
    return seen


def test_uvicorn_flags_leave_the_forwarding_headers_to_trusted_proxies(tmp_path: Path) -> None:
    line = next(x for x in fenced("sh", "uvicorn ").splitlines() if x.startswith("uvicorn "))
    argv = shlex.split(line, comments=True)
    assert argv[-2:] == ["--forwarded-allow-ips", ""]
    untouched = {"scheme": "http", "client": "127.0.0.1"}
    assert served_as(argv, tmp_path) == untouched
    assert served_as([*argv[:-2], "--no-proxy-headers"], tmp_path) == untouched  # "or"
    # Why: by default uvicorn believes a local process that says it is a remote https client.
    assert served_as(argv[:-2], tmp_path) == {"scheme": "https", "client": "203.0.113.9"}


def test_gunicorn_with_uvicorn_workers_and_the_flag_leaves_them_too(tmp_path: Path) -> None:
    require_module("gunicorn", "pip install gunicorn (the e2e dependency group has it)")
    require_module("uvicorn_worker", "pip install uvicorn-worker (the e2e dependency group)")
    argv = shlex.split(fenced("sh", "gunicorn "))
    assert argv[-2:] == ["--forwarded-allow-ips", ""]
    at = argv.index("-w")
    argv[at + 1] = "1"  # the flag is what is checked, not the number of processes
    assert served_as(argv, tmp_path) == {"scheme": "http", "client": "127.0.0.1"}
