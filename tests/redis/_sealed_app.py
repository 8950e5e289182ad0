"""Apps served by test_sealed_redis, each in its own uvicorn process.

* ``fake_app``: one FakeOrga, the upstream both endpoint processes share (over real HTTP), so
  a token minted through one process is good for a session started through the other.
* ``endpoint_app`` (with ``ORGA_TEST_APP=sealed``): ``OrgaMiddleware`` + a sealed
  ``OrgaClientSecrets`` on ``ORGA_TEST_REDIS_URL``, upstream ``ORGA_TEST_FAKE_URL``; the
  bearer token is the principal id. ``GET /health`` answers the process id.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Pinned, Principal, SessionPolicy
from orga_asgi.auth import bearer
from orga_asgi.testing import FAKE_API_KEY, FakeOrga

PROMPT = "You are the night porter of Hotel Meridian; the safe code is 9912."

fake_app = FakeOrga()


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


def _endpoint_app() -> OrgaMiddleware:
    endpoint = OrgaClientSecrets(
        authorize=bearer(lambda token: Principal(id=token)),
        api_key=FAKE_API_KEY,
        base_url=os.environ["ORGA_TEST_FAKE_URL"],
        trusted_proxies=["127.0.0.1"],
        storage_uri=os.environ["ORGA_TEST_REDIS_URL"],
        rate_limits=("1000/minute",),
        ip_rate_limits=None,
        on_storage_error="deny",
        session_policy=SessionPolicy(instructions=Pinned(PROMPT)),
    )
    return OrgaMiddleware(Starlette(routes=[Route("/health", health)]), endpoint=endpoint)


endpoint_app = _endpoint_app() if os.environ.get("ORGA_TEST_APP") == "sealed" else None
