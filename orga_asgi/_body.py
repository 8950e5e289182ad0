"""The body cap, for every method and every framing, and the replay of what was read.

A ``Content-Length`` over the cap is refused from the header alone. Any other body that may
exist (chunked HTTP/1.1, or HTTP/2 and later, which need neither header) is read here up to
the cap, refused as soon as it passes it, and replayed to the authorize hook, which can still
read it. HTTP/1 without a length or chunking has no body: nothing is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import PayloadTooLarge

if TYPE_CHECKING:
    from ._types import Message, Receive, Scope

__all__ = ["ClientGone", "may_have_body", "read_body"]


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


def may_have_body(found: dict[bytes, bytes], scope: Scope, limit: int) -> bool:
    """Whether a body must be read (bounded) before the hook; no wait, no I/O.

    Raises:
        PayloadTooLarge: ``Content-Length`` is over ``limit`` (or not a number).
    """
    length = found.get(b"content-length")
    if length is not None:
        # len() first: int() of thousands of digits is slow, and refused beyond 4300.
        if not length.isdigit() or len(length) > 12 or int(length) > limit:
            raise PayloadTooLarge("Content-Length over max_body_size")
        return int(length) > 0
    if b"transfer-encoding" in found:
        return True
    # HTTP/1 without a length or chunking has no body; HTTP/2 and later may have one.
    return scope.get("http_version", "1.1") not in ("1.1", "1.0")


async def read_body(receive: Receive, limit: int) -> Receive:
    """Read the body up to ``limit`` bytes; return a ``receive`` replaying it.

    Raises:
        PayloadTooLarge: the body passed ``limit`` (refused as soon as it did).
        ClientGone: the client left mid-body.
    """
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone  # disconnected mid-body: nobody is left to answer
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:  # whatever the framing announced
            raise PayloadTooLarge("body over max_body_size")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return _Replay(b"".join(chunks), receive)


class _Replay:
    """The body already read, once, then the server's own ``receive`` (a disconnect)."""

    __slots__ = ("_body", "_receive")

    def __init__(self, body: bytes, receive: Receive) -> None:
        self._body: bytes | None = body
        self._receive = receive

    async def __call__(self) -> Message:
        body, self._body = self._body, None
        if body is None:
            return await self._receive()
        return {"type": "http.request", "body": body, "more_body": False}
