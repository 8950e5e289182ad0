"""The ready authorize hooks, through real requests to the endpoint."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from orga_asgi import ConfigurationError, Forbidden, Principal
from orga_asgi import _principal as orga_principal
from orga_asgi._principal import as_async_hook
from orga_asgi.auth import AuthHook, AuthorizeHook, any_of, bearer, cookie, scope_user
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint

pytestmark = pytest.mark.anyio

# JWT-shaped, so the redaction patterns recognise it wherever it lands.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXNlY3JldC1ieXRlcw"
SESSION = "s3ss10n-v4lue-0123456789abcdef"


@pytest.fixture
def fake() -> FakeOrga:
    return FakeOrga()


class Recorder:
    """A verify function that records what it was given; sync or async."""

    def __init__(self, accept: str, principal_id: str = "u1") -> None:
        self.accept = accept
        self.principal_id = principal_id
        self.seen: list[str] = []

    def sync(self, value: str) -> Principal | None:
        self.seen.append(value)
        return Principal(id=self.principal_id) if value == self.accept else None

    async def async_(self, value: str) -> Principal | None:
        return self.sync(value)


def observed(hook: AuthorizeHook, seen: list[Principal | None]) -> AuthorizeHook:
    """Wrap ``hook`` to record the principal it returned."""
    inner = as_async_hook(hook)

    async def wrapper(request: Any) -> Principal | None:
        principal = await inner(request)
        seen.append(principal)
        return principal

    return wrapper


async def get(app: Any, **kwargs: Any) -> Any:
    async with caller(app) as client:
        return await client.get("/", **kwargs)


# bearer ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_bearer_passes_the_token_to_verify(fake: FakeOrga, kind: str) -> None:
    rec = Recorder(TOKEN)
    verify = rec.sync if kind == "sync" else rec.async_
    endpoint = make_endpoint(fake, authorize=bearer(verify))
    ok = await get(endpoint, headers={"authorization": f"Bearer {TOKEN}"})
    wrong = await get(endpoint, headers={"authorization": "Bearer not-the-token"})
    assert ok.status_code == 200
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert rec.seen == [TOKEN, "not-the-token"]
    assert len(fake.calls) == 2  # one exchange: mint + ice-config


async def test_bearer_scheme_is_case_insensitive(fake: FakeOrga) -> None:
    rec = Recorder(TOKEN)
    endpoint = make_endpoint(fake, authorize=bearer(rec.sync))
    response = await get(endpoint, headers={"authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        f"Bearer{TOKEN}",
        "Bearer two words",
        "Bearer a,b",
        'Bearer "quoted"',
        "Bearer =abc",
    ],
)
async def test_bearer_missing_or_malformed_is_401_without_verify(
    fake: FakeOrga, header: str | None
) -> None:
    rec = Recorder(TOKEN)
    endpoint = make_endpoint(fake, authorize=bearer(rec.sync))
    headers = {} if header is None else {"authorization": header}
    response = await get(endpoint, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert rec.seen == []
    assert fake.calls == []


# cookie ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_cookie_passes_its_value_to_verify(fake: FakeOrga, kind: str) -> None:
    rec = Recorder(SESSION)
    verify = rec.sync if kind == "sync" else rec.async_
    endpoint = make_endpoint(fake, authorize=cookie("session", verify))
    ok = await get(endpoint, headers={"cookie": f"other=1; session={SESSION}"})
    wrong = await get(endpoint, headers={"cookie": "session=stale"})
    assert (ok.status_code, wrong.status_code) == (200, 401)
    assert rec.seen == [SESSION, "stale"]
    assert "www-authenticate" not in wrong.headers


@pytest.mark.parametrize("header", [None, "other=1", "session="])
async def test_cookie_missing_is_401_without_verify(fake: FakeOrga, header: str | None) -> None:
    rec = Recorder(SESSION)
    endpoint = make_endpoint(fake, authorize=cookie("session", rec.sync))
    response = await get(endpoint, headers={} if header is None else {"cookie": header})
    assert response.status_code == 401
    assert "www-authenticate" not in response.headers
    assert rec.seen == []
    assert fake.calls == []


# scope_user with Starlette's AuthenticationMiddleware -------------------------------------


class HeaderBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        name = conn.headers.get("x-user")
        if not name:
            return None  # the middleware sets UnauthenticatedUser
        return AuthCredentials(["authenticated"]), SimpleUser(name)


async def test_scope_user_trusts_starlette_authentication(fake: FakeOrga) -> None:
    seen: list[Principal | None] = []
    endpoint = make_endpoint(fake, authorize=observed(scope_user(), seen))
    app = AuthenticationMiddleware(endpoint, backend=HeaderBackend())
    ok = await get(app, headers={"x-user": "alice"})
    anonymous = await get(app)
    assert ok.status_code == 200
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "unauthorized"
    assert seen == [Principal(id="alice"), None]
    assert len(fake.calls) == 2


async def test_scope_user_without_middleware_is_401(fake: FakeOrga) -> None:
    response = await get(make_endpoint(fake, authorize=scope_user()))
    assert response.status_code == 401


class AppUser(BaseUser):
    """A BaseUser subclass that defines is_authenticated and id, but not identity."""

    def __init__(self, user_id: int, authenticated: bool = True) -> None:
        self.id = user_id
        self.authenticated = authenticated

    @property
    def is_authenticated(self) -> bool:
        return self.authenticated


class ScopeUserApp:
    """Puts a given user object in the scope, as framework auth would."""

    def __init__(self, app: Any, user: Any) -> None:
        self.app, self.user = app, user

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app({**scope, "user": self.user}, receive, send)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (AppUser(42), "42"),  # BaseUser.identity raises NotImplementedError: skipped
        (AppUser(42, authenticated=False), None),
        (BaseUser(), None),  # cannot say whether it is authenticated: fail closed
        ({"sub": "bob"}, "bob"),
        ({"id": "", "username": "carol"}, "carol"),
        ("dave", "dave"),
        ("", None),
    ],
)
async def test_scope_user_reads_common_user_shapes(
    fake: FakeOrga, user: Any, expected: str | None
) -> None:
    seen: list[Principal | None] = []
    endpoint = make_endpoint(fake, authorize=observed(scope_user(), seen))
    response = await get(ScopeUserApp(endpoint, user))
    assert response.status_code == (200 if expected else 401)
    assert seen == [Principal(id=expected) if expected else None]


async def test_scope_user_principal_from(fake: FakeOrga) -> None:
    seen: list[Principal | None] = []
    hook = scope_user(lambda user: Principal(id=f"tenant:{user.display_name}"))
    endpoint = make_endpoint(fake, authorize=observed(hook, seen))
    response = await get(
        AuthenticationMiddleware(endpoint, backend=HeaderBackend()), headers={"x-user": "erin"}
    )
    assert response.status_code == 200
    assert seen == [Principal(id="tenant:erin")]


# any_of ------------------------------------------------------------------------------


def either(cookies: Recorder, tokens: Recorder) -> AuthorizeHook:
    return any_of(cookie("session", cookies.sync), bearer(tokens.async_))


async def test_any_of_first_principal_wins(fake: FakeOrga) -> None:
    cookies, tokens = Recorder(SESSION, "from-cookie"), Recorder(TOKEN, "from-bearer")
    seen: list[Principal | None] = []
    endpoint = make_endpoint(fake, authorize=observed(either(cookies, tokens), seen))
    both = await get(
        endpoint, headers={"cookie": f"session={SESSION}", "authorization": f"Bearer {TOKEN}"}
    )
    assert both.status_code == 200
    assert seen == [Principal(id="from-cookie")]
    assert tokens.seen == []  # never asked once the cookie answered


async def test_any_of_falls_through_to_the_next_hook(fake: FakeOrga) -> None:
    cookies, tokens = Recorder(SESSION, "from-cookie"), Recorder(TOKEN, "from-bearer")
    seen: list[Principal | None] = []
    endpoint = make_endpoint(fake, authorize=observed(either(cookies, tokens), seen))
    response = await get(
        endpoint, headers={"cookie": "session=stale", "authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    assert seen == [Principal(id="from-bearer")]
    assert (cookies.seen, tokens.seen) == (["stale"], [TOKEN])


async def test_any_of_none_is_401_with_bearer_challenge(fake: FakeOrga) -> None:
    cookies, tokens = Recorder(SESSION), Recorder(TOKEN)
    endpoint = make_endpoint(fake, authorize=either(cookies, tokens))
    response = await get(endpoint, headers={"authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert tokens.seen == ["nope"]
    assert fake.calls == []


async def test_any_of_without_bearer_has_no_challenge(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake, authorize=any_of(cookie("session", Recorder(SESSION).sync)))
    response = await get(endpoint)
    assert response.status_code == 401
    assert "www-authenticate" not in response.headers


def test_any_of_needs_a_hook() -> None:
    with pytest.raises(ConfigurationError):
        any_of()


# Forbidden and faults ---------------------------------------------------------------------


def forbid(token: str) -> Principal | None:
    raise Forbidden("known caller, no realtime access")


async def test_forbidden_from_verify_is_403_without_upstream_call(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake, authorize=bearer(forbid))
    response = await get(endpoint, headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "forbidden"
    assert body["requestId"] == response.headers["x-request-id"]
    assert "known caller" not in response.text
    assert "www-authenticate" not in response.headers
    assert fake.calls == []


async def test_forbidden_stops_any_of(fake: FakeOrga) -> None:
    later = Recorder(SESSION)
    endpoint = make_endpoint(fake, authorize=any_of(bearer(forbid), cookie("session", later.sync)))
    response = await get(
        endpoint, headers={"authorization": f"Bearer {TOKEN}", "cookie": f"session={SESSION}"}
    )
    assert response.status_code == 403
    assert later.seen == []
    assert fake.calls == []


async def test_forbidden_from_a_plain_hook_is_403(fake: FakeOrga) -> None:
    def hook(request: Any) -> Principal | None:
        raise Forbidden

    response = await get(make_endpoint(fake, authorize=hook))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


OPAQUE = "op4que-t0ken_value.0123456789"  # no pattern recognises it: only its value can


def failing(kind: str) -> Callable[[str], Principal | Awaitable[Principal | None] | None]:
    def sync(value: str) -> Principal | None:
        raise RuntimeError(f"db failed for {value}")

    async def async_(value: str) -> Principal | None:
        raise RuntimeError(f"db failed for {value}")

    async def chained(value: str) -> Principal | None:
        try:
            raise KeyError(value)
        except KeyError as exc:
            raise RuntimeError(f"db failed for {value!r}") from exc

    return {"sync": sync, "async": async_, "chained": chained}[kind]


@pytest.mark.parametrize("kind", ["sync", "async", "chained"])
@pytest.mark.parametrize(
    ("make_hook", "header", "secret"),
    [
        (bearer, ("authorization", f"Bearer {TOKEN}"), TOKEN),
        (bearer, ("authorization", f"Bearer {OPAQUE}"), OPAQUE),
        (lambda v: cookie("session", v), ("cookie", f"session={TOKEN}"), TOKEN),
        (lambda v: cookie("session", v), ("cookie", f"session={SESSION}"), SESSION),
    ],
    ids=["bearer-jwt", "bearer-opaque", "cookie-jwt", "cookie-opaque"],
)
async def test_exception_in_verify_is_500_and_logged_redacted(
    fake: FakeOrga,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    make_hook: Callable[[Any], AuthorizeHook],
    header: tuple[str, str],
    secret: str,
) -> None:
    endpoint = make_endpoint(fake, authorize=make_hook(failing(kind)))
    headers = dict([header, ("x-request-id", "req-hook-fault-1")])
    with caplog.at_level(logging.DEBUG, logger="orga_asgi"):
        response = await get(endpoint, headers=headers)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert body["requestId"] == response.headers["x-request-id"] == "req-hook-fault-1"
    assert "db failed" not in response.text
    assert secret not in response.text
    assert fake.calls == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the fault was not logged"
    assert any(r.exc_info or r.exc_text for r in errors), "no traceback logged"
    assert "RuntimeError: db failed for" in caplog.text  # the traceback is there ...
    assert secret not in caplog.text  # ... without the caller's credential
    for record in caplog.records:
        assert secret not in record.getMessage()


async def test_exception_message_is_scrubbed_for_the_caller_too(fake: FakeOrga) -> None:
    """An app catching the hook's exception itself (its own middleware) sees no secret."""
    caught: list[BaseException] = []
    hook = bearer(failing("chained"))

    async def app_hook(request: Any) -> Principal | None:
        try:
            return await hook(request)
        except RuntimeError as exc:
            caught.append(exc)
            raise Forbidden from None

    response = await get(
        make_endpoint(fake, authorize=app_hook), headers={"authorization": f"Bearer {OPAQUE}"}
    )
    assert response.status_code == 403
    (exc,) = caught
    assert OPAQUE not in str(exc)
    assert OPAQUE not in repr(exc)
    assert exc.__cause__ is not None
    assert OPAQUE not in repr(exc.__cause__)
    assert "[REDACTED]" in str(exc)


