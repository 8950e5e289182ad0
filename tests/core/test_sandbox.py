"""The sandbox in your own app: ``sandbox=True`` / ``ORGA_SANDBOX=1`` (issue 13).

An app factory and a user's module-level app (``_sandbox_app.py``, switched by the variable
alone) under Starlette's ``TestClient`` and under a real uvicorn on 127.0.0.1; the one
WARNING; the settings it refuses; the owned fake closed with the endpoint and reopened by
the next session; ``reset_limits()`` between tests.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from orga_asgi import (
    DEFAULT_PATH,
    ConfigurationError,
    EndpointConfig,
    OrgaClientSecrets,
    OrgaMiddleware,
    allow_anonymous,
    keys,
)
from orga_asgi.cli import _parser, build_serve_app, main
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL
from orga_asgi.testing._recording import remember
from tests._cli_process import cli
from tests._support import caller
from tests.sealed._support import RELAY, session_body

ROOT = Path(__file__).resolve().parents[2]
USER_APP = Path(__file__).with_name("_sandbox_app.py")
REAL_KEY = "sk_orga_ai_realkeyrealkeyrealkey"
ALICE = {"Authorization": "Bearer alice-token"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every ORGA_* variable changes what an endpoint is: a developer's own must not leak in.
    for name in [name for name in os.environ if name.startswith("ORGA_")]:
        monkeypatch.delenv(name)


def sandbox_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "orga_asgi.sandbox" and r.levelno == logging.WARNING
    ]


def load_user_app() -> ModuleType:
    """Import ``_sandbox_app.py`` afresh, as a process starting the app would."""
    spec = importlib.util.spec_from_file_location("sandbox_user_app", USER_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def open_client(endpoint: OrgaClientSecrets) -> httpx.AsyncClient | None:
    """The in-process client of the endpoint's own fake, while one is open."""
    assert endpoint._sandbox is not None
    return endpoint._sandbox.client


def create_app(**options: Any) -> Starlette:
    """An app factory, as a user's tests call it: the settings are arguments."""
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, **options)
    app = Starlette(routes=[Route(DEFAULT_PATH, endpoint)])
    app.state.endpoint = endpoint
    return app


# --- TestClient ---------------------------------------------------------------------------


