"""The seam between the exchange and an HTTP client: :class:`Transport`.

Everything the exchange needs from HTTP is one call, ``request()``, returning an
:class:`UpstreamReply` and raising only the three exceptions below. Two implementations
exist: aiohttp (the default, one pooled session per endpoint) and httpx (when the user
supplies an ``httpx.AsyncClient``: custom transports, an in-process FakeOrga, trio). A third
one (another client, a recording wrapper) is one class with these two methods.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = [
    "MAX_UPSTREAM_BODY",
    "BodyTooLarge",
    "InvalidBody",
    "Transport",
    "TransportFailure",
    "TransportTimeout",
    "UndecodableBody",
    "UpstreamReply",
]

# The two upstream bodies are a few hundred bytes; anything far larger is not Orga's
# answer, and reading it all would let a broken upstream exhaust our memory. The cap
# applies to the bytes on the wire and, separately, to the decoded bytes.
MAX_UPSTREAM_BODY = 256 * 1024


class UpstreamReply(NamedTuple):
    """What one HTTP attempt got back.

    Attributes:
        status: the HTTP status code.
        body: the decoded body, at most :data:`MAX_UPSTREAM_BODY` bytes. Empty for a
            non-2xx reply whose body could not be read within the cap (error bodies are
            never parsed nor forwarded, so a broken one must not hide the status).
        retry_after: the raw ``Retry-After`` header, if any.
        content_type: the raw ``Content-Type`` header, if any.
    """

    status: int
    body: bytes
    retry_after: str | None
    content_type: str | None = None


class TransportTimeout(Exception):
    """The call did not finish within its timeout."""


class TransportFailure(Exception):
    """The call failed below HTTP.

    Attributes:
        kind: a low-cardinality name for what failed: ``"connect"`` (nothing reached the
            upstream), ``"disconnected"`` (the connection closed or reset, the body cut
            short), ``"protocol"`` (what came back is not HTTP), ``"transport"`` (anything
            else below HTTP). Used as the attempt's ``error_type``.
        retryable: True when no request can have been processed by the upstream
            (connect errors, a pooled connection closed before it answered), so trying
            again is safe.
    """

    def __init__(self, kind: str, *, retryable: bool, detail: str = "") -> None:
        # Our own text (a kind and an exception type name): never a secret.
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.retryable = retryable


class InvalidBody(Exception):
    """A 2xx body that cannot be read as sent: too large, or not decodable.

    Attributes:
        status: the status of the reply whose body failed.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(InvalidBody):
    """The body exceeded :data:`MAX_UPSTREAM_BODY`, on the wire or decoded."""


class UndecodableBody(InvalidBody):
    """The ``Content-Encoding`` is unknown, or the encoded stream is corrupt or truncated."""


class Transport(Protocol):
    """THE seam to the upstream: one HTTP call, reduced to what the exchange needs.

    The default is aiohttp (measured ~10x faster than httpx's pool at 32 concurrent callers
    on loopback); a user-supplied ``httpx.AsyncClient`` is wrapped by the httpx
    implementation instead (and, under trio, the kit's own httpx client is used). Every
    implementation keeps the same contract, which the exchange relies on:

    - it sends ``Authorization`` exactly as given (a secret: never logged nor put in an
      exception), ``Content-Type: application/json`` and ``Accept-Encoding`` naming only
      the codings :mod:`orga_asgi._upstream.decoding` reads;
    - it reads the body through that module, so the decoded body is capped while it
      streams, whatever the client library's own decoders would do;
    - it raises only :class:`TransportTimeout`, :class:`TransportFailure` or
      :class:`InvalidBody` (anything else is a bug the exchange still turns into an
      ``UpstreamError``);
    - it opens connections lazily and closes what it owns in :meth:`aclose`.
    """

    async def request(
        self,
        method: str,
        url: str,
        authorization: str,
        timeout: float,
        body: bytes | None = None,
    ) -> UpstreamReply:
        """Send one request and return its reply.

        Args:
            method: ``"GET"`` or ``"POST"``.
            url: the absolute URL (it carries no secret).
            authorization: the whole ``Authorization`` header value.
            timeout: seconds for the whole call, body included.
            body: the request body, if any (JSON).
        """
        ...

    async def aclose(self) -> None:
        """Close what this transport opened (never a client the user supplied)."""
        ...
