"""pytest fixtures for testing apps that use orga-asgi (registered as a pytest plugin).

Installed with the package, so any test can ask for them:

- ``fake_orga``: a fresh :class:`orga_asgi.testing.FakeOrga`.
- ``fake_orga_client``: an ``httpx.AsyncClient`` wired to it in-process, at
  :data:`orga_asgi.testing.FAKE_BASE_URL`; pass it as ``http_client``.

Kept apart from :mod:`orga_asgi.testing` so that apps importing ``sandbox_client`` at run
time never import pytest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from .testing import FakeOrga, sandbox_client

__all__ = ["fake_orga", "fake_orga_client"]


@pytest.fixture
def fake_orga() -> FakeOrga:
    """A fresh :class:`FakeOrga` with the default key (:data:`FAKE_API_KEY`)."""
    return FakeOrga()


@pytest.fixture
async def fake_orga_client(fake_orga: FakeOrga) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` wired to ``fake_orga``; use from tests marked anyio."""
    async with sandbox_client(fake_orga) as client:
        yield client
