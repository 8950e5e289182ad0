"""orga-asgi for FastAPI: the client-secrets route as an ``APIRouter``.

::

    from fastapi import FastAPI
    from orga_asgi_fastapi import OrgaRouter

    app = FastAPI()
    app.include_router(OrgaRouter(current_user=get_current_user))  # user or None
"""

from __future__ import annotations

from ._router import ClientSecretsBody, ErrorBody, IceServer, OrgaRouter, PrincipalOf

__version__ = "0.1.0"

__all__ = [
    "ClientSecretsBody",
    "ErrorBody",
    "IceServer",
    "OrgaRouter",
    "PrincipalOf",
    "__version__",
]
