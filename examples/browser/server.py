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

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from orga_asgi import OneOf, OrgaClientSecrets, OrgaMiddleware, Pinned, Principal, SessionPolicy
from orga_asgi.auth import cookie
from orga_asgi.static import RELAY_SHIM, static_path
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, sandbox_client

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


# Sealed: the token route hands out session handles, and OrgaMiddleware serves the relay
# at /api/orga/v1/realtime/calls, applying POLICY.
sealing = {"sealed": True, "session_policy": POLICY} if SEALED else {}
upstream = None if os.environ.get("ORGA_API_KEY") else FakeOrga()
sandbox = None if upstream is None else sandbox_client(upstream)
if sandbox is None:
    # Real Orga: ORGA_API_KEY (and ORGA_BASE_URL, if set) come from the environment, and
    # only HTTPS is served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
    endpoint = OrgaClientSecrets(authorize=cookie("session", verify_session), **sealing)
else:
    # No key: an in-process sandbox upstream, and plain http from this machine (dev only).
    endpoint = OrgaClientSecrets(
        authorize=cookie("session", verify_session),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox,
        allow_insecure_loopback=True,
        **sealing,
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
        Route("/app.js", javascript(HERE / "app.js")),
        Route("/sealed.js", javascript(HERE / "sealed.js")),
        # The shim orga-asgi ships, for SDK releases that ignore baseUrl (see sealed.html).
        Route("/static/orga-relay-shim.js", javascript(static_path(RELAY_SHIM))),
        Route("/vendor/orga-ai-core.mjs", orga_core),
        Route("/login", login, methods=["POST"]),
    ],
    lifespan=lifespan,
)
app = OrgaMiddleware(pages, endpoint=endpoint)
