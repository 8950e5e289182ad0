"""Apps served by test_two_processes, each in its own uvicorn process, sharing one Redis.

Configured by environment: ``ORGA_TEST_REDIS_URL``, ``ORGA_TEST_KEY_PREFIX``,
``ORGA_TEST_RATE_LIMITS`` (comma separated). Two apps:

* ``app``: a tiny Starlette route calling the gate (``check_ip`` then ``check_principal``);
  ``GET /mint?user=NAME`` answers 200 or 429.
* ``endpoint_app``: the real pipeline, ``OrgaMiddleware`` + ``OrgaClientSecrets`` against an
  in-process ``FakeOrga``; the bearer token is the principal id.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi._ratelimit import RateLimitExceeded, RateLimitGate
from orga_asgi.auth import bearer
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client

REDIS_URL = os.environ["ORGA_TEST_REDIS_URL"]
RATE_LIMITS = tuple(os.environ["ORGA_TEST_RATE_LIMITS"].split(","))

gate = RateLimitGate(
    rate_limits=RATE_LIMITS,
    ip_rate_limits=("1000/minute",),
    storage_uri=REDIS_URL,
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
    return PlainTextResponse("ok", headers=_as_dict(headers) if headers else None)


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await gate.aclose()


app = Starlette(routes=[Route("/mint", mint), Route("/health", health)], lifespan=lifespan)


def _endpoint_app() -> OrgaMiddleware:
    upstream = sandbox_client()

    @asynccontextmanager
    async def close_upstream(app: Starlette) -> AsyncIterator[None]:
        yield
        await upstream.aclose()

    endpoint = OrgaClientSecrets(
        authorize=bearer(lambda token: Principal(id=token)),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=upstream,
        trusted_proxies=["127.0.0.1"],
        storage_uri=REDIS_URL,
        rate_limits=RATE_LIMITS,
        ip_rate_limits=None,
        on_storage_error="deny",
    )
    inner = Starlette(routes=[Route("/health", health)], lifespan=close_upstream)
    return OrgaMiddleware(inner, endpoint=endpoint)


endpoint_app = _endpoint_app() if os.environ.get("ORGA_TEST_APP") == "endpoint" else None
