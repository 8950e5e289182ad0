"""Litestar: users logged in with a session cookie get Orga realtime credentials.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set)::

    uvicorn examples.litestar_app:app

Then log in and ask for credentials::

    curl -c jar -H 'content-type: application/json' \\
         -d '{"username": "ada", "password": "lovelace"}' http://127.0.0.1:8000/login
    curl -b jar -X POST http://127.0.0.1:8000/api/orga-client-secrets

Needs ``pip install -e '.[server]' -e integrations/litestar``.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Litestar, Request, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.params import Body
from litestar.security.session_auth import SessionAuth
from orga_asgi_litestar import OrgaPlugin, OrgaPluginConfig

PASSWORDS = {"ada": "lovelace", "grace": "hopper"}  # stands in for your user store


@dataclass
class User:
    id: str


@dataclass
class Login:
    username: str
    password: str


async def retrieve_user(session: dict[str, Any], connection: ASGIConnection) -> User | None:
    user_id = session.get("user_id")
    return User(id=user_id) if user_id in PASSWORDS else None


@post("/login")
async def login(data: Annotated[Login, Body()], request: Request) -> dict[str, str]:
    expected = PASSWORDS.get(data.username)
    if expected is None or not hmac.compare_digest(expected.encode(), data.password.encode()):
        raise NotAuthorizedException("wrong username or password")
    request.set_session({"user_id": data.username})
    return {"user": data.username}


# Litestar's session auth sets request.user; the Orga route trusts it (no user: 401).
session_auth = SessionAuth[User, ServerSideSessionBackend](
    retrieve_user_handler=retrieve_user,
    session_backend_config=ServerSideSessionConfig(),  # secure=True once served over HTTPS
    exclude=["/login", "/schema"],
)

# Serves GET/POST /api/orga-client-secrets to logged-in users (request.user), documents it
# at /schema, and closes the endpoint at shutdown. No key: the sandbox, an in-process fake
# Orga (fake tokens, plain http from this machine; dev only). With ORGA_API_KEY, real Orga:
# every other ORGA_* setting comes from the environment too (code wins), and only HTTPS is
# served (behind a TLS-terminating proxy, set ORGA_TRUSTED_PROXIES).
orga = OrgaPlugin(OrgaPluginConfig.from_env(sandbox=not os.environ.get("ORGA_API_KEY")))

app = Litestar(
    route_handlers=[login],
    on_app_init=[session_auth.on_app_init],
    plugins=[orga],
)
