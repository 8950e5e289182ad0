"""The one exception tree; its one table of refusals is :mod:`._error_table`.

Every stage ends a request by raising one of these; :func:`._error_table.describe` alone
decides the status, code, message and fixed headers of the answer, so no stage builds an
error response by hand. Messages are fixed strings chosen there: nothing an upstream or a
caller sent can reach an error body. The tree, with each row of the table::

    OrgaError
    ├── ConfigurationError (also ValueError)  raised at construction, with a fix hint
    └── RequestError                          ends a request with a JSON error
        ├── Unauthorized            401 unauthorized             + WWW-Authenticate (hook's)
        ├── Forbidden               403 forbidden
        ├── HTTPSRequired           403 https_required
        ├── CrossOriginForbidden    403 cross_origin_forbidden
        ├── InvalidRequestBody      400 invalid_request_body
        ├── InvalidSessionHandle    401 invalid_session_handle   + WWW-Authenticate
        ├── SessionParamsRefused    403 session_params_refused   + "param" in the body
        ├── MethodNotAllowed        405 method_not_allowed       + Allow: GET, POST
        │   └── RelayMethodNotAllowed  405 (the relay's)         + Allow: POST
        ├── PayloadTooLarge         413 payload_too_large
        ├── RateLimited             429 rate_limited             + Retry-After, RateLimit
        ├── TooManyInFlight         429 too_many_in_flight       + Retry-After
        ├── InternalError           500 internal_error
        ├── RateLimiterUnavailable  503 rate_limiter_unavailable
        ├── Busy                    503 busy
        ├── ApiKeyUnavailable       503 api_key_unavailable
        ├── SessionStoreUnavailable 503 session_store_unavailable
        └── UpstreamError
            ├── UpstreamAuthFailed       502 upstream_auth_failed
            ├── UpstreamUnavailable      502 upstream_unavailable
            ├── UpstreamInvalidResponse  502 upstream_invalid_response
            ├── UpstreamRateLimited      503 upstream_rate_limited  + Retry-After
            └── UpstreamTimeout          504 upstream_timeout

An error may carry headers of its own (:attr:`RequestError.headers`: a 429 carries the
RateLimit headers of the window that refused) and ``retry_after``, sent as ``Retry-After``.
Anything that is not a :class:`RequestError` is answered as the :class:`InternalError` row.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._redaction.text import redact

__all__ = [
    "ApiKeyUnavailable",
    "Busy",
    "ConfigurationError",
    "CrossOriginForbidden",
    "Forbidden",
    "HTTPSRequired",
    "Header",
    "InternalError",
    "InvalidRequestBody",
    "InvalidSessionHandle",
    "MethodNotAllowed",
    "OrgaError",
    "PayloadTooLarge",
    "RateLimited",
    "RateLimiterUnavailable",
    "RelayMethodNotAllowed",
    "RequestError",
    "SessionParamsRefused",
    "SessionStoreUnavailable",
    "TooManyInFlight",
    "Unauthorized",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamInvalidResponse",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]

Header = tuple[bytes, bytes]


class OrgaError(Exception):
    """Root of every error orga-asgi raises."""


class ConfigurationError(OrgaError, ValueError):
    """The endpoint was configured wrongly; raised at construction, with a fix hint.

    Its message is redacted when made: a message repeats the value it refuses, and a key
    pasted into the wrong setting (``ORGA_TRUSTED_PROXIES=sk_orga_ai_...``) would otherwise
    reach stderr and startup tracebacks.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class RequestError(OrgaError):
    """An error that ends a request with a JSON error response.

    Args:
        detail: text for the operator's logs (never sent to the caller, never a secret).
        retry_after: seconds the caller should wait, sent as ``Retry-After`` when set.
        headers: response headers this error adds to its row's (raw ASGI byte pairs).
    """

    headers: Sequence[Header] = ()
    """Headers this error adds to the refusal (a 429: its window's RateLimit headers)."""

    def __init__(
        self, detail: str = "", *, retry_after: int | None = None, headers: Sequence[Header] = ()
    ) -> None:
        super().__init__(detail or type(self).__name__)
        self.retry_after = retry_after
        if headers:
            self.headers = headers

    # The table is keyed by the classes below, so it imports this module: look it up late.
    @property
    def status(self) -> int:
        """The HTTP status the route answers this error with."""
        from ._error_table import describe

        return describe(self).status

    @property
    def code(self) -> str:
        """The ``error`` code of the route's JSON body."""
        from ._error_table import describe

        return describe(self).code


class Unauthorized(RequestError):
    """The authorize hook returned ``None``."""


class Forbidden(RequestError):
    """Raise from an authorize hook to refuse a known caller (403 ``forbidden``)."""


class HTTPSRequired(RequestError):
    """The effective scheme of the request was not https."""


class CrossOriginForbidden(RequestError):
    """A browser asked from a site that is not allowed."""


class MethodNotAllowed(RequestError):
    """The route answers GET and POST (and OPTIONS preflights when CORS is on)."""


class RelayMethodNotAllowed(MethodNotAllowed):
    """The sealed-session relay answers POST (and OPTIONS preflights when CORS is on)."""


class InvalidRequestBody(RequestError):
    """The relay's body is not a session request (JSON, offer, params of the right types)."""


class InvalidSessionHandle(RequestError):
    """The relay got no session handle, or one that is unknown, used or expired."""


class SessionParamsRefused(RequestError):
    """A session parameter is outside what the session policy allows.

    Args:
        param: the parameter's name (one of the policy's fields, never the caller's text);
            the error body names it as ``param``.
    """

    def __init__(self, param: str, detail: str = "") -> None:
        super().__init__(detail or f"{param} refused by the session policy")
        self.param = param


class SessionStoreUnavailable(RequestError):
    """The shared store of session handles failed."""


class PayloadTooLarge(RequestError):
    """The request body was larger than the route accepts."""


class RateLimited(RequestError):
    """A rate limit window of the caller is exhausted."""


class TooManyInFlight(RequestError):
    """The caller already has the maximum number of requests being minted."""


class InternalError(RequestError):
    """A fault of this server (a failing authorize hook, a bug): 500, logged where it
    happened, never described to the caller."""


class RateLimiterUnavailable(RequestError):
    """The shared rate limit store failed and the policy is to deny."""


class Busy(RequestError):
    """Too many upstream exchanges are running in this process."""


class ApiKeyUnavailable(RequestError):
    """The key provider failed or returned an unusable key for this request."""


class UpstreamError(RequestError):
    """Base of every failure of the Orga upstream."""


class UpstreamAuthFailed(UpstreamError):
    """Orga rejected the API key (401/403)."""

    sent = 0
    """How many times the refused request was sent: a retry of the mint with a rotated key
    continues that count (the HTTP conventions' ``http.request.resend_count``)."""


class UpstreamRateLimited(UpstreamError):
    """Orga rate limited this backend (429)."""


class UpstreamTimeout(UpstreamError):
    """Orga did not answer within the deadline."""


class UpstreamUnavailable(UpstreamError):
    """Orga was unreachable or failed (5xx) after retries."""


class UpstreamInvalidResponse(UpstreamError):
    """Orga answered 2xx with a body that does not follow the contract."""