# AuthHook: the challenge and the resources a hook holds ---------------------------------


def test_every_ready_hook_is_an_auth_hook() -> None:
    rec = Recorder(TOKEN)
    hooks = {
        "bearer": bearer(rec.sync),
        "cookie": cookie("session", rec.sync),
        "scope_user": scope_user(),
        "any_of": any_of(cookie("session", rec.sync), bearer(rec.sync)),
    }
    assert all(isinstance(h, AuthHook) for h in hooks.values())
    assert {name: h.www_authenticate for name, h in hooks.items()} == {
        "bearer": "Bearer",
        "cookie": None,
        "scope_user": None,
        "any_of": "Bearer",  # the first member's challenge
    }
    assert any_of(cookie("session", rec.sync)).www_authenticate is None
    assert AuthHook is orga_principal.AuthHook
    assert TOKEN not in repr(hooks["bearer"])


def test_auth_hook_is_abstract() -> None:
    with pytest.raises(TypeError):
        AuthHook()  # type: ignore[abstract]


class ApiKeyHook(AuthHook):
    """A hook of the app's own: a challenge of its own, a connection to close."""

    www_authenticate = 'ApiKey realm="orga"'

    def __init__(self) -> None:
        self.closed = 0

    async def __call__(self, request: Any) -> Principal | None:
        key = request.headers.get("x-app-key")
        return Principal(id="app-user") if key == SESSION else None

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_subclass_gets_its_challenge_and_is_closed_with_the_endpoint(
    fake: FakeOrga,
) -> None:
    hook = ApiKeyHook()
    endpoint = make_endpoint(fake, authorize=hook)
    refused = await get(endpoint)
    ok = await get(endpoint, headers={"x-app-key": SESSION})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'ApiKey realm="orga"'
    assert ok.status_code == 200
    await endpoint.aclose()
    assert hook.closed == 1


async def test_any_of_closes_every_member_even_when_one_fails() -> None:
    class Failing(ApiKeyHook):
        async def aclose(self) -> None:
            self.closed += 1
            raise RuntimeError("close failed")

    first, failing, last = ApiKeyHook(), Failing(), ApiKeyHook()

    async def plain(request: Any) -> Principal | None:  # a closure with an aclose of its own
        return None

    plain_closed: list[bool] = []

    async def plain_close() -> None:
        plain_closed.append(True)

    plain.aclose = plain_close  # type: ignore[attr-defined]
    combined = any_of(first, failing, plain, last)
    with pytest.raises(RuntimeError, match="close failed"):
        await combined.aclose()
    assert (first.closed, failing.closed, last.closed, plain_closed) == (1, 1, 1, [True])
    assert combined.www_authenticate == 'ApiKey realm="orga"'


async def test_the_default_aclose_does_nothing_and_can_repeat() -> None:
    hook = bearer(Recorder(TOKEN).sync)
    await hook.aclose()
    await hook.aclose()
