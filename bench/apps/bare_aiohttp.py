"""(a) The baseline every ratio is taken against: a hand-written Starlette handler doing the
two upstream calls on one shared aiohttp.ClientSession. No auth, no limits, no validation
beyond what a careful person would write in an afternoon."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from _common import API_KEY, PATH, UPSTREAM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_KEY_HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # aiohttp's defaults (limit=100 connections, 15 s keep-alive) are what a hand-written
    # handler would get; the timeout mirrors the vendor SDK's 10 s per call.
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(UPSTREAM, timeout=timeout) as session:
        app.state.session = session
        yield


async def orga_client_secrets(request: Request) -> JSONResponse:
    session: aiohttp.ClientSession = request.app.state.session
    try:
        async with session.post("/v1/realtime/client-secrets", headers=_KEY_HEADERS) as r:
            r.raise_for_status()
            token = (await r.json())["ephemeralToken"]
        async with session.get(
            "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {token}"}
        ) as r:
            r.raise_for_status()
            ice = (await r.json())["iceServers"]
    except Exception as exc:  # a bench app: any failure is a 502 and shows up as non-2xx
        return JSONResponse({"error": type(exc).__name__}, status_code=502)
    return JSONResponse({"ephemeralToken": token, "iceServers": ice})


app = Starlette(
    routes=[Route(PATH, orga_client_secrets, methods=["GET", "POST"])], lifespan=lifespan
)
