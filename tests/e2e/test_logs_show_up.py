"""Issue 13, "Logs that show up": the commands of docs/logging.md, run as written against
real uvicorn, hypercorn and gunicorn on loopback, print the audit line with its request id,
give other records ``-``, and print no secret; so does ``orga-asgi dev``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._cli_process import cli
from tests._support import free_port, require_module, uvicorn_server

pytestmark = pytest.mark.servers

ROOT = Path(__file__).parents[2]
DOCS = (ROOT / "docs" / "logging.md").read_text()
COMMANDS = {
    line.split()[0]: line
    for block in re.findall(r"```bash\n(.*?)```", DOCS, re.S)
    for line in block.splitlines()
    if line.split()[:1] in (["uvicorn"], ["hypercorn"], ["gunicorn"])
}
[GUNICORN_CONF] = [s for s in re.findall(r"```python\n(.*?)```", DOCS, re.S) if "gunicorn" in s]
ROUTE = "/api/orga-client-secrets"
AUTH = {"authorization": "Bearer cell-token", "x-forwarded-proto": "https"}
QUERY_SECRET = "sk_orga_ai_querysecret0123456789"
# The page's access line: uvicorn shows the query (scrubbed), hypercorn only the path.
PAGE = re.compile(r'"GET /[ ?]')
ACCESS_LOGGER = {"uvicorn": "uvicorn.access", "hypercorn": "hypercorn.access"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with uvicorn_server(FakeOrga()) as url:
        yield url


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A deployment's directory: ``myapp.py`` is the server cells' app (a bearer hook)."""
    shutil.copy(Path(__file__).with_name("_server_app.py"), tmp_path / "myapp.py")
    return tmp_path


class Run:
    """A running command: its output so far, then (once stopped) all of it."""

    def __init__(self, log: IO[bytes]) -> None:
        self._log = log
        self.output = ""

    def text(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def settle(self, request_id: str, *, page: bool = True) -> None:
        """Wait (10 s at most) for the audit line and the page's access line: both are
        written once the answer was sent, so the client may see it first."""
        patterns = [re.compile(f"orga_asgi.audit.*request_id={request_id}")]
        patterns += [PAGE] if page else []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = self.text()
            if all(p.search(text) for p in patterns):
                return
            time.sleep(0.05)


@contextlib.contextmanager
def shell(command: str, *, cwd: Path, upstream: str, port: int) -> Iterator[Run]:
    """Run ``command`` as a user's shell would, until it listens on ``port``; always stop
    its process group."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGA_")}
    # The commands name `python`, `uvicorn`...: the ones of this interpreter's environment.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(ORGA_API_KEY=FAKE_API_KEY, ORGA_BASE_URL=upstream)
    with tempfile.TemporaryFile() as log:
        run = Run(log)
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        break  # the output, read below, says why
                    time.sleep(0.05)
            yield run
        finally:
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
                    break
            run.output = run.text()


def two_requests(base: str) -> tuple[str, list[str]]:
    """Mint once (the audit line), fetch the app's page with a secret in its query (another
    library's record, outside any request of the route). Returns the request id and the
    secrets the answers held."""
    minted = httpx.get(f"{base}{ROUTE}", headers=AUTH, timeout=10)
    assert minted.status_code == 200, minted.text
    body = minted.json()
    page = httpx.get(f"{base}/", params={"api_key": QUERY_SECRET}, timeout=10)
    assert page.status_code == 200
    turn = [s for s in body["iceServers"] if "credential" in s]
    secrets = [body["ephemeralToken"], *(s["credential"] for s in turn)]
    return minted.headers["x-request-id"], [*secrets, FAKE_API_KEY, "cell-token", QUERY_SECRET]


def assert_clean(output: str, secrets: list[str]) -> None:
    assert "Logging error" not in output
    assert "Traceback" not in output
    for secret in secrets:
        assert secret not in output


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
def test_the_documented_command_prints_the_audit_line_with_its_request_id(
    server: str, project: Path, upstream: str
) -> None:
    require_module(server, f"pip install {server} (nox -s servers)")
    port = free_port()
    command = COMMANDS[server].replace("8000", str(port))
    with shell(command, cwd=project, upstream=upstream, port=port) as run:
        request_id, secrets = two_requests(f"http://127.0.0.1:{port}")
        run.settle(request_id)
    text = run.output
    assert f" [{request_id}] orga_asgi.audit: request_id={request_id} " in text, text
    [page] = [line for line in text.splitlines() if PAGE.search(line)]
    assert f" [-] {ACCESS_LOGGER[server]}: " in page  # another library's record: a dash
    if server == "uvicorn":
        assert "api_key=[REDACTED]" in page
    assert_clean(text, secrets)


def test_uvicorn_log_level_still_sets_uvicorns_loggers(project: Path, upstream: str) -> None:
    port = free_port()
    command = COMMANDS["uvicorn"].replace("8000", str(port)) + " --log-level warning"
    with shell(command, cwd=project, upstream=upstream, port=port) as run:
        request_id, secrets = two_requests(f"http://127.0.0.1:{port}")
        run.settle(request_id, page=False)
    assert "uvicorn.error: Started server process" not in run.output
    assert "uvicorn.access" not in run.output
    assert f"orga_asgi.audit: request_id={request_id} " in run.output  # the file's INFO
    assert_clean(run.output, secrets)


def test_gunicorn_with_uvicorn_workers_and_the_json_config(project: Path, upstream: str) -> None:
    require_module("gunicorn", "pip install gunicorn uvicorn-worker (nox -s servers)")
    require_module("uvicorn_worker", "pip install uvicorn-worker (nox -s servers)")
    port = free_port()
    with shell(
        COMMANDS["gunicorn"].replace("8000", str(port)), cwd=project, upstream=upstream, port=port
    ) as run:
        request_id, secrets = two_requests(f"http://127.0.0.1:{port}")
        run.settle(request_id)
    text = run.output
    assert f" [{request_id}] orga_asgi.audit: request_id={request_id} " in text, text
    assert "[-] gunicorn.error: Booting worker" in text
    [page] = [line for line in text.splitlines() if PAGE.search(line)]
    assert " [-] uvicorn.access: " in page
    assert_clean(text, secrets)

    (project / "gunicorn.conf.py").write_text(GUNICORN_CONF.replace("8000", str(port)))
    with shell(
        "gunicorn -c gunicorn.conf.py myapp:app", cwd=project, upstream=upstream, port=port
    ) as run:
        request_id, secrets = two_requests(f"http://127.0.0.1:{port}")
        run.settle(request_id)
    events = [json.loads(line) for line in run.output.splitlines() if line.startswith("{")]
    [audit] = [e for e in events if e["logger"] == "orga_asgi.audit"]
    assert audit["request_id"] == request_id
    assert audit["audit"]["request_id"] == request_id
    assert audit["audit"]["outcome"] == "issued"
    [page] = [e for e in events if PAGE.search(e["message"])]
    assert page["logger"] == "uvicorn.access"
    assert page["request_id"] == "-"
    assert_clean(run.output, secrets)


def test_orga_asgi_dev_prints_the_audit_line_with_its_request_id() -> None:
    with cli("dev", env={}) as server:
        minted = httpx.get(f"{server.url}{ROUTE}", timeout=10)
    assert minted.status_code == 200
    request_id = minted.headers["x-request-id"]
    assert f" [{request_id}] orga_asgi.audit: request_id={request_id} " in server.output
    assert "[-] uvicorn.error: Application startup complete." in server.output
    assert_clean(server.output, [minted.json()["ephemeralToken"]])
