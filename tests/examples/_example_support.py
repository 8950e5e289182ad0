"""Helpers for the example tests: load an example afresh, drive its lifespan, or run the
one command written at its top exactly as a user would."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx

from orga_asgi import OrgaClientSecrets
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import free_port, uvicorn_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# Both switch an example from the sandbox to "real Orga"; a developer's shell may have them.
ORGA_ENV = ("ORGA_API_KEY", "ORGA_BASE_URL")
_loads = itertools.count()


LOOPBACK = ("127.0.0.1", 50123)


def load_sandboxed(monkeypatch: Any, relative: str) -> ModuleType:
    """Load an example with no ``ORGA_*`` in the environment: its sandbox mode."""
    for name in ORGA_ENV:
        monkeypatch.delenv(name, raising=False)
    return load_example(relative)


def endpoint_of(example: ModuleType) -> OrgaClientSecrets:
    """The example's endpoint: its module-level ``endpoint``, or that of its ``orga`` (the
    FastAPI router, the Litestar plugin)."""
    endpoint = getattr(example, "endpoint", None) or example.orga.endpoint
    assert isinstance(endpoint, OrgaClientSecrets)
    return endpoint


def sandbox_fake(example: ModuleType) -> FakeOrga:
    """The FakeOrga that the example's sandbox endpoint owns (it fails outside the sandbox)."""
    fake = endpoint_of(example).fake_orga
    assert fake is not None, "the example is not in sandbox mode"
    return fake


def local(app: object, client: tuple[str, int] = LOOPBACK) -> httpx.AsyncClient:
    """An in-process client calling ``app`` over plain http from this machine."""
    transport = httpx.ASGITransport(app=app, client=client)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


@contextlib.asynccontextmanager
async def real_mode(
    monkeypatch: Any, relative: str, fake: FakeOrga, *, api_key: str = FAKE_API_KEY
) -> AsyncIterator[httpx.AsyncClient]:
    """Run an example against "real Orga": ``fake`` on a loopback port named by
    ``ORGA_API_KEY``/``ORGA_BASE_URL``, the app started, a remote caller at
    ``https://app.example``."""
    with uvicorn_server(fake) as upstream:
        monkeypatch.setenv("ORGA_API_KEY", api_key)
        monkeypatch.setenv("ORGA_BASE_URL", upstream)
        example = load_example(relative)
        assert endpoint_of(example).fake_orga is None  # not the sandbox: Orga at ``upstream``
        transport = httpx.ASGITransport(app=example.app, client=("203.0.113.7", 40000))
        async with (
            lifespan(example.app),
            httpx.AsyncClient(transport=transport, base_url="https://app.example") as client,
        ):
            yield client


def load_example(relative: str) -> ModuleType:
    """Import ``examples/<relative>`` as a new module, so each test gets fresh state.

    Read the environment at import, as the example does: set or unset ORGA_* first.
    """
    path = EXAMPLES / relative
    name = f"_example_{path.stem}_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # frameworks resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run ``app``'s ASGI lifespan around the block, as a server does (startup, shutdown)."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](1)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](1)
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as tasks:
        tasks.start_soon(app, scope, app_inbox.receive, app_outbox.send)
        await to_app.send({"type": "lifespan.startup"})
        with anyio.fail_after(10):
            assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        yield
        await to_app.send({"type": "lifespan.shutdown"})
        with anyio.fail_after(10):
            assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


def documented_command(relative: str) -> str:
    """The run command written in the example's docstring (the first ``uvicorn`` line)."""
    for line in (EXAMPLES / relative).read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("uvicorn "):
            return line.strip()
    raise AssertionError(f"examples/{relative} documents no 'uvicorn ...' command")


@dataclass
class Served:
    url: str
    log: str = ""


@contextlib.contextmanager
def serve_command(command: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run ``command`` from the repository root on a free loopback port, as documented.

    ``env`` is added to the environment without the ORGA_* variables. After the block the
    server is stopped with SIGTERM and ``Served.log`` holds its output.
    """
    args = shlex.split(command)
    assert args[0] == "uvicorn", command
    port = free_port()
    # This interpreter's uvicorn, as the documented command would find in the venv.
    argv = [sys.executable, "-m", *args, "--port", str(port)]
    environment = {k: v for k, v in os.environ.items() if k not in ORGA_ENV}
    environment.update(env or {})
    served = Served(url=f"http://127.0.0.1:{port}")
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_listening(process, served.url, output)
            yield served
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            output.seek(0)
            served.log = output.read().decode(errors="replace")


def _wait_until_listening(process: subprocess.Popen[bytes], url: str, output: Any) -> None:
    # Importing a framework can take seconds on a busy machine: poll, with a bound.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output.seek(0)
            raise AssertionError(f"the example exited early:\n{output.read().decode()}")
        try:
            httpx.get(url + "/", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
        else:
            return
    raise AssertionError(f"the example did not listen on {url} within 60 s")


def sandbox_warnings(log: str) -> int:
    """How many times a served example logged the sandbox's WARNING (one per sandbox endpoint)."""
    return log.count("SANDBOX: this endpoint mints fake tokens")


def assert_clean_shutdown(log: str) -> None:
    """The server shut the app down through its lifespan, without an error."""
    assert "Application shutdown complete." in log, log
    assert "Traceback" not in log and "ERROR" not in log, log
