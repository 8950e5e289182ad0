"""An ``httpx.AsyncClient`` wired to a FakeOrga in-process, for apps and local runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._fake import FAKE_BASE_URL, FakeOrga

if TYPE_CHECKING:
    import httpx

__all__ = ["sandbox_client"]


def sandbox_client(fake: FakeOrga | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that reaches ``fake`` (a new FakeOrga by default) in-process.

    Pass it as ``http_client`` together with ``api_key=FAKE_API_KEY`` and
    ``base_url=FAKE_BASE_URL`` to run an endpoint with no account and no network; close it
    when the app shuts down. ``sandbox=True`` (or ``ORGA_SANDBOX=1``) does all of that for
    you; this client is for a FakeOrga of your own (other keys, a ttl, a clock).
    """
    import httpx  # imported here: apps that never ask for the sandbox need not load httpx

    transport = httpx.ASGITransport(app=fake if fake is not None else FakeOrga())
    return httpx.AsyncClient(transport=transport, base_url=FAKE_BASE_URL)