def test_an_app_factory_in_the_sandbox_answers_testclient_over_http(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(sandbox=True)
    with TestClient(app) as client:  # base_url http://testserver, peer "testclient"
        response = client.get(DEFAULT_PATH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ephemeralToken"].count(".") == 2
    assert body["iceServers"][1]["username"]
    endpoint = app.state.endpoint
    assert endpoint.config.sandbox is True
    assert endpoint.config.base_url == FAKE_BASE_URL
    assert endpoint.config.api_key.reveal() == FAKE_API_KEY
    assert len(endpoint.fake_orga.calls_to("client-secrets")) == 1
    assert endpoint.fake_orga.minted_with(body["ephemeralToken"]) is not None
    assert len(sandbox_warnings(caplog)) == 1


def test_without_the_sandbox_testclient_needs_an_https_base_url(
    fake_orga_client: httpx.AsyncClient,
) -> None:
    app = create_app(api_key=FAKE_API_KEY, base_url=FAKE_BASE_URL, http_client=fake_orga_client)
    assert app.state.endpoint.fake_orga is None
    with TestClient(app) as client:
        assert client.get(DEFAULT_PATH).json()["error"] == "https_required"
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get(DEFAULT_PATH).status_code == 200


def test_the_module_level_app_switched_by_orga_sandbox(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ORGA_SANDBOX", "1")
    user = load_user_app()
    assert len(sandbox_warnings(caplog)) == 1
    message = sandbox_warnings(caplog)[0].getMessage()
    assert "never run it in production" in message and "plain http" in message
    # Two sessions in a row on the same module-level app, as two tests would open them.
    for _ in range(2):
        with TestClient(user.app) as client:
            assert client.get(DEFAULT_PATH).status_code == 401  # the app's own hook still rules
            response = client.get(DEFAULT_PATH, headers=ALICE)
            assert response.status_code == 200, response.text
        assert open_client(user.endpoint) is None  # the lifespan closed the fake's client
        user.endpoint.reset_limits()
    assert len(user.endpoint.fake_orga.calls_to("client-secrets")) == 2  # one fake, kept
    assert len(sandbox_warnings(caplog)) == 1  # at construction only, not per session


def test_reset_limits_between_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_SANDBOX", "1")
    user = load_user_app()  # rate_limits=("3/minute",)
    with TestClient(user.app) as client:
        statuses = [client.get(DEFAULT_PATH, headers=ALICE).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        user.endpoint.reset_limits()  # memory://: no await needed
        assert client.get(DEFAULT_PATH, headers=ALICE).status_code == 200


def test_a_mounted_endpoint_starts_its_fake_without_a_lifespan() -> None:
    # Starlette gives mounted apps no lifespan: the fake is created on the first request.
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, sandbox=True)
    app = Starlette(routes=[Mount("/orga", app=endpoint)])
    client = TestClient(app)  # not even a `with`: no lifespan at all
    assert client.post("/orga/").status_code == 200


def test_faults_are_queued_on_the_endpoints_own_fake() -> None:
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, sandbox=True, retries=1)
    endpoint.fake_orga.fail("client-secrets", status=503, times=1)  # type: ignore[union-attr]
    with TestClient(endpoint) as client:
        assert client.get("/").status_code == 200
    assert len(endpoint.fake_orga.calls_to("client-secrets")) == 2  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_lifespan_and_aclose_close_the_owned_fake() -> None:
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, sandbox=True)
    async with caller(endpoint, client=("127.0.0.1", 4000), headers={"host": "localhost"}) as c:
        assert (await c.get("/")).status_code == 200  # plain http from loopback
    opened = open_client(endpoint)
    assert opened is not None
    states = [opened.is_closed]
    with TestClient(endpoint):  # lifespan startup, then shutdown
        pass
    states.append(opened.is_closed)
    assert states == [False, True]
    assert open_client(endpoint) is None
    async with endpoint, caller(endpoint) as c:
        assert (await c.get("/")).status_code == 200  # a new client, opened on use
    assert open_client(endpoint) is None


@pytest.mark.anyio
async def test_remote_plain_http_is_still_refused_in_the_sandbox() -> None:
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, sandbox=True)
    async with caller(endpoint, scheme="http") as remote:  # 203.0.113.x, Host testserver
        assert (await remote.get("/")).json()["error"] == "https_required"
    rebound = caller(endpoint, scheme="http", client=("127.0.0.1", 4000))  # Host: testserver
    async with rebound:
        assert (await rebound.get("/")).json()["error"] == "https_required"
    await endpoint.aclose()


# --- Settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"api_key": REAL_KEY},
        {"api_key": keys.from_env(environ={"ORGA_API_KEY": REAL_KEY})},
        {"api_key": lambda principal: REAL_KEY},
        {"base_url": "https://api.orga-ai.com"},
        {"http_client": httpx.AsyncClient()},
    ],
    ids=["key", "provider", "picker", "base_url", "http_client"],
)
def test_the_sandbox_refuses_a_real_upstream_setting(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        OrgaClientSecrets(authorize=allow_anonymous, sandbox=True, **options)
    message = str(info.value)
    assert "sandbox=True / ORGA_SANDBOX=1" in message
    assert "turn the sandbox off" in message and "remove" in message
    assert REAL_KEY not in message


def test_the_fakes_own_settings_are_no_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    OrgaClientSecrets(
        authorize=allow_anonymous, sandbox=True, api_key=FAKE_API_KEY, base_url=FAKE_BASE_URL
    )
    # sandbox=True in code: ORGA_API_KEY in the environment is not read, so no conflict.
    monkeypatch.setenv("ORGA_API_KEY", REAL_KEY)
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, sandbox=True)
    assert endpoint.config.api_key.reveal() == FAKE_API_KEY  # type: ignore[union-attr]


