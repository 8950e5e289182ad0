"""(b) Same handler as (a) on one shared httpx.AsyncClient (httpx's default pool limits).

httpcore imports sniffio on every lock setup and does not cache a failed import, so without
sniffio installed this row is several times slower; the venv has it (orga-asgi depends on it).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from _common import API_KEY, PATH, UPSTREAM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_KEY_HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with httpx.AsyncClient(base_url=UPSTREAM, timeout=10.0) as client:
        app.state.client = client
        yield


async def orga_client_secrets(request: Request) -> JSONResponse:
    client: httpx.AsyncClient = request.app.state.client
    try:
        r = await client.post("/v1/realtime/client-secrets", headers=_KEY_HEADERS)
        r.raise_for_status()
        token = r.json()["ephemeralToken"]
        r = await client.get(
            "/v1/realtime/ice-config", headers={"Authorization": f"Bearer {token}"}
        )
        r.raise_for_status()
        ice = r.json()["iceServers"]
    except Exception as exc:  # a bench app: any failure is a 502 and shows up as non-2xx
        return JSONResponse({"error": type(exc).__name__}, status_code=502)
    return JSONResponse({"ephemeralToken": token, "iceServers": ice})


app = Starlette(
    routes=[Route(PATH, orga_client_secrets, methods=["GET", "POST"])], lifespan=lifespan
)
