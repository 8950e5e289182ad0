"""Django: ``OrgaMiddleware`` wrapping ``get_asgi_application()``, authorized by the Django
session cookie; Django's own routes untouched; in-process and on a real uvicorn server.

Django's settings are process-wide: this module configures them once (unless something
already did) and overrides what it needs for its own tests only.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from typing import Any

import httpx
import pytest

from orga_asgi import DEFAULT_PATH, OrgaMiddleware, Principal
from orga_asgi.auth import cookie
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint, require_module, uvicorn_server

django = require_module("django", "pip install django (nox -s django)")

from asgiref.sync import sync_to_async  # noqa: E402 - after the require_module
from django.conf import settings  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import path  # noqa: E402

pytestmark = pytest.mark.anyio

SETTINGS: dict[str, Any] = {
    "SECRET_KEY": "orga-asgi-tests-only",
    "DEBUG": False,
    "ALLOWED_HOSTS": ["testserver", "127.0.0.1"],
    "ROOT_URLCONF": __name__,
    "INSTALLED_APPS": [],
    "MIDDLEWARE": ["django.contrib.sessions.middleware.SessionMiddleware"],
    "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
    "DATABASES": {},
    "USE_TZ": True,
}


def login(request: HttpRequest) -> JsonResponse:
    request.session["user_id"] = request.GET["user"]
    return JsonResponse({"user": request.GET["user"]})


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"django:{request.path}:{request.session.get('user_id', '-')}")


urlpatterns = [path("login", login), path("hello", hello)]


async def verify_session(session_key: str) -> Principal | None:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    user_id = await sync_to_async(store.get)("user_id")
    return Principal(id=str(user_id)) if user_id else None


def tampered(signed: str) -> str:
    """``signed`` with its signature changed (its first character: the last one of a base64
    signature may carry only unused bits, and then decodes to the same bytes)."""
    value, _, signature = signed.rpartition(":")
    return f"{value}:{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


@pytest.fixture(scope="module")
def django_app() -> Iterator[Any]:
    if not settings.configured:
        settings.configure(**SETTINGS)
    django.setup()
    # Overriding the app registry or the databases is not ours to do; the rest is.
    ours = {k: v for k, v in SETTINGS.items() if k not in ("INSTALLED_APPS", "DATABASES")}
    with override_settings(**ours):
        from django.core.asgi import get_asgi_application

        yield get_asgi_application()


def wrapped(django_app: Any, fake: FakeOrga, **options: Any) -> OrgaMiddleware:
    authorize = cookie(settings.SESSION_COOKIE_NAME, verify_session)
    return OrgaMiddleware(django_app, endpoint=make_endpoint(fake, authorize=authorize, **options))


async def test_session_cookie_gets_credentials(django_app: Any) -> None:
    fake = FakeOrga()
    async with caller(wrapped(django_app, fake, rate_limits=("1/minute",))) as client:
        assert (await client.get(DEFAULT_PATH)).status_code == 401
        assert (await client.get("/login", params={"user": "alice"})).status_code == 200
        response = await client.get(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        assert response.json()["ephemeralToken"]
        # The principal is the session's user: alice's window is spent, bob's is not.
        assert (await client.get(DEFAULT_PATH)).status_code == 429
        await client.get("/login", params={"user": "bob"})
        assert (await client.get(DEFAULT_PATH)).status_code == 200


async def test_a_forged_session_cookie_is_401(django_app: Any) -> None:
    async with caller(wrapped(django_app, FakeOrga())) as client:
        await client.get("/login", params={"user": "alice"})
        session = client.cookies["sessionid"]
        client.cookies.clear()
        client.cookies.set("sessionid", tampered(session))
        assert (await client.get(DEFAULT_PATH)).status_code == 401


async def test_django_routes_are_untouched(django_app: Any) -> None:
    fake = FakeOrga()
    async with caller(wrapped(django_app, fake)) as client:
        await client.get("/login", params={"user": "alice"})
        hello = await client.get("/hello")
        missing = await client.get("/nowhere")
        near = await client.get(DEFAULT_PATH + "/more")
    assert (hello.status_code, hello.text) == (200, "django:/hello:alice")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert near.status_code == 404
    assert fake.calls == []


async def test_under_a_script_name(django_app: Any) -> None:
    # Served under /app (root_path): Django strips it, and so does OrgaMiddleware.
    transport = httpx.ASGITransport(app=wrapped(django_app, FakeOrga()), root_path="/app")
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        await client.get("/app/login", params={"user": "alice"})
        assert (await client.get("/app/hello")).text == "django:/app/hello:alice"
        assert (await client.get("/app" + DEFAULT_PATH)).status_code == 200


@pytest.mark.servers
def test_real_server(django_app: Any) -> None:
    app = wrapped(django_app, FakeOrga(), allow_insecure_loopback=True)
    # Django answers no lifespan: uvicorn's "auto" notes that and serves on.
    with (
        uvicorn_server(app, lifespan="auto") as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        assert client.get(DEFAULT_PATH).status_code == 401
        client.get("/login", params={"user": "alice"})
        response = client.get(DEFAULT_PATH)
        assert response.status_code == 200, response.text
        assert client.get("/hello").text == "django:/hello:alice"
