"""The Litestar plugin through real requests: route, auth, guards, OpenAPI, lifecycle, DI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.testing import AsyncTestClient
from orga_asgi_litestar import OrgaDependency, OrgaPlugin, OrgaPluginConfig

from orga_asgi import (
    DEFAULT_PATH,
    AuthorizeHook,
    ConfigurationError,
    EndpointConfig,
    OrgaClientSecrets,
    Principal,
    allow_anonymous,
)
from orga_asgi.auth import scope_user
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from tests._support import uvicorn_server

pytestmark = pytest.mark.anyio


@dataclass
class User:
    id: str


class HeaderAuth(AbstractAuthenticationMiddleware):
    """The app's own authentication: ``X-User`` names the user; no header, no user."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        name = connection.headers.get("x-user")
        return AuthenticationResult(user=User(id=name) if name else None, auth=None)


def admins_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.headers.get("x-role") != "admin":
        raise PermissionDeniedException("admins only")


@pytest.fixture
def upstream(fake_orga_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return fake_orga_client


def plugin(
    upstream: httpx.AsyncClient,
    *,
    options: Any = None,
    authorize: AuthorizeHook | None = None,
    **config: Any,
) -> OrgaPlugin:
    endpoint = EndpointConfig(
        authorize=authorize or scope_user(),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=upstream,
        **(options or {}),
    )
    return OrgaPlugin(OrgaPluginConfig(endpoint=endpoint, **config))


def client(app: Litestar) -> AsyncTestClient[Litestar]:
    return AsyncTestClient(app, base_url="https://app.test")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", [None, "/v2/realtime/credentials"])
async def test_route_served_at_default_and_custom_path(
    fake: FakeOrga, upstream: httpx.AsyncClient, method: str, path: str | None
) -> None:
    config: dict[str, Any] = {"path": path} if path else {}
    app = Litestar(middleware=[HeaderAuth], plugins=[plugin(upstream, **config)])
    async with client(app) as http:
        response = await http.request(method, path or DEFAULT_PATH, headers={"x-user": "ada"})
        elsewhere = await http.get(DEFAULT_PATH if path else "/v2/realtime/credentials")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ephemeralToken"].count(".") == 2 and body["iceServers"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    assert [c.path for c in fake.calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]
    assert fake.calls[0].authorization == f"Bearer {FAKE_API_KEY}"
    assert elsewhere.status_code == 404


async def test_request_user_is_the_principal(fake: FakeOrga, upstream: httpx.AsyncClient) -> None:
    # One mint per user per minute: the second call of ada is limited, bob's is not.
    orga = plugin(upstream, options={"rate_limits": "1/minute"})
    app = Litestar(middleware=[HeaderAuth], plugins=[orga])
    async with client(app) as http:
        anonymous = await http.get(DEFAULT_PATH)
        first = await http.get(DEFAULT_PATH, headers={"x-user": "ada"})
        again = await http.get(DEFAULT_PATH, headers={"x-user": "ada"})
        other = await http.get(DEFAULT_PATH, headers={"x-user": "bob"})
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": "unauthorized",
        "message": anonymous.json()["message"],
        "requestId": anonymous.headers["x-request-id"],
    }
    assert (first.status_code, again.status_code, other.status_code) == (200, 429, 200)
    assert again.json()["error"] == "rate_limited"
    assert len(fake.calls_to("client-secrets")) == 2


async def test_without_auth_middleware_every_call_is_401(
    fake: FakeOrga, upstream: httpx.AsyncClient
) -> None:
    app = Litestar(plugins=[plugin(upstream)])
    async with client(app) as http:
        response = await http.post(DEFAULT_PATH)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert fake.calls == []


async def test_guard_refusal_is_litestar_403(fake: FakeOrga, upstream: httpx.AsyncClient) -> None:
    app = Litestar(middleware=[HeaderAuth], plugins=[plugin(upstream, guards=[admins_only])])
    async with client(app) as http:
        refused = await http.get(DEFAULT_PATH, headers={"x-user": "ada"})
        assert fake.calls == []
        allowed = await http.get(DEFAULT_PATH, headers={"x-user": "ada", "x-role": "admin"})
    # Guards run inside Litestar, before the core: their refusal has Litestar's error body.
    assert refused.status_code == 403
    assert refused.json() == {"status_code": 403, "detail": "admins only"}
    assert allowed.status_code == 200


