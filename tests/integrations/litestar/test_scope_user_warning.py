"""``scope_user()`` says, once, why every request is 401, and never logs the user's values."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.testing import AsyncTestClient
from orga_asgi_litestar import OrgaPlugin, OrgaPluginConfig
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from orga_asgi import DEFAULT_PATH, EndpointConfig, Principal
from orga_asgi.auth import scope_user
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from tests._support import caller, make_endpoint

pytestmark = pytest.mark.anyio

SECRET_NAME = "user-ada-4f3e2d1c"  # stands in for personal data: must not reach the logs


@dataclass
class User:
    """Litestar's documented user shape: the id is ``user_id``, none of the usual names."""

    user_id: str


@dataclass
class Account:
    number: str


class LitestarAuth(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        return AuthenticationResult(user=User(user_id=SECRET_NAME), auth=None)


def litestar_app(fake_orga_client: httpx.AsyncClient, *, auth: bool, hook: object) -> Litestar:
    endpoint = EndpointConfig(
        authorize=hook,  # type: ignore[arg-type]
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=fake_orga_client,
    )
    return Litestar(
        middleware=[LitestarAuth] if auth else [],
        plugins=[OrgaPlugin(OrgaPluginConfig(endpoint=endpoint))],
        logging_config=None,  # Litestar's own would replace pytest's capture handler
    )


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "orga_asgi.auth" and r.levelno >= 30
    ]


async def test_litestar_user_without_an_id_is_one_warning(
    fake: FakeOrga, fake_orga_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    app = litestar_app(fake_orga_client, auth=True, hook=scope_user())
    with caplog.at_level(logging.WARNING, logger="orga_asgi.auth"):
        async with AsyncTestClient(app, base_url="https://app.test") as http:
            statuses = [(await http.get(DEFAULT_PATH)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    (warning,) = warnings_of(caplog)
    assert f"{__name__}.User" in warning
    assert "identity, id, pk, username" in warning
    assert "scope_user(lambda user: Principal(id=user.user_id))" in warning
    assert SECRET_NAME not in caplog.text
    assert fake.calls == []


async def test_the_fix_in_the_warning_works(
    fake_orga_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    hook = scope_user(lambda user: Principal(id=user.user_id))
    app = litestar_app(fake_orga_client, auth=True, hook=hook)
    with caplog.at_level(logging.WARNING, logger="orga_asgi.auth"):
        async with AsyncTestClient(app, base_url="https://app.test") as http:
            response = await http.get(DEFAULT_PATH)
    assert response.status_code == 200, response.text
    assert warnings_of(caplog) == []


async def test_litestar_without_auth_middleware_is_one_warning(
    fake_orga_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    app = litestar_app(fake_orga_client, auth=False, hook=scope_user())
    with caplog.at_level(logging.WARNING, logger="orga_asgi.auth"):
        async with AsyncTestClient(app, base_url="https://app.test") as http:
            statuses = [(await http.post(DEFAULT_PATH)).status_code for _ in range(2)]
    assert statuses == [401, 401]
    (warning,) = warnings_of(caplog)
    assert "no scope['user']" in warning and "authentication middleware" in warning


class ScopeUserApp:
    """Puts the user the ``X-Kind`` header names in the scope, as framework auth would."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        headers = dict(scope["headers"])  # type: ignore[call-overload]
        kind = headers.get(b"x-kind", b"").decode()
        users: dict[str, object] = {
            "user": User(user_id=SECRET_NAME),
            "account": Account(number=SECRET_NAME),
            "dict": {"user_id": SECRET_NAME},
            "none": None,  # auth ran, nobody logged in: 401 without a warning
        }
        await self.app({**scope, "user": users[kind]}, receive, send)  # type: ignore[operator]


async def test_once_per_user_type_and_nothing_for_plain_401s(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    app = ScopeUserApp(make_endpoint(fake, authorize=scope_user()))
    with caplog.at_level(logging.WARNING, logger="orga_asgi.auth"):
        async with caller(app) as http:
            for kind in ["none", "user", "account", "user", "dict", "account", "dict", "none"]:
                assert (await http.get(DEFAULT_PATH, headers={"x-kind": kind})).status_code == 401
    found = warnings_of(caplog)
    assert len(found) == 3
    assert f"{__name__}.User " in found[0] and f"{__name__}.Account " in found[1]
    assert "builtins.dict" in found[2] and "id, sub, username" in found[2]
    assert SECRET_NAME not in caplog.text


class Nobody(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        return None  # the middleware sets UnauthenticatedUser


async def test_starlette_unauthenticated_user_and_no_middleware(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    hook = scope_user()
    with caplog.at_level(logging.WARNING, logger="orga_asgi.auth"):
        with_auth = AuthenticationMiddleware(make_endpoint(fake, authorize=hook), backend=Nobody())
        async with caller(with_auth) as http:
            assert (await http.get(DEFAULT_PATH)).status_code == 401
        assert warnings_of(caplog) == []  # UnauthenticatedUser: a caller not logged in
        async with caller(make_endpoint(fake, authorize=hook)) as http:
            for _ in range(2):
                assert (await http.get(DEFAULT_PATH)).status_code == 401
    (warning,) = warnings_of(caplog)
    assert "no scope['user']" in warning