def test_orga_sandbox_next_to_orga_api_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_SANDBOX", "1")
    monkeypatch.setenv("ORGA_API_KEY", REAL_KEY)
    for build in (
        lambda: OrgaClientSecrets(authorize=allow_anonymous),
        lambda: EndpointConfig.from_env(authorize=allow_anonymous),
    ):
        with pytest.raises(ConfigurationError, match="ORGA_SANDBOX=1") as info:
            build()
        assert REAL_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("set_", "on"), [("1", True), ("true", True), ("0", False), ("false", False), ("", False)]
)
def test_orga_sandbox_values(set_: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_SANDBOX", set_)
    monkeypatch.setenv("ORGA_API_KEY", FAKE_API_KEY)  # a key the fake accepts: no conflict
    assert OrgaClientSecrets(authorize=allow_anonymous).config.sandbox is on
    assert EndpointConfig.from_env(authorize=allow_anonymous).sandbox is on


def test_sandbox_false_in_code_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORGA_SANDBOX", "1")
    monkeypatch.setenv("ORGA_API_KEY", REAL_KEY)
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, sandbox=False)
    assert endpoint.config.sandbox is False
    assert endpoint.fake_orga is None


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("ORGA_SANDBOX", "yes", "ORGA_SANDBOX must be 1, 0, true or false"),
        (None, "yes", "sandbox must be True or False"),
    ],
)
def test_a_bad_sandbox_value(
    var: str | None, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if var is not None:
        monkeypatch.setenv(var, value)
    options: dict[str, Any] = {} if var is not None else {"sandbox": value}
    with pytest.raises(ConfigurationError, match=message):
        OrgaClientSecrets(authorize=allow_anonymous, **options)


def test_the_missing_key_message_names_the_sandbox() -> None:
    with pytest.raises(ConfigurationError) as info:
        OrgaClientSecrets(authorize=allow_anonymous)
    message = str(info.value)
    assert "ORGA_API_KEY" in message
    assert "sandbox=True" in message and "ORGA_SANDBOX=1" in message


def test_the_command_line_speaks_of_sandbox_flags(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["serve", "--authorize", "orga_asgi:allow_anonymous"])
    with pytest.raises(ConfigurationError):
        build_serve_app(args)
    argv = ["serve", "--authorize", "orga_asgi:allow_anonymous", "--host", "192.0.2.1"]
    assert main(argv) == 2
    assert "--sandbox (or ORGA_SANDBOX=1)" in capsys.readouterr().err
    assert main([*argv, "--sandbox", "--api-key", REAL_KEY]) == 2
    err = capsys.readouterr().err
    assert "(--sandbox / ORGA_SANDBOX=1)" in err and "--api-key" in err
    assert REAL_KEY not in err
    sidecar = build_serve_app(_parser().parse_args([*argv[:3], "--sandbox"]))
    assert sidecar.endpoint.config.sandbox is True
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--sandbox" in capsys.readouterr().out


# --- A real server ------------------------------------------------------------------------


def test_the_module_level_app_under_uvicorn_on_loopback() -> None:
    uvicorn = [sys.executable, "-m", "uvicorn", "tests.core._sandbox_app:app"]
    with cli(command=[*uvicorn, "--host", "127.0.0.1"], env={"ORGA_SANDBOX": "1"}, cwd=ROOT) as s:
        anonymous = httpx.get(s.url + DEFAULT_PATH, timeout=10)
        minted = httpx.get(s.url + DEFAULT_PATH, headers=ALICE, timeout=10)
        forwarded = httpx.get(
            s.url + DEFAULT_PATH, headers={**ALICE, "X-Forwarded-For": "198.51.100.7"}, timeout=10
        )
    assert anonymous.status_code == 401
    assert minted.status_code == 200, minted.text
    assert minted.json()["iceServers"]
    assert forwarded.json()["error"] == "https_required"  # relayed for someone: not loopback
    assert s.output.count("SANDBOX:") == 1, s.output
    assert "Traceback" not in s.output


def test_uvicorn_refuses_to_start_the_sandbox_next_to_a_real_key() -> None:
    uvicorn = [sys.executable, "-m", "uvicorn", "tests.core._sandbox_app:app"]
    env = {"ORGA_SANDBOX": "1", "ORGA_API_KEY": REAL_KEY}
    command = [*uvicorn, "--host", "127.0.0.1"]
    with pytest.raises(RuntimeError) as info, cli(command=command, env=env, cwd=ROOT):
        pytest.fail("uvicorn served the sandbox next to a real key")
    output = str(info.value)
    assert "ConfigurationError" in output and "ORGA_SANDBOX=1" in output
    assert REAL_KEY not in output


def test_sealed_sessions_start_through_the_relay_in_the_sandbox() -> None:
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, sandbox=True, sealed=True)
    app = OrgaMiddleware(Starlette(), endpoint=endpoint)
    with TestClient(app) as client:
        handle = client.post(DEFAULT_PATH).json()["ephemeralToken"]
        remember((handle,))  # a credential: the leak guard watches for it
        started = client.post(
            RELAY, json=session_body(), headers={"Authorization": f"Bearer {handle}"}
        )
    assert started.status_code == 200, started.text
    assert "v=0" in started.json()["answer"]["sdp"]
    assert len(endpoint.fake_orga.calls_to("calls")) == 1  # type: ignore[union-attr]
