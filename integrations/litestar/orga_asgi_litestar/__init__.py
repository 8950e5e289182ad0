"""orga-asgi for Litestar: the client-secrets route as a plugin.

::

    from litestar import Litestar
    from orga_asgi_litestar import OrgaPlugin, OrgaPluginConfig

    app = Litestar(
        route_handlers=[...],
        middleware=[auth_middleware],  # sets request.user; the route trusts it
        plugins=[OrgaPlugin(OrgaPluginConfig(guards=[requires_verified_email]))],
    )  # the endpoint's settings: the ORGA_* environment variables

Settings in code: ``OrgaPluginConfig(endpoint=EndpointConfig(authorize=scope_user(), ...))``
or ``OrgaPluginConfig.from_env(rate_limits="5/minute")`` (code wins over the environment).
"""

from __future__ import annotations

from ._plugin import (
    ClientSecretsBody,
    ErrorBody,
    IceServer,
    OrgaDependency,
    OrgaPlugin,
    OrgaPluginConfig,
    orga_error_handler,
)

__version__ = "0.1.0"

__all__ = [
    "ClientSecretsBody",
    "ErrorBody",
    "IceServer",
    "OrgaDependency",
    "OrgaPlugin",
    "OrgaPluginConfig",
    "__version__",
    "orga_error_handler",
]
