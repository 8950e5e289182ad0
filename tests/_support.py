"""Shared helpers for the suite: endpoints wired to a FakeOrga, clients, real servers, log
capture, and the one policy for a missing dependency (:func:`require`).

Imported as ``from tests._support import ...``: ``tests`` is a package, and pytest's
default (prepend) import mode puts the repository root on ``sys.path`` for it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any, NoReturn

import anyio
import httpx
import pytest

from orga_asgi import OrgaClientSecrets, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, FaultRoute, sandbox_client

CALLER = ("203.0.113.7", 40000)  # a documentation address: not loopback, not trusted
seen_responses: list[httpx.Response] = []  # read by the leak guard in conftest.py


def fake_client(fake: FakeOrga) -> httpx.AsyncClient:
    """An httpx client whose every request reaches ``fake`` in-process (the shipped
    ``sandbox_client``; the ``fake_orga_client`` fixture is the same for one test)."""
    return sandbox_client(fake)


def make_endpoint(fake: FakeOrga, **overrides: Any) -> OrgaClientSecrets:
    """An endpoint against ``fake`` in-process; ``overrides`` win."""
    options: dict[str, Any] = {
        "authorize": allow_anonymous,
        "api_key": FAKE_API_KEY,
        "base_url": FAKE_BASE_URL,
        "http_client": fake_client(fake),
    }
    options.update(overrides)
    return OrgaClientSecrets(**options)


def track_closes(endpoint: OrgaClientSecrets) -> list[bool]:
    """Record every ``aclose()`` of ``endpoint`` (it still closes for real)."""
    closed: list[bool] = []
    original = endpoint.aclose

    async def aclose() -> None:
        closed.append(True)
        await original()

    endpoint.aclose = aclose  # type: ignore[method-assign]
    return closed


def caller(
    app: Any, *, scheme: str = "https", client: tuple[str, int] = CALLER, **kwargs: Any
) -> httpx.AsyncClient:
    """A client calling ``app`` in-process as a remote browser would, over ``scheme``."""

    async def remember(response: httpx.Response) -> None:
        # Handed to the leak guard, which checks headers and error bodies after the test.
        await response.aread()
        seen_responses.append(response)

    transport = httpx.ASGITransport(app=app, client=client)
    hooks = kwargs.pop("event_hooks", {})
    hooks.setdefault("response", []).append(remember)
    return httpx.AsyncClient(
        transport=transport, base_url=f"{scheme}://testserver", event_hooks=hooks, **kwargs
    )


async def upstream_reached(
    fake: FakeOrga, calls: int, route: FaultRoute = "client-secrets"
) -> None:
    """Wait until ``fake`` has received ``calls`` calls of ``route`` (it records a call before
    any delay it injects): a request is then past admission, holding what it holds. A sleep
    would be a guess that a busy machine can outlast."""
    with anyio.fail_after(10):
        while len(fake.calls_to(route)) < calls:  # noqa: ASYNC110 - the fake sets no event
            await anyio.sleep(0.005)


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing dependency (Redis, Chromium), except under ``CI=true``, where a
    skip would let the run go green without the test: there it fails."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this test must run)")
    # allow_module_level: a test module may require a package before importing from it.
    pytest.skip(reason, allow_module_level=True)


def require(binary: str, install_hint: str) -> str:
    """The path of ``binary`` (a name looked up on PATH, or a path); :func:`unavailable`
    with ``install_hint`` (what to install, e.g. ``apt-get install redis-server``) if it
    is missing."""
    found = shutil.which(binary)
    if found is None:
        unavailable(f"needs {binary}: {install_hint}")
    return found


def require_module(name: str, install_hint: str) -> ModuleType:
    """Import ``name``; :func:`unavailable` with ``install_hint`` if it is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name.partition(".")[0] and exc.name != name:
            raise  # the module is there but broken: that is a failure, not a skip
        unavailable(f"needs the Python package {name}: {install_hint}")


class LogCapture(logging.Handler):
    """Every record logged while installed, formatted (with its traceback) when emitted.

    :meth:`install` hooks it on loggers by name (default: the root, plus uvicorn's, which do
    not propagate) at DEBUG, and sets the ``orga_asgi`` loggers to DEBUG too, so checks see
    what any verbose deployment would write. Also a context manager: ``with
    LogCapture().installed("orga_asgi") as logs: ...``.
    """

    ROOT_AND_SERVERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")

    def __init__(self, fmt: str = "%(levelname)s %(name)s %(message)s") -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(fmt))
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self._hooked: list[logging.Logger] = []
        self._levels: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a record that cannot be formatted is a bug too
            text = f"UNFORMATTABLE {record.name} {record.msg!r}: {exc!r}"
        self.records.append(record)
        self.lines.append(text)

    def install(self, *names: str) -> LogCapture:
        """Hook on the loggers ``names`` (default :attr:`ROOT_AND_SERVERS`)."""
        hooked = [logging.getLogger(name or None) for name in names or self.ROOT_AND_SERVERS]
        # The first logger named (the root by default) and the package's pass DEBUG records;
        # the others keep their levels, as a deployment's would.
        for logger in dict.fromkeys((hooked[0], logging.getLogger("orga_asgi"))):
            self._levels.append((logger, logger.level))
            logger.setLevel(logging.DEBUG)
        for logger in hooked:
            logger.addHandler(self)
        self._hooked = hooked
        return self

    def uninstall(self) -> None:
        for logger in self._hooked:
            logger.removeHandler(self)
        for logger, level in reversed(self._levels):
            logger.setLevel(level)
        self._hooked, self._levels = [], []

    @contextlib.contextmanager
    def installed(self, *names: str) -> Iterator[LogCapture]:
        self.install(*names)
        try:
            yield self
        finally:
            self.uninstall()

    def text(self) -> str:
        return "\n".join(self.lines)

    def leak_texts(self) -> list[str]:
        """Each line with its record's raw ``args``: a secret must be in neither."""
        pairs = zip(self.lines, self.records, strict=True)
        return [f"{line} {record.args!r}" for line, record in pairs]

    def clear(self) -> None:
        self.lines.clear()
        self.records.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(app: Any, *, port: int | None = None, **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a loopback port in a thread; yield its base URL."""
    import uvicorn

    port = port or free_port()
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "access_log": False}
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
