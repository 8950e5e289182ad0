"""The route's JSON answers: security headers, bodies, and every header block prebuilt.

The route answers a handful of small JSON bodies, so it writes ASGI messages directly
instead of building framework response objects. :class:`Responses` builds, once per
endpoint, the header block of the 200 and of every row of the error table (over plain HTTP
and over HTTPS, where HSTS joins), so a request only appends what is its own: the request
id, CORS, RateLimit, ``Retry-After`` and the length.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._error_table import ErrorInfo, describe, rows
from ._errors import Header, RateLimited, RequestError, SessionParamsRefused
from ._request_id import new_request_id, request_id_var, resolve_request_id

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = [
    "SECURITY_HEADERS",
    "Refusal",
    "Responses",
    "error_body",
    "error_headers",
    "error_response",
    "success_body",
]

SECURITY_HEADERS: tuple[Header, ...] = (
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


def error_headers(exc: RequestError, limit: Sequence[Header] = ()) -> list[Header]:
    """The headers ``exc`` adds to its row's: the RateLimit report, its own, ``Retry-After``.

    A 429 (:class:`RateLimited`) carries the RateLimit headers of the window that refused:
    they are the report, in place of ``limit`` (the last window that passed).
    """
    own = exc.headers
    out = list(own) if own and isinstance(exc, RateLimited) else [*limit, *own]
    if exc.retry_after is not None:
        out.append((b"retry-after", b"%d" % exc.retry_after))
    return out


class Refusal(NamedTuple):
    """One row of the error table, ready to send."""

    status: int
    code: str
    blocks: tuple[tuple[Header, ...], tuple[Header, ...]]
    """The header block over plain HTTP (``[0]``) and over HTTPS (``[1]``, with HSTS)."""
    head: bytes
    tail: bytes

    def body(self, request_id: str, exc: BaseException | None = None) -> bytes:
        """The JSON body with ``request_id`` (always ``[A-Za-z0-9._-]``) spliced in, and the
        refused ``param`` of a :class:`~orga_asgi.SessionParamsRefused`."""
        body = self.head + request_id.encode("ascii") + self.tail
        if isinstance(exc, SessionParamsRefused):  # a policy field's name, never caller text
            body = body[:-1] + b',"param":' + _dumps(exc.param).encode("ascii") + b"}"
        return body


class Responses:
    """The header blocks of one endpoint's answers, built at construction.

    Args:
        extra: ``extra_headers`` of the configuration.
        vary: ``Vary: Origin`` when CORS is on.
        hsts: the ``Strict-Transport-Security`` header, or ``None``.
        challenge: the authorize hook's ``WWW-Authenticate`` value for every 401.
    """

    __slots__ = ("_by_class", "_rows", "ok")

    def __init__(
        self,
        *,
        extra: Sequence[Header],
        vary: Header | None,
        hsts: Header | None,
        challenge: str | None,
    ) -> None:
        base = (*SECURITY_HEADERS, *extra, *((vary,) if vary else ()))
        tls = (*base, hsts) if hsts else base
        self.ok = (base, tls)
        self._rows: dict[ErrorInfo, Refusal] = {}
        self._by_class: dict[type[BaseException], Refusal] = {}
        for info in rows().values():
            own = info.headers
            if info.code == "unauthorized" and challenge:  # the hook's own 401, not the relay's
                own = (*own, (b"www-authenticate", challenge.encode("latin-1")))
            head, tail = _error_template(info)
            blocks = ((*base, *own), (*tls, *own))
            self._rows[info] = Refusal(info.status, info.code, blocks, head, tail)

    def refusal(self, exc: BaseException) -> Refusal:
        """The row answering ``exc`` (anything unmapped: ``internal_error``)."""
        kind = type(exc)
        found = self._by_class.get(kind)
        if found is None:  # once per error class: bounded by the code base
            found = self._by_class[kind] = self._rows[describe(exc)]
        return found


def error_response(exc: BaseException, *, request_id: str | None = None) -> Response:
    """The route's answer to ``exc`` as a Starlette ``Response``, for your own routes.

    Use it where you call :meth:`~orga_asgi.OrgaClientSecrets.issue` yourself, e.g. as a
    Starlette/FastAPI exception handler for :class:`~orga_asgi.OrgaError`. The status, JSON
    body (``{"error", "message", "requestId"}``) and headers (``Cache-Control: no-store``,
    ``X-Request-ID``, ``Retry-After``, RateLimit, ``Allow``) are the route's own; anything
    that is not a :class:`~orga_asgi.RequestError` is a 500 ``internal_error``.

    Args:
        exc: the error raised.
        request_id: the id to report; default: the current request's, else a fresh one.
    """
    from starlette.responses import Response

    if request_id is not None:  # checked like an incoming one: it is spliced into the body
        rid = resolve_request_id(request_id.encode("utf-8", "replace"))
    else:
        rid = request_id_var.get() or new_request_id()
    info = describe(exc)
    body = error_body(info, rid)
    response = Response(body, status_code=info.status)
    response.raw_headers = [
        *SECURITY_HEADERS,
        (b"x-request-id", rid.encode("ascii")),
        *info.headers,
        *(error_headers(exc) if isinstance(exc, RequestError) else ()),
        (b"content-length", b"%d" % len(body)),
    ]
    return response
