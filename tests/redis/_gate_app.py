"""A tiny Starlette app whose route calls the gate, served by test_two_processes.

Configured by environment: ``ORGA_TEST_REDIS_URL``, ``ORGA_TEST_KEY_PREFIX`` and
``ORGA_TEST_RATE_LIMITS`` (comma separated). ``GET /mint?user=NAME`` answers 200 or 429.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orga_asgi._limits import RateLimitExceeded, RateLimitGate

gate = RateLimitGate(
    rate_limits=tuple(os.environ["ORGA_TEST_RATE_LIMITS"].split(",")),
    ip_rate_limits=("1000/minute",),
    storage_uri=os.environ["ORGA_TEST_REDIS_URL"],
    key_prefix=os.environ["ORGA_TEST_KEY_PREFIX"],
    on_storage_error="deny",  # a silent per-process fallback would hide a broken store
)


def _as_dict(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in pairs}


async def mint(request: Request) -> PlainTextResponse:
    try:
        await gate.check_ip(request.client.host if request.client else None)
        headers = await gate.check_principal(request.query_params.get("user", "alice"))
    except RateLimitExceeded as refused:
        refused_headers = {"retry-after": str(refused.retry_after), **_as_dict(refused.headers)}
        return PlainTextResponse("rate_limited", 429, headers=refused_headers)
    return PlainTextResponse("ok", headers=_as_dict(headers.headers) if headers else None)


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await gate.aclose()


app = Starlette(routes=[Route("/mint", mint), Route("/health", health)], lifespan=lifespan)
