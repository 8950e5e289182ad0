"""The bare ASGI plumbing FakeOrga answers with: JSON bodies, bearer parsing, lifespan.

Raw ASGI on purpose: load runs push thousands of requests a second through the fake, and
it must never be the bottleneck of what it measures.
"""

from __future__ import annotations

import json

from orga_asgi._types import Receive, Send

__all__ = ["bearer", "dumps", "lifespan", "read_body", "send_json"]

# A reused encoder: ``json.dumps`` with non-default arguments builds a new one per call.
dumps = json.JSONEncoder(separators=(",", ":")).encode


def bearer(authorization: str | None) -> str | None:
    """The credentials of a ``Bearer`` authorization header, or ``None``."""
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_json(
    send: Send, status: int, payload: object, extra: list[tuple[bytes, str]] | None = None
) -> None:
    """Answer with ``payload`` as compact JSON, plus ``extra`` headers."""
    body = dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(name, value.encode("latin-1")) for name, value in extra or ()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer lifespan, so servers running FakeOrga alone don't log a failed startup."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
