"""The app the server cells run: the endpoint in front of a small Starlette app.

Configured by environment, as a deployment would be: ORGA_API_KEY, ORGA_BASE_URL (a
FakeOrga on loopback), and a bearer hook accepting one test token.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import bearer


def verify(token: str) -> Principal | None:
    return Principal(id="server-cell") if token == "cell-token" else None


async def home(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse("home")


endpoint = OrgaClientSecrets(
    authorize=bearer(verify),
    trusted_proxies=["127.0.0.1"],
    rate_limits=("1000/minute",),
    ip_rate_limits=("1000/minute",),
)
app = OrgaMiddleware(Starlette(routes=[Route("/", home)]), endpoint=endpoint)