async def test_other_methods_and_preflight_reach_the_core(upstream: httpx.AsyncClient) -> None:
    site = "https://web.example"
    orga = plugin(upstream, options={"allowed_origins": [site]}, guards=[admins_only])
    app = Litestar(middleware=[HeaderAuth], plugins=[orga])
    async with client(app) as http:
        put = await http.put(DEFAULT_PATH)
        preflight = await http.options(
            DEFAULT_PATH, headers={"origin": site, "access-control-request-method": "POST"}
        )
    assert put.status_code == 405
    assert put.json()["error"] == "method_not_allowed"
    assert put.headers["allow"] == "GET, POST"
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == site


async def test_app_after_request_hooks_leave_the_route_alone(upstream: httpx.AsyncClient) -> None:
    async def stamp(response: Response[Any]) -> Response[Any]:
        response.headers["x-app"] = "stamped"  # an ASGI app has no headers: must not run
        return response

    @get("/hello")
    async def hello() -> str:
        return "hi"

    orga = plugin(upstream, authorize=allow_anonymous)
    app = Litestar(route_handlers=[hello], after_request=stamp, plugins=[orga])
    async with client(app) as http:
        minted = await http.get(DEFAULT_PATH)
        other = await http.get("/hello")
    assert minted.status_code == 200, minted.text
    assert other.headers["x-app"] == "stamped"


async def test_openapi_documents_the_route(upstream: httpx.AsyncClient) -> None:
    app = Litestar(plugins=[plugin(upstream, tags=["realtime"])])
    async with client(app) as http:
        schema = (await http.get("/schema/openapi.json")).json()
    item = schema["paths"][DEFAULT_PATH]
    assert set(item) == {"get", "post"}
    components = schema["components"]["schemas"]

    def resolve(response: dict[str, Any]) -> dict[str, Any]:
        ref = response["content"]["application/json"]["schema"]["$ref"]
        return components[ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]

    for operation in item.values():
        assert operation["tags"] == ["realtime"]
        responses = operation["responses"]
        ok = resolve(responses["200"])
        assert {"ephemeralToken", "iceServers", "ttl", "expiresAt"} == set(ok["properties"])
        assert set(ok["required"]) == {"ephemeralToken", "iceServers"}
        for status in ("401", "403", "413", "429", "500", "502", "503", "504"):
            error = resolve(responses[status])
            assert set(error["required"]) == {"error", "message", "requestId"}


async def test_include_in_schema_false_hides_the_route(upstream: httpx.AsyncClient) -> None:
    app = Litestar(plugins=[plugin(upstream, include_in_schema=False)])
    async with client(app) as http:
        schema = (await http.get("/schema/openapi.json")).json()
    assert DEFAULT_PATH not in schema.get("paths", {})


