"""Raw ASGI JSON responses with the route's security headers.

The route answers a handful of small JSON bodies, so it writes ASGI messages directly
instead of building framework response objects: the headers below are bytes built once.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ._errors import ErrorInfo
from ._types import Send

__all__ = ["SECURITY_HEADERS", "error_body", "send_json", "success_body"]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
)

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def success_body(payload: dict[str, Any]) -> bytes:
    """Encode the 200 body (ASCII-only, so no header or body can carry raw control bytes)."""
    return _dumps(payload).encode("ascii")


@functools.lru_cache(maxsize=64)
def _error_template(info: ErrorInfo) -> tuple[bytes, bytes]:
    # The body up to the request id and after it, encoded once per error kind.
    marker = "\x00"
    text = _dumps({"error": info.code, "message": info.message, "requestId": marker})
    head, _, tail = text.partition(_dumps(marker))
    return (head + '"').encode("ascii"), ('"' + tail).encode("ascii")


def error_body(info: ErrorInfo, request_id: str) -> bytes:
    """The one error shape: ``{"error", "message", "requestId"}``.

    ``request_id`` is always ``[A-Za-z0-9._-]`` (see ``_request_id``), so it is spliced in
    without JSON escaping; the rest is encoded once per error kind.
    """
    head, tail = _error_template(info)
    return head + request_id.encode("ascii") + tail


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """Send ``body`` with ``headers`` (which must already include the security headers)."""
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
