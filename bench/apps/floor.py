"""(e) Framework floor: the same route and JSON body, no upstream calls, nothing else."""

from __future__ import annotations

from _common import BODY, PATH
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def orga_client_secrets(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


app = Starlette(routes=[Route(PATH, orga_client_secrets, methods=["GET", "POST"])])
