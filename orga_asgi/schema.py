"""The route's JSON bodies as types: for OpenAPI schemas, typed clients and tests.

The framework adapters document the route with these (FastAPI's ``/docs``, Litestar's
schema), so the shapes are written once. ``typing_extensions.TypedDict``: pydantic reads
only that one on Python < 3.12.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from typing_extensions import TypedDict

__all__ = ["ERRORS", "ClientSecretsBody", "ErrorBody", "IceServer"]


class _IceServerRequired(TypedDict):
    urls: str | list[str]


class IceServer(_IceServerRequired, total=False):
    """One ``RTCIceServer``; TURN entries carry credentials bound to the token."""

    username: str
    credential: str


class _ClientSecretsRequired(TypedDict):
    ephemeralToken: str
    iceServers: list[IceServer]


class ClientSecretsBody(_ClientSecretsRequired, total=False):
    """The 200 body; ``ttl`` and ``expiresAt`` come when the upstream gave a ttl."""

    ttl: int
    expiresAt: datetime


class ErrorBody(TypedDict):
    """Every error the route sends: a stable code, a fixed message, the request id."""

    error: str
    message: str
    requestId: str


ERRORS: Mapping[int, str] = MappingProxyType(
    {
        401: "`unauthorized`: the authorize hook gave no principal.",
        403: "`forbidden`, `https_required` or `cross_origin_forbidden`.",
        413: "`payload_too_large`: the request body is over `max_body_size`.",
        429: "`rate_limited` or `too_many_in_flight`; see `Retry-After`.",
        500: "`internal_error`: the authorize hook raised.",
        502: "`upstream_auth_failed`, `upstream_unavailable` or `upstream_invalid_response`.",
        503: "`busy`, `rate_limiter_unavailable` or `upstream_rate_limited`; see `Retry-After`.",
        504: "`upstream_timeout`: Orga did not answer within the deadline.",
    }
)
"""The token route's error responses by status, as a schema describes them (codes of
:mod:`orga_asgi`'s error table); an adapter adds what its own framework changes."""
