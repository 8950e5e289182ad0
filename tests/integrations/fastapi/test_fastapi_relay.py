"""OrgaRouter serves a sealed endpoint's relay beside the token route, as OrgaMiddleware does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from orga_asgi_fastapi import OrgaRouter

from orga_asgi import DEFAULT_PATH, ConfigurationError
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, sandbox_client
from tests._support import caller
from tests.integrations._relay import REFUSING, assert_one_session_per_handle, assert_policy_refusal
from tests.sealed._support import RELAY, mint, session_body, start

pytestmark = pytest.mark.anyio


@dataclass
class User:
    id: str


def ada() -> User:
    return User(id="ada")


def router(fake: FakeOrga, **options: Any) -> OrgaRouter:
    return OrgaRouter(
        current_user=ada,
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox_client(fake),
        **options,
    )


def make_app(fake: FakeOrga, *, prefix: str = "", **options: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(router(fake, **options), prefix=prefix)
    return app


async def test_a_handle_starts_one_session_through_the_relay(fake: FakeOrga) -> None:
    async with caller(make_app(fake, sealed=True)) as client:
        await assert_one_session_per_handle(client, fake)


async def test_the_policy_refuses_a_param_naming_it(fake: FakeOrga) -> None:
    async with caller(make_app(fake, session_policy=REFUSING)) as client:
        await assert_policy_refusal(client, fake)


async def test_the_relay_answers_every_method_itself(fake: FakeOrga) -> None:
    async with caller(make_app(fake, sealed=True)) as client:
        response = await client.get(RELAY)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"


async def test_an_include_router_prefix_applies_to_the_relay_too(fake: FakeOrga) -> None:
    async with caller(make_app(fake, prefix="/v2", sealed=True)) as client:
        response = await client.post("/v2" + DEFAULT_PATH)
        handle = response.json()["ephemeralToken"]
        started = await client.post(
            "/v2" + RELAY, json=session_body(), headers={"authorization": f"Bearer {handle}"}
        )
        bare = await client.post(RELAY, json=session_body())
    assert response.status_code == 200 and started.status_code == 200, started.text
    assert bare.status_code == 404


async def test_the_relay_is_not_in_the_openapi_schema(fake: FakeOrga) -> None:
    paths = make_app(fake, sealed=True).openapi()["paths"]
    assert DEFAULT_PATH in paths and RELAY not in paths


async def test_unsealed_the_relay_path_is_fastapis_404(fake: FakeOrga) -> None:
    async with caller(make_app(fake)) as client:
        token = await mint(client)
        response = await start(client, token)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    assert fake.calls_to("calls") == []


def test_the_token_path_may_not_be_the_relays(fake: FakeOrga) -> None:
    with pytest.raises(ConfigurationError, match="relay's path; change path="):
        router(fake, sealed=True, path=RELAY + "/")
    router(fake, path=RELAY)  # not sealed: no relay to clash with
