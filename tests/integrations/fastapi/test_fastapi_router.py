"""orga_asgi_fastapi.OrgaRouter: OpenAPI, FastAPI's own injection, the core's pipeline, lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from orga_asgi_fastapi import OrgaRouter

from orga_asgi import DEFAULT_PATH, ConfigurationError
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from tests._support import caller, track_closes
from tests.examples._example_support import lifespan

pytestmark = pytest.mark.anyio

ALICE = {"authorization": "Bearer alice-token"}
TOKENS = {"alice-token": "alice"}
seen_scopes: list[list[str]] = []


@dataclass
class User:
    id: str


def get_current_user(
    scopes: SecurityScopes,
    credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))
    ],
) -> User | None:
    seen_scopes.append(list(scopes.scopes))
    name = TOKENS.get(credentials.credentials) if credentials else None
    return User(id=name) if name else None


def minted(fake: FakeOrga) -> int:
    return sum(call.path.endswith("/client-secrets") for call in fake.calls)


def make_app(fake: FakeOrga, **options: Any) -> tuple[FastAPI, OrgaRouter]:
    router = OrgaRouter(
        current_user=Security(get_current_user, scopes=["orga:mint"]),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=fake)),
        **options,
    )
    app = FastAPI()
    app.include_router(router)
    return app, router


async def test_openapi_documents_both_methods_and_every_body(fake_orga: FakeOrga) -> None:
    app, _ = make_app(fake_orga)
    schema = app.openapi()
    operations = schema["paths"][DEFAULT_PATH]
    assert set(operations) == {"get", "post"}
    components = schema["components"]["schemas"]
    for operation in operations.values():
        responses = operation["responses"]
        assert {"200", "401", "403", "429", "502", "503", "504"} <= set(responses)
        ok = responses["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
        assert set(components[ok]["properties"]) == {
            "ephemeralToken",
            "iceServers",
            "ttl",
            "expiresAt",
        }
        for code in ("401", "403", "429", "502", "503", "504"):
            ref = responses[code]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
            assert set(components[ref]["properties"]) == {"error", "message", "requestId"}
        # FastAPI writes Security scopes for non-OAuth2 schemes into OpenAPI only in newer
        # releases (0.115.2 lists the scheme with no scopes); the scheme is there in both.
        [requirement] = operation["security"]
        assert list(requirement) == ["HTTPBearer"]
        assert requirement["HTTPBearer"] in ([], ["orga:mint"])


async def test_bearer_dependency_with_security_scopes(fake_orga: FakeOrga) -> None:
    app, _ = make_app(fake_orga)
    seen_scopes.clear()
    async with caller(app) as client:
        ok = await client.post(DEFAULT_PATH, headers=ALICE)
        refused = await client.get(DEFAULT_PATH)
        other = await client.put(DEFAULT_PATH, headers=ALICE)  # the hidden route: the core's 405
    assert other.status_code == 405 and other.json()["requestId"]
    assert ok.status_code == 200, ok.text
    assert ok.json()["ephemeralToken"] and ok.json()["iceServers"]
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized" and refused.json()["requestId"]
    assert seen_scopes == [["orga:mint"], ["orga:mint"]]
    assert minted(fake_orga) == 1


async def test_dependency_overrides_apply(fake_orga: FakeOrga) -> None:
    app, _ = make_app(fake_orga)
    app.dependency_overrides[get_current_user] = lambda: User(id="carol")
    async with caller(app) as client:
        response = await client.get(DEFAULT_PATH)  # no token: the override says who it is
    assert response.status_code == 200, response.text
    app.dependency_overrides[get_current_user] = lambda: None
    async with caller(app) as client:
        assert (await client.get(DEFAULT_PATH, headers=ALICE)).status_code == 401


async def test_rate_limit_is_the_cores_429(fake_orga: FakeOrga) -> None:
    app, _ = make_app(fake_orga, rate_limits="1/minute")
    async with caller(app) as client:
        first = await client.get(DEFAULT_PATH, headers=ALICE)
        second = await client.get(DEFAULT_PATH, headers=ALICE)
    assert first.status_code == 200, first.text
    assert second.status_code == 429
    body = second.json()
    assert body["error"] == "rate_limited" and body["requestId"] and body["message"]
    assert int(second.headers["retry-after"]) >= 1
    assert "no-store" in second.headers["cache-control"]
    assert minted(fake_orga) == 1


async def test_plain_http_is_refused_after_the_dependency(fake_orga: FakeOrga) -> None:
    app, _ = make_app(fake_orga)
    async with caller(app, scheme="http") as client:
        response = await client.get(DEFAULT_PATH, headers=ALICE)
    assert response.status_code == 403
    assert response.json()["error"] == "https_required"
    assert minted(fake_orga) == 0


async def test_pool_closes_with_the_app(fake_orga: FakeOrga) -> None:
    app, router = make_app(fake_orga)
    closed = track_closes(router.endpoint)
    async with lifespan(app):
        async with caller(app) as client:
            assert (await client.get(DEFAULT_PATH, headers=ALICE)).status_code == 200
        assert closed == []
    assert closed == [True]


async def test_a_user_without_id_is_a_json_500_naming_the_fix(fake_orga: FakeOrga) -> None:
    app, _ = make_app(fake_orga)
    app.dependency_overrides[get_current_user] = lambda: object()
    async with caller(app) as client:
        response = await client.get(DEFAULT_PATH)
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"


def test_authorize_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="current_user"):
        OrgaRouter(current_user=get_current_user, authorize=lambda request: None)
