"""FastAPI: ``app.add_middleware(OrgaMiddleware, ...)``, the dependency recipe from the
README, FastAPI's routes and OpenAPI left as they were, and a real uvicorn server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orga_asgi import (
    DEFAULT_PATH,
    OrgaClientSecrets,
    OrgaMiddleware,
    Principal,
    RateLimited,
    TooManyInFlight,
    UpstreamError,
)
from orga_asgi.auth import bearer
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint, track_closes, uvicorn_server

pytestmark = pytest.mark.anyio

TOKENS = {"alice-token": "alice", "bob-token": "bob"}
ALICE = {"authorization": "Bearer alice-token"}


def verify_token(token: str) -> Principal | None:
    user_id = TOKENS.get(token)
    return Principal(id=user_id) if user_id else None


def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())],
) -> str:
    principal = verify_token(credentials.credentials)
    if principal is None:
        raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
    return principal.id


def fastapi_app() -> FastAPI:
    """An ordinary FastAPI app: a path parameter, validation, auth, an error."""
    app = FastAPI(title="shop")

    @app.get("/items/{item_id}")
    def item(item_id: int, user: Annotated[str, Depends(current_user)]) -> dict[str, object]:
        return {"item": item_id, "user": user}

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(418, "short and stout")

    return app


async def test_add_middleware_serves_the_route() -> None:
    fake = FakeOrga()
    app = fastapi_app()
    app.add_middleware(OrgaMiddleware, endpoint=make_endpoint(fake, authorize=bearer(verify_token)))
    async with caller(app) as client:
        ok = await client.post(DEFAULT_PATH, headers=ALICE)
        refused = await client.get(DEFAULT_PATH)
    assert ok.status_code == 200, ok.text
    assert set(ok.json()) >= {"ephemeralToken", "iceServers"}
    assert ok.headers["cache-control"] == "no-store"
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    assert len(fake.calls) == 2


async def test_fastapi_routes_are_untouched() -> None:
    fake = FakeOrga()
    app = fastapi_app()
    app.add_middleware(OrgaMiddleware, endpoint=make_endpoint(fake, authorize=bearer(verify_token)))
    async with caller(app) as client:
        item = await client.get("/items/3", headers=ALICE)
        invalid = await client.get("/items/three", headers=ALICE)
        teapot = await client.get("/teapot")
        missing = await client.get("/nowhere")
        near = await client.get(DEFAULT_PATH + "/more", headers=ALICE)
    assert item.json() == {"item": 3, "user": "alice"}
    assert invalid.status_code == 422
    assert (teapot.status_code, teapot.json()) == (418, {"detail": "short and stout"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert near.status_code == 404  # only the exact path is ours
    assert fake.calls == []


async def test_openapi_is_unaffected() -> None:
    plain = fastapi_app()
    wrapped = fastapi_app()
    wrapped.add_middleware(OrgaMiddleware, endpoint=make_endpoint(FakeOrga()))
    async with caller(plain) as before, caller(wrapped) as after:
        expected = (await before.get("/openapi.json")).json()
        schema = await after.get("/openapi.json")
        docs = await after.get("/docs")
    assert schema.status_code == 200
    assert schema.json() == expected
    assert DEFAULT_PATH not in schema.json()["paths"]
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# The dependency recipe (README, FastAPI). issue(principal) applies that principal's rate
# limits and in-flight cap; authentication is the handler's dependencies' job, and the
# route's HTTPS and origin checks do not run.

orga = make_endpoint(FakeOrga(), authorize=bearer(verify_token))


def get_orga() -> OrgaClientSecrets:
    return orga


def recipe_app() -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with orga:  # closes its upstream pool at shutdown
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/api/orga-session")
    async def orga_session(
        user_id: Annotated[str, Depends(current_user)],
        endpoint: Annotated[OrgaClientSecrets, Depends(get_orga)],
    ) -> JSONResponse:
        try:
            secrets = await endpoint.issue(Principal(id=user_id))
        except (RateLimited, TooManyInFlight) as exc:
            retry = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
            raise HTTPException(429, "Too many requests.", headers=retry) from None
        except UpstreamError:
            raise HTTPException(502, "The realtime provider is unavailable.") from None
        return JSONResponse(secrets.to_dict(), headers={"Cache-Control": "no-store"})

    return app


async def test_dependency_recipe_issues_for_the_user() -> None:
    fake = FakeOrga()
    app = recipe_app()
    # The dependency is what makes the endpoint swappable, as in a user's own tests.
    endpoint = make_endpoint(fake, rate_limits=("2/minute",))
    app.dependency_overrides[get_orga] = lambda: endpoint
    async with endpoint, caller(app) as client:
        ok = await client.post("/api/orga-session", headers=ALICE)
        bad = await client.post("/api/orga-session", headers={"authorization": "Bearer nope"})
        fake.fail("client-secrets", status=503, times=3)
        down = await client.post("/api/orga-session", headers=ALICE)
        limited = await client.post("/api/orga-session", headers=ALICE)
        bob = await client.post("/api/orga-session", headers={"authorization": "Bearer bob-token"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["ephemeralToken"] and ok.headers["cache-control"] == "no-store"
    assert bad.status_code == 401
    assert (down.status_code, down.json()) == (
        502,
        {"detail": "The realtime provider is unavailable."},
    )
    # issue(principal) counted alice's two mints (the failed one too): her window is spent.
    assert (limited.status_code, limited.headers["retry-after"].isdigit()) == (429, True)
    assert bob.status_code == 200
    assert "/api/orga-session" in app.openapi()["paths"]  # a FastAPI route: documented


@pytest.mark.servers
def test_real_server_and_shutdown_closes_the_endpoint() -> None:
    endpoint = make_endpoint(
        FakeOrga(), authorize=bearer(verify_token), allow_insecure_loopback=True
    )
    closed = track_closes(endpoint)
    app = fastapi_app()
    app.add_middleware(OrgaMiddleware, endpoint=endpoint)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get(DEFAULT_PATH, headers=ALICE).status_code == 200
        assert client.get("/items/1", headers=ALICE).json() == {"item": 1, "user": "alice"}
        assert closed == []
    assert closed == [True]


@pytest.mark.servers
def test_real_server_runs_the_recipe_lifespan() -> None:
    with uvicorn_server(recipe_app()) as base, httpx.Client(base_url=base, timeout=10) as client:
        response = client.post("/api/orga-session", headers=ALICE)
    assert response.status_code == 200, response.text
