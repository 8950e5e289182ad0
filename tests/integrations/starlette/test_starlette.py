"""Starlette: the endpoint through OrgaMiddleware, as a Route, as a Mount; Starlette's
AuthenticationMiddleware feeding ``orga_asgi.auth.scope_user()``; a real uvicorn server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Lifespan

from orga_asgi import DEFAULT_PATH, OrgaClientSecrets, OrgaMiddleware
from orga_asgi.auth import scope_user
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint, track_closes, uvicorn_server

pytestmark = pytest.mark.anyio


async def home(request: Request) -> PlainTextResponse:
    user = request.user.display_name or "-"
    return PlainTextResponse(f"starlette:{request.url.path}:{user}")


TOKENS = {"alice-token": "alice", "bob-token": "bob"}


class TokenBackend(AuthenticationBackend):
    """Bearer tokens the way a Starlette app authenticates: the user lands in scope["user"]."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        username = TOKENS.get(token) if scheme.lower() == "bearer" else None
        return (AuthCredentials(["authenticated"]), SimpleUser(username)) if username else None


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def styles(
    endpoint: OrgaClientSecrets, lifespan: Lifespan[Starlette] | None = None
) -> dict[str, Starlette]:
    """The same endpoint served the three Starlette ways, behind AuthenticationMiddleware."""
    auth = Middleware(AuthenticationMiddleware, backend=TokenBackend())
    pages = [Route("/", home), Route("/items/{id}", home)]
    return {
        "middleware": Starlette(
            routes=pages,
            middleware=[auth, Middleware(OrgaMiddleware, endpoint=endpoint)],
            lifespan=lifespan,
        ),
        "route": Starlette(
            routes=[*pages, Route(DEFAULT_PATH, endpoint)], middleware=[auth], lifespan=lifespan
        ),
        "mount": Starlette(
            routes=[*pages, Mount(DEFAULT_PATH, app=endpoint)], middleware=[auth], lifespan=lifespan
        ),
    }


@pytest.mark.parametrize("style", ["middleware", "route", "mount"])
async def test_each_style_serves_the_route_and_leaves_starlette_alone(style: str) -> None:
    fake = FakeOrga()
    app = styles(make_endpoint(fake, authorize=scope_user()))[style]
    # A Mount matches below its path; Starlette redirects the bare path there.
    path = DEFAULT_PATH + "/" if style == "mount" else DEFAULT_PATH
    async with caller(app) as client:
        for method in ("GET", "POST"):
            response = await client.request(method, path, headers=bearer("alice-token"))
            assert response.status_code == 200, response.text
            assert response.json()["ephemeralToken"]
        refused = await client.get(path)
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
        wrong = await client.put(path, headers=bearer("alice-token"))
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, POST")
        page = await client.get("/items/7", headers=bearer("bob-token"))
        assert page.text == "starlette:/items/7:bob"
        assert (await client.get("/nowhere")).status_code == 404
    assert len(fake.calls_to("client-secrets")) == 2


async def test_middleware_listed_in_starlette_sees_scope_user_and_limits_per_user() -> None:
    endpoint = make_endpoint(FakeOrga(), authorize=scope_user(), rate_limits=("2/minute",))
    app = styles(endpoint)["middleware"]
    async with caller(app) as client:
        alice = [await client.get(DEFAULT_PATH, headers=bearer("alice-token")) for _ in range(3)]
        bob = await client.get(DEFAULT_PATH, headers=bearer("bob-token"))
    assert [r.status_code for r in alice] == [200, 200, 429]
    assert alice[2].json()["error"] == "rate_limited"
    assert bob.status_code == 200  # the window is per user, from scope["user"]


async def test_outside_authentication_middleware_there_is_no_user() -> None:
    # OrgaMiddleware wrapping the whole app runs before Starlette's middleware: scope_user()
    # then finds no user. Put OrgaMiddleware in middleware=[...] after the auth middleware.
    inner = Starlette(middleware=[Middleware(AuthenticationMiddleware, backend=TokenBackend())])
    app = OrgaMiddleware(inner, endpoint=make_endpoint(FakeOrga(), authorize=scope_user()))
    async with caller(app) as client:
        response = await client.get(DEFAULT_PATH, headers=bearer("alice-token"))
    assert response.status_code == 401


@pytest.mark.servers
@pytest.mark.parametrize("style", ["middleware", "route"])
def test_real_server_and_shutdown_closes_the_endpoint(style: str) -> None:
    endpoint = make_endpoint(FakeOrga(), authorize=scope_user(), allow_insecure_loopback=True)
    closed = track_closes(endpoint)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A route is not told about shutdown: the app's lifespan closes the endpoint.
        if style == "route":
            async with endpoint:
                yield
        else:
            yield

    app = styles(endpoint, lifespan)[style]
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        response = client.get(DEFAULT_PATH, headers=bearer("alice-token"))
        assert response.status_code == 200, response.text
        assert client.get(DEFAULT_PATH).status_code == 401
        assert client.get("/").text == "starlette:/:-"  # no user: still served
        assert closed == []
    assert closed == [True]
