"""A page that gets Orga credentials with its session cookie and hands them to WebRTC.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set), then
open http://127.0.0.1:8000 and log in::

    uvicorn examples.browser.server:app

Sealed (``EXAMPLE_SEALED=1``), the page is ``sealed.html``: the vendor's browser SDK starts
a session through the relay; the page gets a single-use session handle, never an Orga token,
and the server's session policy decides the instructions and the voices allowed. The page
loads ``@orga-ai/core`` from ``examples/browser/node_modules`` (or the ``dist/index.mjs``
that ``EXAMPLE_ORGA_CORE`` names)::

    npm install --prefix examples/browser @orga-ai/core@1.0.0
    EXAMPLE_SEALED=1 uvicorn examples.browser.server:app

Needs ``pip install 'orga-asgi[server]'``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from orga_asgi import OneOf, OrgaClientSecrets, OrgaMiddleware, Pinned, Principal, SessionPolicy
from orga_asgi.auth import cookie
from orga_asgi.static import RELAY_SHIM, static_path

HERE = Path(__file__).parent
SESSIONS: dict[str, str] = {}  # session id -> user id: stands in for your session store
SEALED = os.environ.get("EXAMPLE_SEALED") == "1"
ORGA_CORE = Path(
    os.environ.get("EXAMPLE_ORGA_CORE")
    or HERE / "node_modules" / "@orga-ai" / "core" / "dist" / "index.mjs"
)
# The server decides the session, whatever the page asks: the agent's instructions are
# pinned, the voice is one of two, and every parameter the policy does not name is dropped.
POLICY = SessionPolicy(
    instructions=Pinned("You are the demo agent of the orga-asgi sealed example. Be brief."),
    voice=OneOf("coral", "sage"),
    model=Pinned("orga-1-beta"),
)
JAVASCRIPT = "text/javascript"


async def index(request: Request) -> FileResponse:
    return FileResponse(HERE / ("sealed.html" if SEALED else "index.html"))


def javascript(path: Path) -> Callable[[Request], Awaitable[FileResponse]]:
    async def serve(request: Request) -> FileResponse:
        return FileResponse(path, media_type=JAVASCRIPT)

    return serve


async def orga_core(request: Request) -> Response:
    # Your bundler does this in a real app; the demo serves the SDK's own ES module.
    if not await anyio.Path(ORGA_CORE).is_file():
        hint = (
            "npm install --prefix examples/browser @orga-ai/core@1.0.0 (or set EXAMPLE_ORGA_CORE)"
        )
        return PlainTextResponse(f"@orga-ai/core is not installed: {hint}", status_code=404)
    return FileResponse(ORGA_CORE, media_type=JAVASCRIPT)


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


# No key: the sandbox, an in-process fake Orga (fake tokens, plain http from this machine;
# dev only). With ORGA_API_KEY (and ORGA_BASE_URL, if set), real Orga, and only HTTPS is
# served (behind a TLS-terminating proxy, pass trusted_proxies=[...]). Sealed: the token
# route hands out session handles, and OrgaMiddleware serves the relay at
# /api/orga/v1/realtime/calls, applying POLICY.
endpoint = OrgaClientSecrets(
    authorize=cookie("session", verify_session),
    sandbox=not os.environ.get("ORGA_API_KEY"),
    sealed=SEALED,
    session_policy=POLICY if SEALED else None,
)

pages = Starlette(
    routes=[
        Route("/", index),
        Route("/app.js", javascript(HERE / "app.js")),
        Route("/sealed.js", javascript(HERE / "sealed.js")),
        # The shim orga-asgi ships, for SDK releases that ignore baseUrl (see sealed.html).
        Route("/static/orga-relay-shim.js", javascript(static_path(RELAY_SHIM))),
        Route("/vendor/orga-ai-core.mjs", orga_core),
        Route("/login", login, methods=["POST"]),
    ],
)
# OrgaMiddleware answers the lifespan: it closes the endpoint (its upstream pool, or the
# sandbox's client) at shutdown.
app = OrgaMiddleware(pages, endpoint=endpoint)
