"""The route's documented bodies, for the OpenAPI schema Litestar builds (shapes: core's)."""

from __future__ import annotations

from orga_asgi.schema import ERRORS as _CORE_ERRORS
from orga_asgi.schema import ClientSecretsBody, ErrorBody, IceServer

__all__ = ["ERRORS", "ClientSecretsBody", "ErrorBody", "IceServer"]

_GUARD = " A refusal by a Litestar guard has Litestar's error body instead."
ERRORS: dict[int, str] = {
    **_CORE_ERRORS,
    401: "`unauthorized`: no authenticated user (the authorize hook returned None)." + _GUARD,
    403: _CORE_ERRORS[403] + _GUARD,
}
"""The error responses of the route, by status, as the schema describes them."""
