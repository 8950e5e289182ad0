"""The one error table: how each error of :mod:`._errors` is shown to the caller.

:func:`describe` alone decides the status, code, message and fixed headers of a refusal, so
no stage builds an error response by hand. Messages are fixed strings chosen here: nothing an
upstream or a caller sent can reach an error body. Kept apart from the tree so the tree stays
importable by everything (this module imports it, never the other way round at import time).
"""

from __future__ import annotations

from typing import NamedTuple

from ._errors import (
    ApiKeyUnavailable,
    Busy,
    CrossOriginForbidden,
    Forbidden,
    Header,
    HTTPSRequired,
    InternalError,
    InvalidRequestBody,
    InvalidSessionHandle,
    MethodNotAllowed,
    PayloadTooLarge,
    RateLimited,
    RateLimiterUnavailable,
    RelayMethodNotAllowed,
    RequestError,
    SessionParamsRefused,
    SessionStoreUnavailable,
    TooManyInFlight,
    Unauthorized,
    UpstreamAuthFailed,
    UpstreamInvalidResponse,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["INTERNAL_ERROR", "ErrorInfo", "describe", "rows"]


class ErrorInfo(NamedTuple):
    """How one error class is shown to the caller: one row of the table."""

    status: int
    code: str
    message: str
    headers: tuple[Header, ...] = ()
    """Fixed headers of every refusal of this row (``Allow`` on a 405)."""


_ALLOW: Header = (b"allow", b"GET, POST")
INTERNAL_ERROR = ErrorInfo(500, "internal_error", "Internal server error.")

_TABLE: dict[type[RequestError], ErrorInfo] = {
    Unauthorized: ErrorInfo(401, "unauthorized", "Authentication is required."),
    Forbidden: ErrorInfo(403, "forbidden", "You are not allowed to request client secrets."),
    HTTPSRequired: ErrorInfo(403, "https_required", "This endpoint is served over HTTPS only."),
    CrossOriginForbidden: ErrorInfo(
        403, "cross_origin_forbidden", "Cross-origin requests are not allowed."
    ),
    MethodNotAllowed: ErrorInfo(405, "method_not_allowed", "Use GET or POST.", (_ALLOW,)),
    RelayMethodNotAllowed: ErrorInfo(
        405, "method_not_allowed", "Use POST.", ((b"allow", b"POST"),)
    ),
    InvalidRequestBody: ErrorInfo(
        400, "invalid_request_body", "The request body is not a valid session request."
    ),
    InvalidSessionHandle: ErrorInfo(
        401,
        "invalid_session_handle",
        "The session handle is missing, unknown, used or expired.",
        ((b"www-authenticate", b'Bearer error="invalid_token"'),),  # RFC 9110: every 401
    ),
    SessionParamsRefused: ErrorInfo(
        403, "session_params_refused", "A session parameter is not allowed by this server."
    ),
    SessionStoreUnavailable: ErrorInfo(
        503, "session_store_unavailable", "The session store is unavailable; retry later."
    ),
    PayloadTooLarge: ErrorInfo(413, "payload_too_large", "The request body is too large."),
    RateLimited: ErrorInfo(429, "rate_limited", "Too many requests; retry later."),
    TooManyInFlight: ErrorInfo(
        429, "too_many_in_flight", "Too many requests in flight for this caller."
    ),
    InternalError: INTERNAL_ERROR,
    RateLimiterUnavailable: ErrorInfo(
        503, "rate_limiter_unavailable", "The rate limiter is unavailable; retry later."
    ),
    Busy: ErrorInfo(503, "busy", "The server is busy; retry later."),
    ApiKeyUnavailable: ErrorInfo(
        503, "api_key_unavailable", "The server's credentials are unavailable; retry later."
    ),
    UpstreamAuthFailed: ErrorInfo(
        502, "upstream_auth_failed", "The realtime provider rejected this server's credentials."
    ),
    UpstreamRateLimited: ErrorInfo(
        503, "upstream_rate_limited", "The realtime provider is rate limiting; retry later."
    ),
    UpstreamTimeout: ErrorInfo(504, "upstream_timeout", "The realtime provider timed out."),
    UpstreamUnavailable: ErrorInfo(
        502, "upstream_unavailable", "The realtime provider is unavailable."
    ),
    UpstreamInvalidResponse: ErrorInfo(
        502, "upstream_invalid_response", "The realtime provider sent an invalid response."
    ),
}


def describe(exc: BaseException) -> ErrorInfo:
    """Return the row the caller sees for ``exc``: status, code, message, fixed headers.

    Subclasses of a mapped class inherit its row; anything unmapped is an internal error.
    """
    kind = type(exc)
    info = _RESOLVED.get(kind)
    if info is None:
        info = next((_TABLE[c] for c in kind.__mro__ if c in _TABLE), INTERNAL_ERROR)
        _RESOLVED[kind] = info  # one entry per error class: bounded by the code base
    return info


def rows() -> dict[type[RequestError], ErrorInfo]:
    """Every row of the table, by error class (a copy: for documentation and adapters)."""
    return dict(_TABLE)


_RESOLVED: dict[type[BaseException], ErrorInfo] = {}
