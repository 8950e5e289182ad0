"""A page that gets Orga credentials with its session cookie and hands them to WebRTC.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set), then
open http://127.0.0.1:8000 and log in::

    uvicorn examples.browser.server:app

Needs ``pip install 'orga-asgi[server]'``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import cookie
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client

HERE = Path(__file__).parent
SESSIONS: dict[str, str] = {}  # session id -> user id: stands in for your session store


async def index(request: Request) -> FileResponse:
    return FileResponse(HERE / "index.html")


async def script(request: Request) -> FileResponse:
    return FileResponse(HERE / "app.js", media_type="text/javascript")


async def login(request: Request) -> RedirectResponse:
    # A real login checks a password or an identity provider; the demo user is alice.
    session_id = secrets.token_urlsafe(32)
    SESSIONS[session_id] = "alice"
    response = RedirectResponse("/", status_code=303)
    # HttpOnly: page scripts cannot read it. SameSite=Lax: other sites' requests do not
    # carry it (OrgaClientSecrets also refuses cross-origin browser requests).
    response.set_cookie(
        "session",
        session_id,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def verify_session(session_id: str) -> Principal | None:
    user_id = SESSIONS.get(session_id)
    return Principal(id=user_id) if user_id else None


sandbox = None if os.environ.get("ORGA_API_KEY") else sandbox_client()
if sandbox is None:
    # Real Orga: ORGA_API_KEY (and ORGA_BASE_URL, if set) come from the environment, and
    # only HTTPS is served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
    endpoint = OrgaClientSecrets(authorize=cookie("session", verify_session))
else:
    # No key: an in-process sandbox upstream, and plain http from this machine (dev only).
    endpoint = OrgaClientSecrets(
        authorize=cookie("session", verify_session),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox,
        allow_insecure_loopback=True,
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    # OrgaMiddleware closes the endpoint itself; the sandbox client is ours.
    if sandbox is not None:
        await sandbox.aclose()


pages = Starlette(
    routes=[
        Route("/", index),
        Route("/app.js", script),
        Route("/login", login, methods=["POST"]),
    ],
    lifespan=lifespan,
)
app = OrgaMiddleware(pages, endpoint=endpoint)