async def test_shutdown_closes_the_endpoint(
    upstream: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    orga = plugin(upstream)
    closed: list[bool] = []
    real = orga.endpoint.aclose

    async def aclose() -> None:
        closed.append(True)
        await real()

    monkeypatch.setattr(orga.endpoint, "aclose", aclose)
    app = Litestar(plugins=[orga])
    async with client(app):
        assert closed == []
    assert closed == [True]


async def test_dependency_issues_for_other_handlers(
    fake: FakeOrga, upstream: httpx.AsyncClient
) -> None:
    @get("/mint")
    async def mint(orga: OrgaDependency) -> dict[str, Any]:
        return (await orga.issue(Principal(id="ada"))).to_dict()

    @get("/mint-custom")
    async def mint_custom(realtime: OrgaDependency) -> str:
        return (await realtime.issue(Principal(id="ada"))).ephemeral_token

    default = Litestar(route_handlers=[mint], plugins=[plugin(upstream)])
    custom = Litestar(
        route_handlers=[mint_custom], plugins=[plugin(upstream, dependency_key="realtime")]
    )
    async with client(default) as http:
        body = (await http.get("/mint")).json()
    async with client(custom) as http:
        token = (await http.get("/mint-custom")).text
    assert body["ephemeralToken"] and body["iceServers"]
    assert token.count(".") == 2
    assert len(fake.calls_to("client-secrets")) == 2


def test_configuration_errors() -> None:
    endpoint = OrgaClientSecrets(
        authorize=lambda request: None, api_key=FAKE_API_KEY, base_url=FAKE_BASE_URL
    )
    settings = EndpointConfig(authorize=allow_anonymous, api_key=FAKE_API_KEY)
    with pytest.raises(ConfigurationError, match="either endpoint"):
        OrgaPlugin(OrgaPluginConfig(endpoint=endpoint, endpoint_options={"timeout": 2}))
    with pytest.raises(ConfigurationError, match="either endpoint"):
        OrgaPlugin(OrgaPluginConfig(endpoint=settings, authorize=allow_anonymous))
    with pytest.raises(ConfigurationError, match="absolute route path"):
        OrgaPlugin(OrgaPluginConfig(path="api/orga", endpoint=endpoint))
    with pytest.raises(ConfigurationError, match="did you mean 'rate_limits'"):
        OrgaPluginConfig.from_env({}, rate_limit="1/minute")
    with pytest.raises(ConfigurationError, match="ORGA_RETRIES must be a number"):
        OrgaPluginConfig.from_env({"ORGA_API_KEY": FAKE_API_KEY, "ORGA_RETRIES": "two"})
    served = OrgaPlugin(OrgaPluginConfig(endpoint=endpoint))
    assert served.endpoint is endpoint
    assert OrgaPlugin(OrgaPluginConfig(endpoint=settings)).endpoint.config is settings


def test_endpoint_options_still_work_deprecated() -> None:
    options = {"api_key": FAKE_API_KEY, "base_url": FAKE_BASE_URL, "rate_limits": "3/minute"}
    with pytest.warns(DeprecationWarning, match="endpoint_options"):
        orga = OrgaPlugin(OrgaPluginConfig(endpoint_options=options))
    assert orga.endpoint.config.rate_limits == ("3/minute",)
    with (
        pytest.warns(DeprecationWarning, match="endpoint_options"),
        pytest.raises(ConfigurationError, match="authorize is given twice"),
    ):
        OrgaPlugin(
            OrgaPluginConfig(
                authorize=lambda request: None,
                endpoint_options={"authorize": lambda request: None, "api_key": FAKE_API_KEY},
            )
        )


def test_settings_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("ORGA_RATE_LIMITS", "4/minute,40/day")
    monkeypatch.setenv("ORGA_ALLOWED_ORIGINS", "https://web.example")
    config = OrgaPlugin().endpoint.config
    assert config.rate_limits == ("4/minute", "40/day")
    assert config.allowed_origins == ("https://web.example",)


async def test_from_env_serves_the_route(fake: FakeOrga, upstream: httpx.AsyncClient) -> None:
    environ = {
        "ORGA_API_KEY": FAKE_API_KEY,
        "ORGA_BASE_URL": FAKE_BASE_URL,
        "ORGA_RATE_LIMITS": "1/minute",
        "ORGA_MAX_IN_FLIGHT_PER_PRINCIPAL": "1",
    }
    config = OrgaPluginConfig.from_env(
        environ, http_client=upstream, guards=[admins_only], tags=["realtime"]
    )
    assert config.guards == [admins_only]
    assert config.endpoint is not None and not isinstance(config.endpoint, OrgaClientSecrets)
    assert config.endpoint.max_in_flight_per_principal == 1
    app = Litestar(middleware=[HeaderAuth], plugins=[OrgaPlugin(config)])
    headers = {"x-user": "ada", "x-role": "admin"}
    async with client(app) as http:
        refused = await http.get(DEFAULT_PATH, headers={"x-user": "ada"})
        first = await http.get(DEFAULT_PATH, headers=headers)
        again = await http.get(DEFAULT_PATH, headers=headers)
    assert (refused.status_code, first.status_code, again.status_code) == (403, 200, 429)
    assert len(fake.calls_to("client-secrets")) == 1


@pytest.mark.servers
def test_real_uvicorn_server(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOrga()
    with uvicorn_server(fake) as upstream_url:
        orga = OrgaPlugin(
            OrgaPluginConfig.from_env(
                {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_ALLOW_INSECURE_LOOPBACK": "1"},
                base_url=upstream_url,  # the default aiohttp pool, on a real socket
            )
        )
        closed: list[bool] = []
        real = orga.endpoint.aclose

        async def aclose() -> None:
            closed.append(True)
            await real()

        monkeypatch.setattr(orga.endpoint, "aclose", aclose)
        app = Litestar(middleware=[HeaderAuth], plugins=[orga])
        with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            ok = http.post(DEFAULT_PATH, headers={"x-user": "ada"})
            anonymous = http.get(DEFAULT_PATH)
        assert ok.status_code == 200, ok.text
        assert ok.json()["ephemeralToken"]
        assert anonymous.status_code == 401
        assert closed == [True]
        assert len(fake.calls_to("ice-config")) == 1
