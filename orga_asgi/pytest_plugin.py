"""pytest fixtures for testing apps that use orga-asgi (registered as a pytest plugin).

Installed with the package, so any test can ask for them:

- ``fake_orga``: a fresh :class:`orga_asgi.testing.FakeOrga`, to queue faults on and to
  read the calls it received.
- ``fake_orga_client``: an ``httpx.AsyncClient`` reaching it in-process, at
  :data:`orga_asgi.testing.FAKE_BASE_URL`; pass it as ``http_client`` together with
  ``api_key=FAKE_API_KEY`` and ``base_url=FAKE_BASE_URL``.
- ``fake_orga_transport``: the ``httpx.ASGITransport`` under that client, for a client of
  your own (other headers, hooks, timeouts).

Every fixture is synchronous, so the same fixtures serve async tests run by anyio
(``@pytest.mark.anyio``), by pytest-asyncio in strict mode (``@pytest.mark.asyncio``) or in
auto mode, and plain sync tests driving an app with Starlette's or FastAPI's
``TestClient``. That works because nothing here needs a running event loop: an
``httpx.AsyncClient`` binds to none when built, and the in-process transport holds no
socket, so the client is usable from whichever loop the test (or ``TestClient``'s portal
thread) runs.

Kept apart from :mod:`orga_asgi.testing` so that apps importing ``sandbox_client`` at run
time never import pytest.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .testing import FAKE_BASE_URL, FakeOrga

__all__ = ["fake_orga", "fake_orga_client", "fake_orga_transport"]


@pytest.fixture
def fake_orga() -> FakeOrga:
    """A fresh :class:`FakeOrga` with the default key (:data:`FAKE_API_KEY`)."""
    return FakeOrga()


@pytest.fixture
def fake_orga_transport(fake_orga: FakeOrga) -> httpx.ASGITransport:
    """An ``httpx.ASGITransport`` whose every request reaches ``fake_orga`` in-process."""
    return httpx.ASGITransport(app=fake_orga)


@pytest.fixture
def fake_orga_client(fake_orga_transport: httpx.ASGITransport) -> Iterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` wired to ``fake_orga``, closed after the test.

    Usable from async tests under anyio or pytest-asyncio and from sync ``TestClient``
    tests alike (see the module docstring).
    """
    client = httpx.AsyncClient(transport=fake_orga_transport, base_url=FAKE_BASE_URL)
    yield client
    _close_in_process(client)


def _close_in_process(client: httpx.AsyncClient) -> None:
    """Close ``client`` without an event loop.

    A sync fixture cannot await ``aclose()``, and starting a loop of our own in teardown
    would fight whichever plugin owns the test's loop. Over an in-process transport
    ``aclose()`` only flips the client's state and never suspends, so it is driven to its
    end right here. Should a future httpx make it suspend, there is still no socket to
    release: the coroutine is dropped.
    """
    closing = client.aclose()
    try:
        closing.send(None)
    except StopIteration:
        return
    closing.close()
