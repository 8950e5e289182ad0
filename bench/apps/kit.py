"""(c), (c-redis), (d-401), (d-429): the orga-asgi kit with its defaults plus a bearer hook.

Configured by env (run.py sets these per row):
    KIT_STORAGE          limits storage URI, default ``memory://`` (``redis://127.0.0.1:6379``
                         for c-redis)
    KIT_RATE_LIMITS      per-principal windows, ``;``-separated, default high enough never to
                         refuse; ``1/hour`` makes every request after the first a 429 (d-429)
    KIT_IP_RATE_LIMITS   per-IP windows, same format and default

Only this module imports orga_asgi, so rows (a), (b), (e) keep working while the core lands.
"""

from __future__ import annotations

import os

from _common import API_KEY, UPSTREAM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import bearer

# The token wrk sends; anything else (or no header) is a 401.
BENCH_TOKEN = "bench-token"
_NEVER = "100000000/minute"


def _windows(name: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in os.environ.get(name, _NEVER).split(";") if w.strip())


def verify(token: str) -> Principal | None:
    return Principal(id="bench-user") if token == BENCH_TOKEN else None


endpoint = OrgaClientSecrets(
    authorize=bearer(verify),
    api_key=API_KEY,
    base_url=UPSTREAM,
    # wrk connects from 127.0.0.1 and sends X-Forwarded-Proto: https, as a TLS-terminating
    # proxy would; the memory run also varies X-Forwarded-For to get distinct client addresses.
    trusted_proxies=["127.0.0.1"],
    # One principal is all wrk can be, so the per-principal in-flight cap (default 2) would
    # turn 30 of 32 connections into 429s; everything else stays at the kit's defaults.
    max_in_flight_per_principal=None,
    storage_uri=os.environ.get("KIT_STORAGE", "memory://"),
    rate_limits=_windows("KIT_RATE_LIMITS"),
    ip_rate_limits=_windows("KIT_IP_RATE_LIMITS"),
)


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("app")


# Served the way the README tells users to: the middleware in front of an existing app.
app = OrgaMiddleware(Starlette(routes=[Route("/", home)]), endpoint=endpoint)
