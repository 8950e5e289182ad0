"""A user's app, written for production: a module-level endpoint, nothing about a sandbox.

In production ``ORGA_API_KEY`` is set. ``ORGA_SANDBOX=1`` instead switches this very module
to the sandbox, unchanged: tests/core/test_sandbox.py imports it so, drives it with
Starlette's ``TestClient`` and serves it with a real uvicorn.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orga_asgi import DEFAULT_PATH, OrgaClientSecrets, Principal
from orga_asgi.auth import bearer

USERS = {"alice-token": "alice", "bob-token": "bob"}  # your sessions or tokens


def verify(token: str) -> Principal | None:
    user = USERS.get(token)
    return Principal(id=user) if user else None


endpoint = OrgaClientSecrets(authorize=bearer(verify), rate_limits=("3/minute",))


async def home(request: Request) -> JSONResponse:
    return JSONResponse({"home": True})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with endpoint:  # served as a route, the endpoint is the app's to close
        yield


app = Starlette(routes=[Route("/", home), Route(DEFAULT_PATH, endpoint)], lifespan=lifespan)
