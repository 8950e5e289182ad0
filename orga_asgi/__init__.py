"""orga-asgi: short-lived Orga realtime credentials from any ASGI backend.

The backend keeps the Orga API key; browsers and mobile apps ask this route for a
short-lived token and the ICE servers that belong to it::

    from orga_asgi import OrgaClientSecrets, OrgaMiddleware
    from orga_asgi.auth import cookie

    endpoint = OrgaClientSecrets(authorize=cookie("session", verify_session))
    app = OrgaMiddleware(app, endpoint=endpoint)
"""

from __future__ import annotations

from . import keys, observe
from ._config import EndpointConfig
from ._endpoint import OrgaClientSecrets
from ._errors import (
    ApiKeyUnavailable,
    Busy,
    ConfigurationError,
    CrossOriginForbidden,
    Forbidden,
    HTTPSRequired,
    InternalError,
    InvalidRequestBody,
    InvalidSessionHandle,
    MethodNotAllowed,
    OrgaError,
    PayloadTooLarge,
    RateLimited,
    RateLimiterUnavailable,
    RequestError,
    SessionParamsRefused,
    SessionStoreUnavailable,
    TooManyInFlight,
    Unauthorized,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamInvalidResponse,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._middleware import DEFAULT_PATH, OrgaMiddleware
from ._principal import AuthorizeHook, Principal, Secret, allow_anonymous
from ._responses import error_response
from ._sealed import OneOf, Pinned, Range, SessionPolicy
from ._upstream import ClientSecrets
from .observe import AuditEvent

# The one version source: pyproject.toml reads it from here (hatch's dynamic version).
__version__ = "0.2.0"

__all__ = [
    "DEFAULT_PATH",
    "ApiKeyUnavailable",
    "AuditEvent",
    "AuthorizeHook",
    "Busy",
    "ClientSecrets",
    "ConfigurationError",
    "CrossOriginForbidden",
    "EndpointConfig",
    "Forbidden",
    "HTTPSRequired",
    "InternalError",
    "InvalidRequestBody",
    "InvalidSessionHandle",
    "MethodNotAllowed",
    "OneOf",
    "OrgaClientSecrets",
    "OrgaError",
    "OrgaMiddleware",
    "PayloadTooLarge",
    "Pinned",
    "Principal",
    "Range",
    "RateLimited",
    "RateLimiterUnavailable",
    "RequestError",
    "Secret",
    "SessionParamsRefused",
    "SessionPolicy",
    "SessionStoreUnavailable",
    "TooManyInFlight",
    "Unauthorized",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamInvalidResponse",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "__version__",
    "allow_anonymous",
    "error_response",
    "keys",
    "observe",
]
