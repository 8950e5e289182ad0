"""The seam between the exchange and an HTTP client.

By default one pooled ``aiohttp.ClientSession`` per endpoint (measured ~10x faster than
httpx's pool at 32 concurrent callers on loopback); a user-supplied ``httpx.AsyncClient``
(custom transports, an in-process FakeOrga, trio) when given. Both are reduced to one
call that returns status, a capped body and ``Retry-After``, and raises only
:class:`TransportTimeout` or :class:`TransportFailure`.
"""

from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING, NamedTuple, Protocol

import anyio
import httpx
import sniffio

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

__all__ = [
    "MAX_UPSTREAM_BODY",
    "AiohttpTransport",
    "HttpxTransport",
    "Transport",
    "TransportFailure",
    "TransportTimeout",
    "UpstreamReply",
    "default_transport",
]

# The two upstream bodies are a few hundred bytes; anything far larger is not Orga's
# answer, and reading it all would let a broken upstream exhaust our memory.
MAX_UPSTREAM_BODY = 256 * 1024


class UpstreamReply(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None


class TransportTimeout(Exception):
    """The call did not finish within its timeout."""


class TransportFailure(Exception):
    """The call failed below HTTP.

    Attributes:
        retryable: True when no request can have reached the upstream (connect errors, a
            pooled connection closed before it answered), so trying again is safe.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class BodyTooLarge(Exception):
    """The upstream body exceeded :data:`MAX_UPSTREAM_BODY`."""


class Transport(Protocol):
    async def request(
        self, method: str, url: str, authorization: str, timeout: float
    ) -> UpstreamReply: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """One lazily created, pooled ``aiohttp.ClientSession`` (asyncio only)."""

    def __init__(self, *, timeout: float, limit: int = 100) -> None:
        # Imported here, at construction, not on the first request: importing aiohttp
        # takes ~0.5 s and would block the event loop inside that request's deadline.
        import aiohttp  # noqa: F401

        self._timeout = timeout
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}

    def _session_for_loop(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            import aiohttp

            # Created on first use, never at import or construction: Starlette gives
            # mounted apps no lifespan, and a session must live on the running loop.
            connector = aiohttp.TCPConnector(
                limit=self._limit, keepalive_timeout=15, ttl_dns_cache=300
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                auto_decompress=True,
                trust_env=False,
            )
            self._session = session
        return session

    async def request(
        self, method: str, url: str, authorization: str, timeout: float
    ) -> UpstreamReply:
        import aiohttp

        session = self._session_for_loop()
        target = self._urls.get(url)
        if target is None:  # two URLs per endpoint: parse each once, not per request
            from yarl import URL

            target = self._urls[url] = URL(url)
        headers = {"Authorization": authorization, "Content-Type": "application/json"}
        kwargs = {}
        if timeout < self._timeout:  # only near the overall deadline
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        answered = False
        try:
            async with session.request(method, target, headers=headers, **kwargs) as resp:
                answered = True
                length = resp.content_length
                if length is not None and length > MAX_UPSTREAM_BODY:
                    raise BodyTooLarge
                if length is not None:
                    body = await resp.read()
                else:
                    body = await _read_capped(resp.content.iter_chunked(16384))
                return UpstreamReply(resp.status, body, resp.headers.get("Retry-After"))
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TransportTimeout(type(exc).__name__) from None
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
            # A refused connect, or a pooled keep-alive connection the upstream had
            # already closed: nothing was processed upstream, so a retry is safe.
            raise TransportFailure(type(exc).__name__, retryable=True) from None
        except aiohttp.ClientOSError as exc:
            # A reset (or broken pipe) before any response header: a pooled keep-alive
            # connection torn down with an RST instead of a FIN. Nothing was answered, so a
            # retry is as safe as after ServerDisconnectedError.
            retryable = not answered and exc.errno in (errno.ECONNRESET, errno.EPIPE)
            raise TransportFailure(type(exc).__name__, retryable=retryable) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportFailure(type(exc).__name__, retryable=False) from None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


class HttpxTransport:
    """An ``httpx.AsyncClient``: the user's (they close it) or our own under trio."""

    def __init__(self, client: httpx.AsyncClient | None, *, timeout: float) -> None:
        self._client = client
        self._owned = client is None
        self._timeout = timeout

    def _get_client(self) -> httpx.AsyncClient:
        client = self._client
        if client is not None and client.is_closed and not self._owned:
            # Never swap the user's client for a default one: it would bypass their
            # transport (a sandbox, a proxy, mTLS) and reach the real network instead.
            raise TransportFailure("the supplied http_client is closed", retryable=False)
        if client is None or client.is_closed:
            client = self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False)
        return client

    async def request(
        self, method: str, url: str, authorization: str, timeout: float
    ) -> UpstreamReply:
        client = self._get_client()
        headers = {"Authorization": authorization, "Content-Type": "application/json"}
        request = client.build_request(method, url, headers=headers, timeout=timeout)
        try:
            # httpx applies its timeouts to network I/O only; custom transports (an
            # in-process ASGITransport among them) ignore them, so bound the call here too.
            with anyio.fail_after(timeout):
                resp = await client.send(request, stream=True)
                try:
                    length = resp.headers.get("content-length")
                    if length is not None and length.isdigit() and int(length) > MAX_UPSTREAM_BODY:
                        raise BodyTooLarge
                    body = await _read_capped(resp.aiter_raw())
                finally:
                    await resp.aclose()
            return UpstreamReply(resp.status_code, body, resp.headers.get("retry-after"))
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise TransportTimeout(type(exc).__name__) from None
        except httpx.ConnectError as exc:
            raise TransportFailure(type(exc).__name__, retryable=True) from None
        except (httpx.TransportError, httpx.StreamError, OSError) as exc:
            raise TransportFailure(type(exc).__name__, retryable=False) from None

    async def aclose(self) -> None:
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


async def _read_capped(chunks: object) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:  # type: ignore[attr-defined]
        size += len(chunk)
        if size > MAX_UPSTREAM_BODY:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)


class _AutoTransport:
    """aiohttp on asyncio, our own httpx client on other event loops (trio)."""

    def __init__(self, *, timeout: float, limit: int) -> None:
        self._aiohttp = AiohttpTransport(timeout=timeout, limit=limit)
        self._httpx = HttpxTransport(None, timeout=timeout)

    async def request(
        self, method: str, url: str, authorization: str, timeout: float
    ) -> UpstreamReply:
        if sniffio.current_async_library() == "asyncio":
            return await self._aiohttp.request(method, url, authorization, timeout)
        return await self._httpx.request(method, url, authorization, timeout)

    async def aclose(self) -> None:
        await self._aiohttp.aclose()
        await self._httpx.aclose()


def default_transport(
    client: httpx.AsyncClient | None, *, timeout: float, limit: int = 100
) -> Transport:
    """The supplied httpx client if any, else aiohttp with an httpx fallback for trio."""
    if client is not None:
        return HttpxTransport(client, timeout=timeout)
    return _AutoTransport(timeout=timeout, limit=limit)
