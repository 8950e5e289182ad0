"""orga-asgi for Litestar: the client-secrets route as a plugin.

::

    from litestar import Litestar
    from orga_asgi_litestar import OrgaPlugin, OrgaPluginConfig

    app = Litestar(
        route_handlers=[...],
        middleware=[auth_middleware],  # sets request.user; the route trusts it
        plugins=[OrgaPlugin(OrgaPluginConfig(guards=[requires_verified_email]))],
    )
"""

from __future__ import annotations

from ._plugin import (
    ClientSecretsBody,
    ErrorBody,
    IceServer,
    OrgaDependency,
    OrgaPlugin,
    OrgaPluginConfig,
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
]
