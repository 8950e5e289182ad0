"""The default transport: one lazily created, pooled ``aiohttp.ClientSession`` (asyncio only)."""

from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING

from .base import MAX_UPSTREAM_BODY, TransportFailure, TransportTimeout, UpstreamReply
from .decoding import ACCEPT_ENCODING, read_body

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

__all__ = ["AiohttpTransport"]


class AiohttpTransport:
    """A :class:`~orga_asgi._upstream.base.Transport` over aiohttp.

    Args:
        timeout: the default total timeout of one call, in seconds.
        limit: the connection pool size (0: unlimited, as aiohttp reads it).
    """

    def __init__(self, *, timeout: float, limit: int = 100) -> None:
        # Imported here, at construction, not on the first request: importing aiohttp
        # takes ~0.5 s and would block the event loop inside that request's deadline.
        import aiohttp

        self._timeout = timeout
        self._total = aiohttp.ClientTimeout(total=timeout)
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
                timeout=self._total,
                # Raw bytes: decoding.read_body inflates them under the cap, which
                # aiohttp's own decoder only does from 3.13 on.
                auto_decompress=False,
                trust_env=False,
                # No cookies: nothing the upstream sets is kept for the next principal's
                # call, and no jar is filtered and updated on every call.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._session = session
        return session

    async def request(
        self,
        method: str,
        url: str,
        authorization: str,
        timeout: float,
        body: bytes | None = None,
    ) -> UpstreamReply:
        """Send one request; see :class:`~orga_asgi._upstream.base.Transport`."""
        import aiohttp

        session = self._session
        if session is None or session.closed:  # a method call only the first time
            session = self._session_for_loop()
        target = self._urls.get(url)
        if target is None:  # a few URLs per endpoint: parse each once, not per request
            from yarl import URL

            target = self._urls[url] = URL(url)
        headers = {
            "Authorization": authorization,
            "Content-Type": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        # The session's own timeout, or a shorter one near the overall deadline.
        limit = self._total if timeout >= self._timeout else aiohttp.ClientTimeout(total=timeout)
        answered = False
        failure: TransportFailure | TransportTimeout
        try:
            # The contract has no redirects: a 3xx is reported as the status it is (as httpx
            # does by default), never followed to an origin the operator did not configure.
            async with session.request(
                method, target, headers=headers, data=body, timeout=limit, allow_redirects=False
            ) as resp:
                answered = True
                # Every Content-Encoding line: two lines are two codings, as in httpx.
                codings = resp.headers.getall("Content-Encoding", ())
                length = resp.content_length
                if not codings and length is not None and length <= MAX_UPSTREAM_BODY:
                    # Not encoded, and a length within the cap: aiohttp's parser stops at
                    # Content-Length, so one read() is bounded (what a mint gets from Orga).
                    content = await resp.read()
                else:
                    content = await read_body(
                        resp.content.iter_any(),
                        status=resp.status,
                        content_encoding=", ".join(codings),
                        content_length=length,
                    )
                return UpstreamReply(
                    resp.status,
                    content,
                    resp.headers.get("Retry-After"),
                    resp.headers.get("Content-Type"),
                )
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            failure = TransportTimeout(type(exc).__name__)
        except aiohttp.ClientConnectorError as exc:
            failure = TransportFailure("connect", retryable=True, detail=type(exc).__name__)
        except aiohttp.ServerDisconnectedError as exc:
            # A pooled keep-alive connection the upstream had already closed: before any
            # answer nothing was processed upstream, so a retry is safe.
            failure = TransportFailure(
                "disconnected", retryable=not answered, detail=type(exc).__name__
            )
        except aiohttp.ClientOSError as exc:
            # A reset (or broken pipe) before any response header: a pooled keep-alive
            # connection torn down with an RST instead of a FIN. Nothing was answered, so a
            # retry is as safe as after ServerDisconnectedError.
            retryable = not answered and exc.errno in (errno.ECONNRESET, errno.EPIPE)
            failure = TransportFailure(
                "disconnected", retryable=retryable, detail=type(exc).__name__
            )
        except aiohttp.ClientResponseError as exc:
            # Not HTTP: a malformed status line or header, headers past aiohttp's limits.
            failure = TransportFailure("protocol", retryable=False, detail=type(exc).__name__)
        except aiohttp.ClientPayloadError as exc:
            # The body ended early (a cut connection, a short Content-Length, a broken chunk).
            failure = TransportFailure("disconnected", retryable=False, detail=type(exc).__name__)
        except (aiohttp.ClientError, OSError) as exc:
            failure = TransportFailure("transport", retryable=False, detail=type(exc).__name__)
        # Raised here, after the handlers, not inside them: raised there it would carry the
        # client library's exception as its __context__ (``from None`` only hides it from
        # tracebacks), and that exception holds the request, Authorization header included.
        raise failure

    async def aclose(self) -> None:
        """Close the session and its pool."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
