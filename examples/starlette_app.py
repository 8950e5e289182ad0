"""Starlette: Orga credentials for users logged in with Starlette's session cookie.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set)::

    uvicorn examples.starlette_app:app

Then log in and ask for credentials, keeping the session cookie in a jar::

    curl -c jar -X POST http://127.0.0.1:8000/login
    curl -b jar http://127.0.0.1:8000/api/orga-client-secrets

Needs ``pip install 'orga-asgi[server]' itsdangerous`` (SessionMiddleware signs with it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orga_asgi import DEFAULT_PATH, OrgaClientSecrets, Principal


async def login(request: Request) -> JSONResponse:
    # A real login checks a password or an identity provider; the demo user is alice.
    request.session["user_id"] = "alice"
    return JSONResponse({"user": "alice"})


def session_user(request: Request) -> Principal | None:
    # SessionMiddleware, outside this route, has already verified the signed cookie.
    user_id = request.session.get("user_id")
    return Principal(id=user_id) if user_id else None


# No key: the sandbox, an in-process fake Orga (fake tokens, plain http from this machine;
# dev only). With ORGA_API_KEY (and ORGA_BASE_URL, if set), real Orga, and only HTTPS is
# served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
SANDBOX = not os.environ.get("ORGA_API_KEY")
endpoint = OrgaClientSecrets(authorize=session_user, sandbox=SANDBOX)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Served as a route (not through OrgaMiddleware), the endpoint is ours to close: its
    # upstream pool, or the sandbox's client.
    async with endpoint:
        yield


app = Starlette(
    routes=[
        Route("/login", login, methods=["POST"]),
        Route(DEFAULT_PATH, endpoint),  # an ASGI app as a route: it answers GET and POST
    ],
    middleware=[
        Middleware(
            SessionMiddleware,
            # A fresh key per process logs everyone out on restart; set SESSION_SECRET to keep them.
            secret_key=os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
            https_only=not SANDBOX,
        )
    ],
    lifespan=lifespan,
)
