"""orga-asgi: short-lived Orga realtime credentials from any ASGI backend.

The backend keeps the Orga API key; browsers and mobile apps ask this route for a
short-lived token and the ICE servers that belong to it::

    from orga_asgi import OrgaClientSecrets, OrgaMiddleware
    from orga_asgi.auth import cookie

    endpoint = OrgaClientSecrets(authorize=cookie("session", verify_session))
    app = OrgaMiddleware(app, endpoint=endpoint)
"""

from __future__ import annotations

from ._config import EndpointConfig
from ._endpoint import OrgaClientSecrets
from ._errors import (
    Busy,
    ConfigurationError,
    CrossOriginForbidden,
    Forbidden,
    HTTPSRequired,
    MethodNotAllowed,
    OrgaError,
    PayloadTooLarge,
    RateLimited,
    RateLimiterUnavailable,
    RequestError,
    TooManyInFlight,
    Unauthorized,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamInvalidResponse,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._exchange import ClientSecrets
from ._middleware import DEFAULT_PATH, OrgaMiddleware
from ._principal import AuthorizeHook, Principal, Secret, allow_anonymous

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PATH",
    "AuthorizeHook",
    "Busy",
    "ClientSecrets",
    "ConfigurationError",
    "CrossOriginForbidden",
    "EndpointConfig",
    "Forbidden",
    "HTTPSRequired",
    "MethodNotAllowed",
    "OrgaClientSecrets",
    "OrgaError",
    "OrgaMiddleware",
    "PayloadTooLarge",
    "Principal",
    "RateLimited",
    "RateLimiterUnavailable",
    "RequestError",
    "Secret",
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
]
