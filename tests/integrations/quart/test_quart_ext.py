"""The Quart extension: setup styles, app.config, per-app state, quart-auth, lifecycle."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from orga_asgi_quart import OrgaQuart, OrgaState, quart_auth_user
from quart import Quart, request
from quart_auth import AuthUser, QuartAuth, login_user, logout_user
from starlette.requests import Request

from orga_asgi import (
    DEFAULT_PATH,
    ConfigurationError,
    OrgaClientSecrets,
    Principal,
    Secret,
    allow_anonymous,
)
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, sandbox_client
from tests._support import caller, uvicorn_server

pytestmark = pytest.mark.anyio


def sandbox(fake: FakeOrga, **options: Any) -> dict[str, Any]:
    """Options that point the endpoint at ``fake`` in-process."""
    base = {"api_key": FAKE_API_KEY, "base_url": FAKE_BASE_URL, "http_client": sandbox_client(fake)}
    return {**base, **options}


def make_app(*, secure_cookie: bool = True) -> Quart:
    """A Quart app with quart-auth and a few routes of its own."""
    app = Quart(__name__)
    app.secret_key = "test-secret-key-of-sufficient-length"
    app.config["QUART_AUTH_COOKIE_SECURE"] = secure_cookie
    QuartAuth(app)

    @app.post("/login")
    async def login() -> str:
        login_user(AuthUser(request.args["id"]))
        return "in"

    @app.post("/logout")
    async def logout() -> str:
        logout_user()
        return "out"

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def state(app: Quart) -> OrgaState:
    found = app.extensions["orga"]
    assert isinstance(found, OrgaState)
    return found


@pytest.mark.parametrize("style", ["constructor", "init_app"])
async def test_both_setup_styles_serve_a_token(fake: FakeOrga, style: str) -> None:
    app = make_app()
    if style == "constructor":
        OrgaQuart(app, authorize=allow_anonymous, **sandbox(fake))
    else:
        OrgaQuart(authorize=allow_anonymous, **sandbox(fake)).init_app(app)
    assert isinstance(state(app).endpoint, OrgaClientSecrets)
    assert state(app).path == DEFAULT_PATH
    async with caller(app) as client:
        response = await client.get(DEFAULT_PATH)
        slash = await client.post(DEFAULT_PATH + "/")
    assert response.status_code == 200, response.text
    assert set(response.json()) >= {"ephemeralToken", "iceServers"}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    assert slash.status_code == 200
    assert len(fake.calls_to("client-secrets")) == 2


async def test_custom_path_from_config_and_from_option(fake: FakeOrga) -> None:
    from_config = make_app()
    from_config.config["ORGA_PATH"] = "/rtc/token"
    OrgaQuart(from_config, authorize=allow_anonymous, **sandbox(fake))
    from_option = make_app()
    from_option.config["ORGA_PATH"] = "/rtc/token"
    OrgaQuart(from_option, path="/other", authorize=allow_anonymous, **sandbox(fake))
    async with caller(from_config) as a, caller(from_option) as b:
        assert (await a.get("/rtc/token")).status_code == 200
        assert (await a.get(DEFAULT_PATH)).status_code == 404
        assert (await b.get("/other")).status_code == 200
        assert (await b.get("/rtc/token")).status_code == 404


async def test_config_keys_reach_the_core_and_options_win(fake: FakeOrga) -> None:
    app = make_app()
    app.config.update(
        ORGA_API_KEY="sk_orga_ai_from_config",
        ORGA_BASE_URL="https://orga.example",
        ORGA_RATE_LIMITS=["1/minute"],
        ORGA_TRUSTED_PROXIES=["10.0.0.0/8"],
        ORGA_ALLOWED_ORIGINS=["https://app.example"],
        ORGA_STORAGE_URI="memory://",
        ORGA_TIMEOUT=3.0,
        ORGA_AUTHORIZE=allow_anonymous,
    )
    OrgaQuart(app, api_key=FAKE_API_KEY, base_url=FAKE_BASE_URL, http_client=sandbox_client(fake))
    config = state(app).endpoint.config
    assert isinstance(config.api_key, Secret)
    assert config.api_key.reveal() == FAKE_API_KEY  # the option won
    assert config.base_url == FAKE_BASE_URL
    assert config.rate_limits == ("1/minute",)
    assert config.trusted_proxies == ("10.0.0.0/8",)
    assert config.allowed_origins == ("https://app.example",)
    assert config.timeout == 3.0
    async with caller(app) as client:
        first = await client.get(DEFAULT_PATH)
        second = await client.get(DEFAULT_PATH)
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.json()["error"] == "rate_limited"


async def test_unknown_names_and_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'rate_limits'"):
        OrgaQuart(rate_limit="1/minute")
    with pytest.raises(ConfigurationError, match="authorize"):
        OrgaQuart(make_app(), api_key=FAKE_API_KEY)
    with pytest.raises(ConfigurationError, match="path"):
        OrgaQuart(make_app(), path="relative", authorize=allow_anonymous, api_key=FAKE_API_KEY)
    app = make_app()
    app.config["ORGA_RETRIES"] = "two"  # text is parsed as EndpointConfig.from_env parses it
    with pytest.raises(ConfigurationError, match="ORGA_RETRIES must be a number"):
        OrgaQuart(app, authorize=allow_anonymous, api_key=FAKE_API_KEY)


async def test_text_config_is_parsed_like_the_environment(fake: FakeOrga) -> None:
    app = make_app()
    # As app.config.from_prefixed_env() or from_envvar() leave them: text.
    app.config.update(
        ORGA_RATE_LIMITS="1/minute, 9/day",
        ORGA_REQUIRE_HTTPS="false",
        ORGA_MAX_BODY_SIZE="512",
        ORGA_HSTS="none",
    )
    OrgaQuart(app, authorize=allow_anonymous, **sandbox(fake))
    config = state(app).endpoint.config
    assert config.rate_limits == ("1/minute", "9/day")
    assert config.require_https is False
    assert config.max_body_size == 512
    assert config.hsts is None


async def test_the_apps_own_orga_keys_are_ignored_with_one_warning(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    app.config.update(
        ORGA_SOMETHING_ELSE="the app's own, secret-value-1",
        ORGA_RATE_LIMIT="1/minute",  # a typo of ORGA_RATE_LIMITS
        ORGA_PATH="/rtc/token",
        ORGA_TIMEOUT="3",
    )
    with caplog.at_level(logging.WARNING, logger="orga_asgi"):
        OrgaQuart(app, authorize=allow_anonymous, **sandbox(fake))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, caplog.text
    text = warnings[0].getMessage()
    assert "ORGA_SOMETHING_ELSE" in text
    assert "ORGA_RATE_LIMIT (did you mean ORGA_RATE_LIMITS?)" in text
    ignored = text.split(": not settings")[0]
    assert "ORGA_PATH" not in ignored and "ORGA_TIMEOUT" not in ignored
    assert "secret-value-1" not in caplog.text and "1/minute" not in caplog.text
    assert state(app).path == "/rtc/token"
    assert state(app).endpoint.config.timeout == 3.0
    assert state(app).endpoint.config.rate_limits == ("10/minute", "200/day")  # the default
    async with caller(app) as client:
        assert (await client.get("/rtc/token")).status_code == 200


async def test_one_extension_many_apps_keeps_state_per_app(fake: FakeOrga) -> None:
    orga = OrgaQuart(authorize=allow_anonymous, rate_limits="1/minute", **sandbox(fake))
    first, second = make_app(), make_app()
    second.config["ORGA_PATH"] = "/second"
    orga.init_app(first)
    orga.init_app(second)
    assert state(first).endpoint is not state(second).endpoint
    assert (state(first).path, state(second).path) == (DEFAULT_PATH, "/second")
    async with caller(first) as a, caller(second) as b:
        assert (await a.get(DEFAULT_PATH)).status_code == 200
        assert (await b.get("/second")).status_code == 200  # its own limit window
        assert (await a.get(DEFAULT_PATH)).status_code == 429
    with pytest.raises(ConfigurationError, match="already"):
        orga.init_app(first)


async def test_quart_auth_user_is_the_principal(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orga_asgi.audit")
    app = make_app()
    OrgaQuart(app, authorize=quart_auth_user, audit_principal="plain", **sandbox(fake))
    async with caller(app) as client:
        anonymous = await client.get(DEFAULT_PATH)
        assert (await client.post("/login", params={"id": "user-42"})).status_code == 200
        signed_in = await client.post(DEFAULT_PATH)
        await client.post("/logout")
        signed_out = await client.get(DEFAULT_PATH)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": "unauthorized",
        "message": anonymous.json()["message"],
        "requestId": anonymous.headers["x-request-id"],
    }
    assert signed_in.status_code == 200, signed_in.text
    assert signed_out.status_code == 401
    assert len(fake.calls_to("client-secrets")) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "orga_asgi.audit"]
    assert "principal=user-42 outcome=issued" in lines[1]
    assert "principal=- outcome=unauthorized" in lines[0]


async def test_quart_auth_user_needs_the_quart_request() -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    with pytest.raises(RuntimeError, match="only on the route"):
        await quart_auth_user(Request(scope))


async def test_quart_auth_user_without_quart_auth_fails_at_startup(fake: FakeOrga) -> None:
    app = Quart(__name__)
    OrgaQuart(app, authorize=quart_auth_user, **sandbox(fake))
    with pytest.raises(Exception, match=r"needs quart_auth\.QuartAuth\(app\)"):
        async with app.test_app():
            pass


async def test_serving_lifecycle_closes_endpoint_and_hook(fake: FakeOrga) -> None:
    closed: list[str] = []

    async def close_hook() -> None:
        closed.append("hook")

    def authorize(request: Request) -> Any:
        return allow_anonymous(request)

    authorize.aclose = close_hook  # type: ignore[attr-defined]
    upstream = sandbox_client(fake)
    app = make_app()
    OrgaQuart(app, authorize=authorize, **sandbox(fake, http_client=upstream))
    endpoint = state(app).endpoint
    original = endpoint.aclose

    async def spy() -> None:
        closed.append("endpoint")
        await original()

    endpoint.aclose = spy  # type: ignore[method-assign]
    async with app.test_app() as test_app:
        client = test_app.test_client()
        response = await client.get(DEFAULT_PATH, scheme="https")
        assert response.status_code == 200
        assert (await response.get_json())["ephemeralToken"]
        assert closed == []
    assert closed == ["endpoint", "hook"]
    assert not upstream.is_closed  # a supplied client is the caller's to close
    await upstream.aclose()


async def test_other_routes_and_the_core_stages(fake: FakeOrga) -> None:
    app = make_app()
    app.config["ORGA_MAX_BODY_SIZE"] = 100
    origins = {"allowed_origins": ["https://app.example"]}
    OrgaQuart(app, authorize=allow_anonymous, **sandbox(fake, **origins))

    async def chunks() -> Any:  # no Content-Length: the core counts while it reads
        yield b"x" * 60
        yield b"x" * 60

    async with caller(app) as client, caller(app, scheme="http") as insecure:
        plain = await insecure.get(DEFAULT_PATH)
        hello = await client.get("/hello")
        missing = await client.get("/nowhere")
        put = await client.put(DEFAULT_PATH)
        preflight = await client.options(
            DEFAULT_PATH,
            headers={"origin": "https://app.example", "access-control-request-method": "POST"},
        )
        too_big = await client.post(DEFAULT_PATH, content=b"x" * 1000)
        too_big_streamed = await client.post(DEFAULT_PATH, content=chunks())
    assert hello.json() == {"hello": "world"}
    assert "x-request-id" not in hello.headers and "cache-control" not in hello.headers
    assert missing.status_code == 404
    assert (put.status_code, put.headers["allow"]) == (405, "GET, POST")
    assert put.json()["error"] == "method_not_allowed"
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert (plain.status_code, plain.json()["error"]) == (403, "https_required")
    assert (too_big.status_code, too_big.json()["error"]) == (413, "payload_too_large")
    assert too_big_streamed.status_code == 413
    assert too_big_streamed.json()["error"] == "payload_too_large"
    assert fake.calls == []


async def test_hook_reads_the_body_within_quarts_limit(fake: FakeOrga) -> None:
    async def authorize(request: Request) -> Principal | None:
        body = await request.body()
        return Principal(id=body.decode()) if body else None

    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 10
    OrgaQuart(app, authorize=authorize, **sandbox(fake))
    async with caller(app) as client:
        ok = await client.post(DEFAULT_PATH, content=b"user-1")
        too_big = await client.post(DEFAULT_PATH, content=b"x" * 50)
    assert ok.status_code == 200, ok.text
    assert (too_big.status_code, too_big.json()["error"]) == (413, "payload_too_large")


@pytest.mark.servers
def test_real_server_serves_quart_and_closes_on_shutdown() -> None:
    fake = FakeOrga()
    with uvicorn_server(fake) as upstream:  # the default aiohttp pool, over real sockets
        app = make_app(secure_cookie=False)  # plain HTTP on loopback
        OrgaQuart(
            app,
            authorize=quart_auth_user,
            api_key=FAKE_API_KEY,
            base_url=upstream,
            allow_insecure_loopback=True,
        )
        closed: list[bool] = []
        endpoint = state(app).endpoint
        original = endpoint.aclose

        async def spy() -> None:
            closed.append(True)
            await original()

        endpoint.aclose = spy  # type: ignore[method-assign]
        with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
            assert client.get(DEFAULT_PATH).status_code == 401
            client.post("/login", params={"id": "alice"})
            ok = client.get(DEFAULT_PATH)
            assert ok.status_code == 200, ok.text
            assert ok.json()["ephemeralToken"]
            assert client.get("/hello").json() == {"hello": "world"}
            assert closed == []
        assert closed == [True]
    assert len(fake.calls_to("ice-config")) == 1
