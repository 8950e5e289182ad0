"""Reading an upstream body: ``Content-Encoding`` decoded here, every byte capped as it streams.

Both transports read the raw bytes and decode them here instead of trusting their client
library's decoders: httpx 0.28 inflates each network chunk without a limit (one 64 KiB gzip
chunk of zeros becomes 64 MiB before any cap can look at it) and older aiohttp versions did
the same. zlib's ``max_length`` bounds every step to what the cap still allows, so a
compression bomb costs at most :data:`MAX_UPSTREAM_BODY` bytes, and both transports accept
exactly the same codings: the ones :data:`ACCEPT_ENCODING` advertises.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable

from .base import MAX_UPSTREAM_BODY, BodyTooLarge, InvalidBody, UndecodableBody

__all__ = ["ACCEPT_ENCODING", "BodyReader", "read_body"]

ACCEPT_ENCODING = "gzip, deflate"
_ALIASES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}
_MAX_CODINGS = 2  # "gzip" or "deflate", possibly stacked once; more is no real server
# Concatenated gzip members are legal but one is the rule: thousands of empty 20-byte members
# in a capped body would each cost a new zlib stream (~0.3 s of event loop for 256 KiB).
_MAX_MEMBERS = 32


class _Inflater:
    """One gzip or deflate layer; its output never exceeds ``limit`` bytes in total."""

    __slots__ = ("_coding", "_head", "_limit", "_members", "_obj", "_produced")

    def __init__(self, coding: str, limit: int) -> None:
        self._coding = coding
        self._limit = limit
        self._produced = 0
        self._members = 1
        self._head = b""  # deflate: the first bytes, until the zlib header can be told apart
        self._obj: zlib._Decompress | None = (
            zlib.decompressobj(16 + zlib.MAX_WBITS) if coding == "gzip" else None
        )

    def feed(self, data: bytes) -> bytes:
        obj = self._obj
        if obj is None:  # deflate: RFC 9110 says zlib-wrapped; some servers send raw deflate
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            obj = self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out: list[bytes] = []
        try:
            while data:
                if obj.eof:
                    if self._coding != "gzip":
                        raise UndecodableBody("data after the end of the deflate stream")
                    self._members += 1
                    if self._members > _MAX_MEMBERS:
                        raise UndecodableBody("too many gzip members")
                    obj = self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)  # next member
                # One byte more than the budget: producing it proves the body is too large,
                # and zlib never inflates past it (the rest waits in unconsumed_tail).
                chunk = obj.decompress(data, self._limit - self._produced + 1)
                self._produced += len(chunk)
                if self._produced > self._limit:
                    raise BodyTooLarge("decoded body too large")
                out.append(chunk)
                data = obj.unused_data if obj.eof else b""
        except zlib.error:
            raise UndecodableBody(f"corrupt {self._coding} stream") from None
        return b"".join(out)

    def finish(self) -> None:
        if self._obj is None and not self._head:
            return  # nothing was sent: an empty body, which the caller judges
        if self._obj is None or not self._obj.eof:
            raise UndecodableBody(f"truncated {self._coding} stream")


class BodyReader:
    """Decodes ``content_encoding`` chunk by chunk, refusing more than ``limit`` bytes
    on the wire or in any decoded layer.

    Raises:
        UndecodableBody: an unknown coding (at construction), a corrupt or truncated stream.
        BodyTooLarge: the raw or decoded body exceeded ``limit``.
    """

    __slots__ = ("_layers", "_limit", "_parts", "_raw", "_size")

    def __init__(self, content_encoding: str | None, limit: int = MAX_UPSTREAM_BODY) -> None:
        codings: list[str] = []
        for token in (content_encoding or "").split(","):
            name = token.strip().lower()
            if name in ("", "identity"):
                continue
            coding = _ALIASES.get(name)
            if coding is None:
                # Named by the upstream: not ours to echo (bounded, for the logs' sake).
                raise UndecodableBody("unsupported content-encoding")
            codings.append(coding)
        if len(codings) > _MAX_CODINGS:
            raise UndecodableBody("too many content-encodings")
        # Codings are listed in the order they were applied: undo the last one first.
        self._layers = [_Inflater(c, limit) for c in reversed(codings)]
        self._limit = limit
        self._raw = 0
        self._size = 0
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self._raw += len(chunk)
        if self._raw > self._limit:
            raise BodyTooLarge("body too large")
        for layer in self._layers:
            chunk = layer.feed(chunk)
        if chunk:
            self._size += len(chunk)
            if self._size > self._limit:  # reached only without a coding: layers cap first
                raise BodyTooLarge("body too large")
            self._parts.append(chunk)

    def finish(self) -> bytes:
        """Check every layer ended where it should, and return the decoded body."""
        for layer in self._layers:
            layer.finish()
        return b"".join(self._parts)


async def read_body(
    chunks: AsyncIterable[bytes],
    *,
    status: int,
    content_encoding: str | None,
    content_length: int | None,
) -> bytes:
    """Read and decode a reply body under the cap.

    A 2xx body that cannot be read raises :class:`InvalidBody` (with ``status`` set). A
    non-2xx body is never parsed nor forwarded, so reading it is best effort: on any
    problem it is dropped (``b""``) and the status stands, the connection then closed by
    the client library because the body was left unread.
    """
    try:
        if content_length is not None and content_length > MAX_UPSTREAM_BODY:
            raise BodyTooLarge("body too large")  # refused before a byte is read
        reader = BodyReader(content_encoding)
        async for chunk in chunks:
            reader.feed(chunk)
        return reader.finish()
    except InvalidBody as exc:
        if not 200 <= status < 300:
            return b""
        exc.status = status
        raise
