"""Which :class:`~orga_asgi._upstream.base.Transport` an endpoint gets."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import sniffio

from ._aiohttp import AiohttpTransport
from ._httpx import HttpxTransport

if TYPE_CHECKING:
    import httpx

    from .base import Transport, UpstreamReply

__all__ = ["AiohttpTransport", "HttpxTransport", "default_transport"]


class _AutoTransport:
    """aiohttp on asyncio, our own httpx client on other event loops (trio)."""

    def __init__(self, *, timeout: float, limit: int) -> None:
        self._aiohttp = AiohttpTransport(timeout=timeout, limit=limit)
        self._httpx = HttpxTransport(None, timeout=timeout)

    def request(
        self,
        method: str,
        url: str,
        authorization: str,
        timeout: float,
        body: bytes | None = None,
    ) -> Coroutine[Any, Any, UpstreamReply]:
        # A plain method handing back the chosen transport's coroutine: no frame of its own
        # on every upstream call. The library as sniffio.current_async_library() names it,
        # from the two markers it documents for event loops to set (trio sets the thread's,
        # trio-asyncio the context's); neither set, inside a coroutine, is asyncio, which
        # sets none (that function would then sniff asyncio's current task, a cost per call).
        library = sniffio.thread_local.name or sniffio.current_async_library_cvar.get()
        if library is None or library == "asyncio":
            return self._aiohttp.request(method, url, authorization, timeout, body)
        return self._httpx.request(method, url, authorization, timeout, body)

    async def aclose(self) -> None:
        await self._aiohttp.aclose()
        await self._httpx.aclose()


def default_transport(
    client: httpx.AsyncClient | None, *, timeout: float, limit: int = 100
) -> Transport:
    """The supplied httpx client if any, else aiohttp with an httpx fallback for trio.

    Args:
        client: the user's ``http_client``; it is used as is and never closed here.
        timeout: the default timeout of one call, in seconds.
        limit: the aiohttp pool size.
    """
    if client is not None:
        return HttpxTransport(client, timeout=timeout)
    return _AutoTransport(timeout=timeout, limit=limit)
