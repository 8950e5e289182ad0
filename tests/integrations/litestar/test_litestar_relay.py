"""OrgaPlugin serves a sealed endpoint's relay beside the token route, as OrgaMiddleware does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.testing import AsyncTestClient
from orga_asgi_litestar import OrgaPlugin, OrgaPluginConfig

from orga_asgi import DEFAULT_PATH, ConfigurationError, EndpointConfig
from orga_asgi.auth import scope_user
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from tests.integrations._relay import REFUSING, assert_one_session_per_handle, assert_policy_refusal
from tests.sealed._support import RELAY, start

pytestmark = pytest.mark.anyio

ADA = {"headers": {"x-user": "ada"}}


@dataclass
class User:
    id: str


class StrictAuth(AbstractAuthenticationMiddleware):
    """The app's own authentication, refusing a request without ``X-User`` outright."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        name = connection.headers.get("x-user")
        if not name:
            raise NotAuthorizedException("who are you?")
        return AuthenticationResult(user=User(id=name), auth=None)


@pytest.fixture
def upstream(fake_orga_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return fake_orga_client


def plugin(upstream: httpx.AsyncClient, *, path: str = DEFAULT_PATH, **options: Any) -> OrgaPlugin:
    endpoint = EndpointConfig(
        authorize=scope_user(),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=upstream,
        **options,
    )
    return OrgaPlugin(OrgaPluginConfig(endpoint=endpoint, path=path))


def make_app(upstream: httpx.AsyncClient, **options: Any) -> Litestar:
    return Litestar(middleware=[StrictAuth], plugins=[plugin(upstream, **options)])


def client(app: Litestar) -> AsyncTestClient[Litestar]:
    return AsyncTestClient(app, base_url="https://app.test")


async def test_a_handle_starts_one_session_through_the_relay(
    fake: FakeOrga, upstream: httpx.AsyncClient
) -> None:
    # The relay carries the handle, not the app's credentials: the app's authentication
    # middleware, which refuses such a request, leaves it to the relay.
    async with client(make_app(upstream, sealed=True)) as http:
        await assert_one_session_per_handle(http, fake, **ADA)


async def test_the_policy_refuses_a_param_naming_it(
    fake: FakeOrga, upstream: httpx.AsyncClient
) -> None:
    async with client(make_app(upstream, session_policy=REFUSING)) as http:
        await assert_policy_refusal(http, fake, **ADA)


async def test_the_relay_answers_every_method_itself(upstream: httpx.AsyncClient) -> None:
    async with client(make_app(upstream, sealed=True)) as http:
        response = await http.get(RELAY)
        preflight = await http.options(RELAY)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
    assert preflight.status_code == 405 and preflight.json()["error"] == "method_not_allowed"


async def test_the_relay_is_not_in_the_openapi_schema(upstream: httpx.AsyncClient) -> None:
    paths = make_app(upstream, sealed=True).openapi_schema.paths or {}
    assert DEFAULT_PATH in paths and RELAY not in paths


async def test_unsealed_the_relay_path_is_litestars_404(
    fake: FakeOrga, upstream: httpx.AsyncClient
) -> None:
    async with client(make_app(upstream)) as http:
        response = await start(http, "x" * 43, **ADA)
    assert response.status_code == 404
    assert response.json() == {"status_code": 404, "detail": "Not Found"}
    assert fake.calls_to("calls") == []


def test_the_token_path_may_not_be_the_relays(upstream: httpx.AsyncClient) -> None:
    with pytest.raises(ConfigurationError, match=r"relay's path; change OrgaPluginConfig\(path"):
        plugin(upstream, sealed=True, path=RELAY)
    plugin(upstream, path=RELAY)  # not sealed: no relay to clash with
