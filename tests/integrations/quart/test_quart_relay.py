"""OrgaQuart serves a sealed endpoint's relay beside the token route, as OrgaMiddleware does."""

from __future__ import annotations

from typing import Any

import pytest
from orga_asgi_quart import OrgaQuart
from quart import Quart

from orga_asgi import ConfigurationError, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, sandbox_client
from tests._support import caller
from tests.integrations._relay import REFUSING, assert_one_session_per_handle, assert_policy_refusal
from tests.sealed._support import RELAY, mint, start

pytestmark = pytest.mark.anyio


def make_app(fake: FakeOrga, **options: Any) -> Quart:
    app = Quart(__name__)
    OrgaQuart(
        app,
        authorize=allow_anonymous,
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox_client(fake),
        **options,
    )
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
        slash = await client.get(RELAY + "/")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
    assert slash.status_code == 405


async def test_the_relay_keeps_its_body_cap(fake: FakeOrga) -> None:
    async with caller(make_app(fake, sealed=True, relay_max_body_size=1024)) as client:
        response = await start(client, await mint(client))
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert fake.calls_to("calls") == []


async def test_unsealed_the_relay_path_is_quarts_404(fake: FakeOrga) -> None:
    async with caller(make_app(fake)) as client:
        response = await start(client, "x" * 43)
    assert response.status_code == 404
    assert "json" not in response.headers["content-type"]  # Quart's own page
    assert fake.calls_to("calls") == []


def test_the_token_path_may_not_be_the_relays(fake: FakeOrga) -> None:
    with pytest.raises(ConfigurationError, match=r"relay's path; change path=\.\.\. \(ORGA_PATH"):
        make_app(fake, sealed=True, path=RELAY + "/")
    app = Quart(__name__)
    app.config["ORGA_PATH"] = "/calls/v1/realtime/calls"
    with pytest.raises(ConfigurationError, match="relay's path"):
        OrgaQuart(
            app,
            authorize=allow_anonymous,
            api_key=FAKE_API_KEY,
            base_url=FAKE_BASE_URL,
            http_client=sandbox_client(fake),
            sealed=True,
            relay_prefix="/calls",
        )
    make_app(fake, path=RELAY)  # not sealed: no relay to clash with
