"""Handlers minting through the ``orga`` dependency: OrgaError answers as the route does."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, Response, get
from litestar.testing import AsyncTestClient
from orga_asgi_litestar import OrgaDependency, OrgaPlugin, OrgaPluginConfig, orga_error_handler

from orga_asgi import (
    DEFAULT_PATH,
    ConfigurationError,
    EndpointConfig,
    OrgaError,
    Principal,
    RateLimited,
    error_response,
)
from orga_asgi.auth import scope_user
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from tests._support import uvicorn_server

from .test_litestar_plugin import HeaderAuth

pytestmark = pytest.mark.anyio

RID = "trace-0123456789"
# Only over HTTPS does the route add HSTS; error_response() is transport-agnostic.
_TRANSPORT = {"strict-transport-security"}


@get("/mint")
async def mint(orga: OrgaDependency) -> dict[str, Any]:
    return (await orga.issue(Principal(id="ada"))).to_dict()


@get("/broken")
async def broken() -> str:
    raise ConfigurationError("a server fault, not the caller's")


def limited_plugin(upstream: httpx.AsyncClient, **config: Any) -> OrgaPlugin:
    endpoint = EndpointConfig(
        authorize=scope_user(),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=upstream,
        rate_limits="1/minute",
    )
    return OrgaPlugin(OrgaPluginConfig(endpoint=endpoint, **config))


def headers_of(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in _TRANSPORT}


async def test_rate_limit_from_issue_is_the_routes_429(
    fake: FakeOrga, fake_orga_client: httpx.AsyncClient
) -> None:
    app = Litestar(
        route_handlers=[mint], middleware=[HeaderAuth], plugins=[limited_plugin(fake_orga_client)]
    )
    ada = {"x-user": "ada", "x-request-id": RID}
    async with AsyncTestClient(app, base_url="https://app.test") as http:
        first = await http.get("/mint")
        minted_again = await http.get("/mint", headers={"x-request-id": RID})
        route = await http.get(DEFAULT_PATH, headers=ada)  # the same principal, on the route
    assert first.status_code == 200, first.text
    assert minted_again.status_code == route.status_code == 429
    body = {"error": "rate_limited", "message": route.json()["message"], "requestId": RID}
    assert minted_again.json() == route.json() == body
    mine, theirs = headers_of(minted_again), headers_of(route)
    assert mine.pop("retry-after") and theirs.pop("retry-after")  # seconds left: may tick
    for sent in (mine, theirs):  # and RateLimit's t= is the same count
        policy, found, _ = sent["ratelimit"].rpartition(";t=")
        assert found
        sent["ratelimit"] = policy
    assert mine == theirs
    assert mine["cache-control"] == "no-store"
    assert mine["content-type"] == "application/json"
    assert mine["x-request-id"] == RID
    assert len(fake.calls_to("client-secrets")) == 1


async def test_the_handler_answers_as_error_response() -> None:
    # The same bytes and headers as orga_asgi.error_response, the FastAPI/Starlette recipe.
    exc = RateLimited(retry_after=7)

    @get("/limited")
    async def limited() -> None:
        raise exc

    app = Litestar(route_handlers=[limited], exception_handlers={OrgaError: orga_error_handler})
    async with AsyncTestClient(app) as http:
        answer = await http.get("/limited", headers={"x-request-id": RID})
    expected = error_response(exc, request_id=RID)
    assert answer.status_code == expected.status_code == 429
    assert answer.content == expected.body
    assert sorted(answer.headers.multi_items()) == sorted(
        (k.decode(), v.decode()) for k, v in expected.raw_headers
    )
    assert answer.headers["retry-after"] == "7"


async def test_server_fault_is_500_and_logged(
    fake_orga_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    app = Litestar(  # no logging_config: Litestar's would replace pytest's capture handler
        route_handlers=[broken], plugins=[limited_plugin(fake_orga_client)], logging_config=None
    )
    with caplog.at_level(logging.ERROR, logger="orga_asgi.litestar"):
        async with AsyncTestClient(app) as http:
            answer = await http.get("/broken")
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal_error"
    assert "server fault" not in answer.text
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ConfigurationError]


async def test_the_apps_own_handler_wins_and_it_can_be_turned_off(
    fake_orga_client: httpx.AsyncClient,
) -> None:
    def teapot(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
        return Response("mine", status_code=418)

    own = Litestar(
        route_handlers=[mint],
        exception_handlers={OrgaError: teapot},
        plugins=[limited_plugin(fake_orga_client)],
    )
    off = Litestar(
        route_handlers=[mint], plugins=[limited_plugin(fake_orga_client, handle_errors=False)]
    )
    async with AsyncTestClient(own) as http:
        statuses = [(await http.get("/mint")).status_code for _ in range(2)]
    assert statuses == [200, 418]
    async with AsyncTestClient(off) as http:
        statuses = [(await http.get("/mint")).status_code for _ in range(2)]
    assert statuses == [200, 500]  # Litestar's own 500: the app asked for no handler
    assert OrgaError not in off.exception_handlers


@pytest.mark.servers
def test_real_uvicorn_server_answers_429() -> None:
    fake = FakeOrga()
    with uvicorn_server(fake) as upstream_url:
        orga = OrgaPlugin(
            OrgaPluginConfig.from_env(
                {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_RATE_LIMITS": "1/minute"},
                base_url=upstream_url,
                allow_insecure_loopback=True,
            )
        )
        app = Litestar(route_handlers=[mint], plugins=[orga])
        with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            first = http.get("/mint")
            again = http.get("/mint")
    assert first.status_code == 200, first.text
    assert again.status_code == 429
    assert again.json()["error"] == "rate_limited"
    assert again.headers["cache-control"] == "no-store"
    assert int(again.headers["retry-after"]) > 0
