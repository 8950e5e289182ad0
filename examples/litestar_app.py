"""Litestar: logged-in users get Orga realtime credentials. Run, from the repository root:

    uvicorn examples.litestar_app:app --port 8000

(needs ``pip install -e . -e integrations/litestar uvicorn``). Without ``ORGA_API_KEY`` it
talks to the built-in sandbox upstream; with it, to Orga. Then log in and ask for a token:

    curl -c jar -H 'content-type: application/json' \\
         -d '{"username": "ada", "password": "lovelace"}' http://127.0.0.1:8000/login
    curl -b jar -X POST http://127.0.0.1:8000/api/orga-client-secrets
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

from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client

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

if os.environ.get("ORGA_API_KEY"):  # Orga itself: ORGA_API_KEY (and ORGA_BASE_URL) are read
    upstream: dict[str, Any] = {}
    on_shutdown: list[Any] = []
else:  # the sandbox: an in-process fake Orga, no account needed
    sandbox = sandbox_client()
    upstream = {"api_key": FAKE_API_KEY, "base_url": FAKE_BASE_URL, "http_client": sandbox}
    on_shutdown = [sandbox.aclose]

orga = OrgaPlugin(
    OrgaPluginConfig(
        # allow_insecure_loopback: plain HTTP from this machine only, for local development.
        endpoint_options={**upstream, "allow_insecure_loopback": True},
    )
)

app = Litestar(
    route_handlers=[login],
    on_app_init=[session_auth.on_app_init],
    plugins=[orga],
    on_shutdown=on_shutdown,
)
