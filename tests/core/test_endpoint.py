"""The route end to end, in-process: the exchange, the body, the headers, the methods."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import anyio
import httpx
import pytest

from orga_asgi import ClientSecrets, Principal
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import caller, fake_client, make_endpoint, upstream_reached

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_issues_token_and_ice_servers(fake: FakeOrga, method: str) -> None:
    endpoint = make_endpoint(fake)
    async with caller(endpoint) as client:
        before = datetime.now(timezone.utc)
        response = await client.request(method, "/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ephemeralToken", "iceServers", "ttl", "expiresAt"}
    assert body["ephemeralToken"].count(".") == 2
    assert body["ttl"] == 120
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert expires.tzinfo is not None and body["expiresAt"].endswith("Z")
    assert before + timedelta(seconds=119) <= expires <= before + timedelta(seconds=122)
    turn = [s for s in body["iceServers"] if "username" in s]
    assert turn and isinstance(turn[0]["credential"], str)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.headers["x-request-id"]) >= 8


async def test_calls_upstream_with_key_then_token(fake: FakeOrga) -> None:
    async with caller(make_endpoint(fake)) as client:
        body = (await client.get("/")).json()
    minted, ice = fake.calls
    assert (minted.method, minted.path) == ("POST", "/v1/realtime/client-secrets")
    assert minted.authorization == f"Bearer {FAKE_API_KEY}"
    assert (ice.method, ice.path) == ("GET", "/v1/realtime/ice-config")
    assert ice.authorization == f"Bearer {body['ephemeralToken']}"


@pytest.mark.parametrize("field", ["ephemeralToken", "ephemeral_token"])
async def test_accepts_both_token_spellings(field: str) -> None:
    fake = FakeOrga(token_field=field)
    async with caller(make_endpoint(fake)) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.json()["ephemeralToken"]


async def test_no_ttl_means_no_expiry_fields() -> None:
    fake = FakeOrga(ttl=None)
    async with caller(make_endpoint(fake)) as client:
        body = (await client.get("/")).json()
    assert set(body) == {"ephemeralToken", "iceServers"}


async def test_tokens_are_not_shared_between_requests(fake: FakeOrga) -> None:
    async with caller(make_endpoint(fake)) as client:
        first = (await client.get("/")).json()
        second = (await client.get("/")).json()
    assert first["ephemeralToken"] != second["ephemeralToken"]
    assert first["iceServers"] != second["iceServers"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
async def test_other_methods_are_405(fake: FakeOrga, method: str) -> None:
    async with caller(make_endpoint(fake)) as client:
        response = await client.request(method, "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    if method != "HEAD":
        assert response.json()["error"] == "method_not_allowed"
    assert fake.calls == []


async def test_authorize_none_is_401_without_upstream_call(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake, authorize=lambda request: None)
    async with caller(endpoint) as client:
        response = await client.get("/")
    assert response.status_code == 401
    body = response.json()
    assert body == {
        "error": "unauthorized",
        "message": body["message"],
        "requestId": response.headers["x-request-id"],
    }
    assert fake.calls == []


async def test_async_authorize_receives_the_request(fake: FakeOrga) -> None:
    seen: list[str] = []

    async def authorize(request):  # type: ignore[no-untyped-def]
        seen.append(request.headers.get("x-user", ""))
        return Principal(id="u1") if request.headers.get("x-user") == "u1" else None

    async with caller(make_endpoint(fake, authorize=authorize)) as client:
        ok = await client.get("/", headers={"x-user": "u1"})
        refused = await client.get("/", headers={"x-user": "u2"})
    assert (ok.status_code, refused.status_code) == (200, 401)
    assert seen == ["u1", "u2"]


async def test_issue_returns_typed_secrets_with_redacted_repr(fake: FakeOrga) -> None:
    async with make_endpoint(fake) as endpoint:
        secrets = await endpoint.issue(Principal(id="u1"))
    assert isinstance(secrets, ClientSecrets)
    assert secrets.ttl == 120
    assert secrets.ephemeral_token not in repr(secrets)
    for server in secrets.ice_servers:
        for value in (server.get("username"), server.get("credential")):
            if value:
                assert value not in repr(secrets)


async def test_supplied_client_is_left_open(fake: FakeOrga) -> None:
    http = fake_client(fake)
    endpoint = make_endpoint(fake, http_client=http)
    async with caller(endpoint) as client:
        assert (await client.get("/")).status_code == 200
    await endpoint.aclose()
    assert not http.is_closed
    await http.aclose()


async def test_request_id_is_echoed_when_valid(fake: FakeOrga) -> None:
    async with caller(make_endpoint(fake)) as client:
        good = await client.get("/", headers={"x-request-id": "req-12345678"})
        bad = await client.get("/", headers={"x-request-id": "bad id"})
    assert good.headers["x-request-id"] == "req-12345678"
    assert bad.headers["x-request-id"] != "bad id"


async def test_websocket_scope_is_refused(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await endpoint({"type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_served_alone_handles_lifespan(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(str(message["type"]))

    await endpoint({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_repr_hides_the_key(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake)
    assert FAKE_API_KEY not in repr(endpoint)
    assert FAKE_API_KEY not in repr(endpoint.config)
    assert FAKE_API_KEY not in str(endpoint.config.api_key)


async def test_http_client_type_is_httpx(fake: FakeOrga) -> None:
    # The supplied client is used as given: its transport sees both calls.
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    http = fake_client(fake)
    http.event_hooks["request"].append(record)
    async with caller(make_endpoint(fake, http_client=http)) as client:
        await client.get("/")
    await http.aclose()
    assert seen == ["/v1/realtime/client-secrets", "/v1/realtime/ice-config"]


def _empty_principal() -> Principal:
    # Principal(id="") raises now; a hook could still hand back one built around the check.
    principal = object.__new__(Principal)
    object.__setattr__(principal, "id", "")
    object.__setattr__(principal, "claims", {})
    return principal


@pytest.mark.parametrize("returned", ["alice", _empty_principal(), {"id": "alice"}])
async def test_hook_returning_a_non_principal_is_a_logged_500(
    fake: FakeOrga, returned: object, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = make_endpoint(fake, authorize=lambda request: returned)
    async with caller(endpoint) as client:
        response = await client.get("/")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "not a Principal" in caplog.text
    assert fake.calls == []


async def test_aclose_closes_the_hooks_own_resources(fake: FakeOrga) -> None:
    closed: list[bool] = []

    def authorize(request):  # type: ignore[no-untyped-def]
        return Principal(id="u1")

    async def aclose() -> None:
        closed.append(True)

    authorize.aclose = aclose  # type: ignore[attr-defined]
    await make_endpoint(fake, authorize=authorize).aclose()
    assert closed == [True]


async def test_issue_applies_the_principals_limits(fake: FakeOrga) -> None:
    from orga_asgi import RateLimited

    async with make_endpoint(fake, rate_limits=("2/minute",)) as endpoint:
        alice = Principal(id="alice")
        await endpoint.issue(alice)
        await endpoint.issue(alice)
        with pytest.raises(RateLimited) as refused:
            await endpoint.issue(alice)
        assert refused.value.retry_after is not None
        assert refused.value.retry_after >= 1
        await endpoint.issue(Principal(id="bob"))  # others are not affected
        await endpoint.issue()  # no principal: no limits
    assert len(fake.calls_to("client-secrets")) == 4


async def test_a_closed_supplied_client_is_never_replaced(fake: FakeOrga) -> None:
    http = fake_client(fake)
    await http.aclose()
    async with caller(make_endpoint(fake, http_client=http)) as client:
        response = await client.get("/")
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unavailable"
    assert fake.calls == []


async def test_disconnect_mid_body_mints_nothing(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake)
    messages = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/", "scheme": "https", "root_path": "",
        "query_string": b"", "client": ("203.0.113.7", 1), "server": ("testserver", 443),
        "headers": [(b"transfer-encoding", b"chunked"), (b"host", b"testserver")],
    }  # fmt: skip
    await endpoint(scope, receive, send)
    assert sent == []
    assert fake.calls == []


def test_testing_module_does_not_import_pytest() -> None:
    import subprocess
    import sys

    code = "import sys, orga_asgi.testing; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_issue_shares_the_routes_admission(fake: FakeOrga) -> None:
    # The in-flight cap counts route and issue() mints alike, and its refusal spends no window.
    from orga_asgi import TooManyInFlight

    endpoint = make_endpoint(
        fake, authorize=lambda r: Principal(id="carol"), rate_limits=("2/minute",),
        max_in_flight_per_principal=1,
    )  # fmt: skip
    fake.fail("client-secrets", delay=0.3)
    async with caller(endpoint) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.get, "/")
            await upstream_reached(fake, 1)
            with pytest.raises(TooManyInFlight):
                await endpoint.issue(Principal(id="carol"))
        await endpoint.issue(Principal(id="carol"))  # the window still had this unit
    await endpoint.aclose()
    assert len(fake.calls_to("client-secrets")) == 2


async def test_reset_limits_forgets_every_window(fake: FakeOrga) -> None:
    from orga_asgi import RateLimited

    async with make_endpoint(fake, rate_limits=("1/minute",)) as endpoint:
        alice = Principal(id="alice")
        await endpoint.issue(alice)
        with pytest.raises(RateLimited):
            await endpoint.issue(alice)
        endpoint.reset_limits()
        await endpoint.issue(alice)


async def test_every_stage_runs_for_get_without_any_body_read(fake: FakeOrga) -> None:
    # A GET over HTTP/1.1 with no length has no body: the pipeline never waits on receive().
    endpoint = make_endpoint(fake)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        raise AssertionError("receive() was called for a request without a body")

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": "/", "scheme": "https", "root_path": "",
        "query_string": b"", "client": ("203.0.113.7", 1), "server": ("testserver", 443),
        "headers": [(b"host", b"testserver")], "http_version": "1.1",
    }  # fmt: skip
    await endpoint(scope, receive, send)
    assert sent[0]["status"] == 200
    await endpoint.aclose()
