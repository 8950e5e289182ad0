"""FastAPI: Orga credentials for API clients that send a bearer token.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set)::

    uvicorn examples.fastapi_app:app

Then ask for credentials with the demo token::

    curl -H 'Authorization: Bearer alice-token' http://127.0.0.1:8000/api/orga-client-secrets

Needs ``pip install 'orga-asgi[server]' fastapi``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import bearer
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client

TOKENS = {"alice-token": "alice"}  # stands in for your token check (a JWT library, a DB)


def verify_token(token: str) -> Principal | None:
    user_id = TOKENS.get(token)
    return Principal(id=user_id) if user_id else None


def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
) -> str:
    # FastAPI's own routes check the same tokens, as a dependency.
    principal = verify_token(credentials.credentials)
    if principal is None:
        raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
    return principal.id


sandbox = None if os.environ.get("ORGA_API_KEY") else sandbox_client()
if sandbox is None:
    # Real Orga: ORGA_API_KEY (and ORGA_BASE_URL, if set) come from the environment, and
    # only HTTPS is served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
    endpoint = OrgaClientSecrets(authorize=bearer(verify_token))
else:
    # No key: an in-process sandbox upstream, and plain http from this machine (dev only).
    endpoint = OrgaClientSecrets(
        authorize=bearer(verify_token),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox,
        allow_insecure_loopback=True,
    )


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # OrgaMiddleware closes the endpoint itself; the sandbox client is ours.
    if sandbox is not None:
        await sandbox.aclose()


app = FastAPI(lifespan=lifespan)
# Serves GET/POST /api/orga-client-secrets; every other path reaches FastAPI untouched.
app.add_middleware(OrgaMiddleware, endpoint=endpoint)


@app.get("/me")
def me(user_id: Annotated[str, Depends(current_user)]) -> dict[str, str]:
    return {"user": user_id}
