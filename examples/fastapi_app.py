"""FastAPI: Orga credentials for API clients that send a bearer token.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set)::

    uvicorn examples.fastapi_app:app

Then ask for credentials with the demo token::

    curl -H 'Authorization: Bearer alice-token' http://127.0.0.1:8000/api/orga-client-secrets

Needs ``pip install 'orga-asgi[server]' orga-asgi-fastapi``.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from orga_asgi_fastapi import OrgaRouter

from orga_asgi import Principal

TOKENS = {"alice-token": "alice"}  # stands in for your token check (a JWT library, a DB)


def current_user(
    credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))
    ],
) -> Principal:
    # One dependency for FastAPI's own routes and the Orga route alike.
    user_id = TOKENS.get(credentials.credentials) if credentials else None
    if user_id is None:
        raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
    return Principal(id=user_id)


# No key: the sandbox, an in-process fake Orga (fake tokens, plain http from this machine;
# dev only). With ORGA_API_KEY (and ORGA_BASE_URL, if set), real Orga, and only HTTPS is
# served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
orga = OrgaRouter(current_user=current_user, sandbox=not os.environ.get("ORGA_API_KEY"))

app = FastAPI()
# GET/POST /api/orga-client-secrets, documented in /docs, behind current_user. The router's
# lifespan closes the endpoint with the app (the upstream pool, or the sandbox's client).
app.include_router(orga)


@app.get("/me")
def me(user: Annotated[Principal, Depends(current_user)]) -> dict[str, str]:
    return {"user": user.id}
