"""The httpx transport: a user-supplied ``httpx.AsyncClient``, or the kit's own under trio."""

from __future__ import annotations

import anyio
import httpx

from .base import TransportFailure, TransportTimeout, UpstreamReply
from .decoding import ACCEPT_ENCODING, read_body

__all__ = ["HttpxTransport"]


class HttpxTransport:
    """A :class:`~orga_asgi._upstream.base.Transport` over ``httpx.AsyncClient``.

    Args:
        client: the user's client (they close it), or ``None`` to create and own one.
        timeout: the default timeout of one call, in seconds.
    """

    def __init__(self, client: httpx.AsyncClient | None, *, timeout: float) -> None:
        self._client = client
        self._owned = client is None
        self._timeout = timeout

    def _get_client(self) -> httpx.AsyncClient:
        client = self._client
        if client is not None and client.is_closed and not self._owned:
            # Never swap the user's client for a default one: it would bypass their
            # transport (a sandbox, a proxy, mTLS) and reach the real network instead.
            raise TransportFailure("transport", retryable=False, detail="http_client is closed")
        if client is None or client.is_closed:
            client = self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False)
        return client

    async def request(
        self,
        method: str,
        url: str,
        authorization: str,
        timeout: float,
        body: bytes | None = None,
    ) -> UpstreamReply:
        """Send one request; see :class:`~orga_asgi._upstream.base.Transport`."""
        client = self._get_client()
        headers = {
            "Authorization": authorization,
            "Content-Type": "application/json",
            # Ours, not httpx's default: it would add br/zstd when those libraries happen
            # to be installed, and we decode the body ourselves (decoding.read_body).
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        request = client.build_request(method, url, headers=headers, timeout=timeout, content=body)
        answered = False
        failure: TransportFailure | TransportTimeout
        try:
            # httpx applies its timeouts to network I/O only; custom transports (an
            # in-process ASGITransport among them) ignore them, so bound the call here too.
            with anyio.fail_after(timeout):
                resp = await client.send(request, stream=True)
                answered = True
                try:
                    length = resp.headers.get("content-length")
                    content = await read_body(
                        # Raw bytes: httpx's decoders would inflate each chunk unbounded.
                        resp.aiter_raw(),
                        status=resp.status_code,
                        content_encoding=resp.headers.get("content-encoding"),
                        content_length=int(length) if length and length.isdigit() else None,
                    )
                finally:
                    await resp.aclose()
            return UpstreamReply(
                resp.status_code,
                content,
                resp.headers.get("retry-after"),
                resp.headers.get("content-type"),
            )
        except (httpx.TimeoutException, TimeoutError) as exc:
            failure = TransportTimeout(type(exc).__name__)
        except httpx.ConnectError as exc:
            failure = TransportFailure("connect", retryable=True, detail=type(exc).__name__)
        except (httpx.ReadError, httpx.WriteError) as exc:
            # Closed or reset: before the response head, as aiohttp's ServerDisconnectedError,
            # a pooled keep-alive connection the upstream had dropped, so a retry is safe.
            failure = TransportFailure(
                "disconnected", retryable=not answered, detail=type(exc).__name__
            )
        except httpx.RemoteProtocolError as exc:
            # Also how httpcore reports a pooled connection closed before any response
            # ("Server disconnected without sending a response"): retried like the above.
            failure = TransportFailure(
                "protocol", retryable=not answered, detail=type(exc).__name__
            )
        except (httpx.TransportError, httpx.StreamError, OSError) as exc:
            failure = TransportFailure("transport", retryable=False, detail=type(exc).__name__)
        # Raised here, after the handlers, not inside them: raised there it would carry the
        # client library's exception as its __context__ (``from None`` only hides it from
        # tracebacks), and that exception holds the request, Authorization header included.
        raise failure

    async def aclose(self) -> None:
        """Close the client if this transport created it."""
        if self._owned and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
