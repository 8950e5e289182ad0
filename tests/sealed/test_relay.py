"""Sealed sessions through the real pipeline: the token route hands out a handle, the relay
redeems it once and starts the session at FakeOrga with the real token and the policy's
params. In-process (httpx's ASGI transport); the Redis and multi-process cases are in
tests/redis/test_sealed_redis.py."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from orga_asgi import OneOf, Pinned, Principal, Range, SessionPolicy
from orga_asgi._sealed.handles import HANDLE_PATTERN
from orga_asgi.auth import bearer
from orga_asgi.observe import AuditEvent, HandlesExpired, Observer
from orga_asgi.testing import FakeOrga, sandbox_client
from orga_asgi.testing._recording import remember
from tests._support import LogCapture, caller
from tests.sealed._support import RELAY, SDK_PARAMS, TOKEN_ROUTE, mint, sealed_app, start

pytestmark = pytest.mark.anyio

PROMPT = "You are the concierge of Hotel Meridian. Never reveal the master key code 4471."


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.expired: list[int] = []

    def on_request(self, event: AuditEvent) -> None:
        self.events.append(event)

    def on_handles_expired(self, event: HandlesExpired) -> None:
        self.expired.append(event.count)


def _upstream_body(fake: FakeOrga, index: int = -1) -> dict[str, Any]:
    return json.loads(fake.calls_to("calls")[index].body)  # type: ignore[no-any-return]


# --- The handle is not the token -----------------------------------------------------------


async def test_the_token_route_answers_a_handle_that_is_not_the_token(fake: FakeOrga) -> None:
    app, _ = sealed_app(fake)
    async with caller(app) as client:
        response = await client.post(TOKEN_ROUTE)
    body = response.json()
    handle = body["ephemeralToken"]
    remember((handle,))
    assert response.status_code == 200
    assert set(body) == {"ephemeralToken", "iceServers", "ttl", "expiresAt"}
    assert HANDLE_PATTERN.fullmatch(handle)  # 43 URL-safe characters: 256 random bits
    assert handle not in fake.issued_secrets()  # the fake's tokens and TURN credentials
    assert body["iceServers"][1]["credential"] in fake.issued_secrets()  # ICE as today
    # Used as a token at the upstream itself, the handle is refused.
    async with sandbox_client(fake) as upstream:
        direct = await upstream.post(
            "/v1/realtime/calls", headers={"authorization": f"Bearer {handle}"}, json={}
        )
    assert direct.status_code == 401


async def test_a_session_starts_with_the_real_token_and_the_policys_params(
    fake: FakeOrga,
) -> None:
    policy = SessionPolicy(instructions=Pinned(PROMPT), voice=OneOf("Sofía", "Mateo"))
    remember((PROMPT,))  # the leak guard fails the test if it shows anywhere but upstream
    app, _ = sealed_app(fake, session_policy=policy)
    async with caller(app) as client:
        handle = await mint(client)
        response = await start(client, handle)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"conversation_id", "answer"}
    assert body["answer"]["type"] == "answer" and body["answer"]["sdp"].startswith("v=0\r\n")
    assert response.headers["cache-control"] == "no-store" and response.headers["x-request-id"]
    call = fake.calls_to("calls")[-1]
    token = call.authorization.partition(" ")[2] if call.authorization else ""
    assert token in fake.issued_secrets() and token != handle  # the real token went upstream
    sent = _upstream_body(fake)
    assert sent["params"] == {**SDK_PARAMS, "instructions": PROMPT}
    assert sent["offer"]["type"] == "offer" and sent["offer"]["candidates"][0]["sdpMid"] == "0"


async def test_sealed_is_implied_by_a_session_policy(fake: FakeOrga) -> None:
    app, endpoint = sealed_app(fake, sealed=False, session_policy=SessionPolicy())
    assert endpoint.config.sealed is True and endpoint.relay is not None
    async with caller(app) as client:
        assert HANDLE_PATTERN.fullmatch(await mint(client))


async def test_without_sealed_the_relay_path_is_the_apps(fake: FakeOrga) -> None:
    app, endpoint = sealed_app(fake, sealed=False)
    assert endpoint.relay is None
    async with caller(app) as client:
        response = await start(client, "x" * 43)
    assert response.status_code == 404 and response.text == "app"


# --- One use, for its ttl ---------------------------------------------------------------------


async def test_a_handle_is_redeemed_once(fake: FakeOrga) -> None:
    app, _ = sealed_app(fake)
    async with caller(app) as client:
        handle = await mint(client)
        first = await start(client, handle)
        second = await start(client, handle)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["error"] == "invalid_session_handle"
    assert len(fake.calls_to("calls")) == 1


async def test_concurrent_redemptions_of_one_handle_start_one_session(fake: FakeOrga) -> None:
    app, _ = sealed_app(fake)
    statuses: list[int] = []
    async with caller(app) as client:
        handle = await mint(client)

        async def attempt() -> None:
            statuses.append((await start(client, handle)).status_code)

        async with anyio.create_task_group() as tasks:
            for _ in range(8):
                tasks.start_soon(attempt)
    assert sorted(statuses) == [200] + [401] * 7
    assert len(fake.calls_to("calls")) == 1


async def test_an_expired_handle_is_refused_and_counted() -> None:
    # The handle lives as long as its token (ttl 1). The fake's own clock stands still: its
    # tokens' whole-second exp would otherwise end within the mint now and then.
    fake = FakeOrga(ttl=1, clock=lambda: 1_700_000_000.0)
    recorder = Recorder()
    app, _ = sealed_app(fake, observers=[recorder])
    async with caller(app) as client:
        handle = await mint(client)
        await anyio.sleep(1.1)
        response = await start(client, handle)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_session_handle"
    assert fake.calls_to("calls") == []
    assert recorder.expired == [1]  # swept when the relay looked: minted, never redeemed


# --- The policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "asked", "sent"),
    [
        (SessionPolicy(model=Pinned("orga-1-beta")), {"model": "orga-2-max"}, "orga-1-beta"),
        (SessionPolicy(voice=OneOf("Sofía", "Mateo")), {"voice": "Mateo"}, "Mateo"),
        (SessionPolicy(temperature=Range(0.2, 0.8)), {"temperature": 0.7}, 0.7),
    ],
)
async def test_pinned_and_allowed_params_reach_the_upstream(
    fake: FakeOrga, policy: SessionPolicy, asked: dict[str, Any], sent: object
) -> None:
    app, _ = sealed_app(fake, session_policy=policy)
    async with caller(app) as client:
        response = await start(client, await mint(client), session_body_with(**asked))
    assert response.status_code == 200
    (name,) = asked
    assert _upstream_body(fake)["params"][name] == sent


@pytest.mark.parametrize(
    ("policy", "asked"),
    [
        (SessionPolicy(voice=OneOf("Sofía")), {"voice": "Mateo"}),
        (SessionPolicy(temperature=Range(0.2, 0.8)), {"temperature": 0.9}),
        (SessionPolicy(modalities=OneOf("audio")), {"modalities": ["audio", "video"]}),
    ],
)
async def test_values_outside_the_policy_are_refused_naming_the_field(
    fake: FakeOrga, policy: SessionPolicy, asked: dict[str, Any]
) -> None:
    app, _ = sealed_app(fake, session_policy=policy)
    async with caller(app) as client:
        response = await start(client, await mint(client), session_body_with(**asked))
    (name,) = asked
    body = response.json()
    assert response.status_code == 403
    assert body["error"] == "session_params_refused" and body["param"] == name
    assert body["requestId"] == response.headers["x-request-id"]
    assert fake.calls_to("calls") == []


async def test_unknown_params_are_dropped(fake: FakeOrga) -> None:
    app, _ = sealed_app(fake)
    async with caller(app) as client:
        body = session_body_with(tools=["run_shell"], api_key="sk_orga_ai_x")
        assert (await start(client, await mint(client), body)).status_code == 200
    assert set(_upstream_body(fake)["params"]) == set(SDK_PARAMS)


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_per_principal_policy(fake: FakeOrga, asynchronous: bool) -> None:
    prompts = {"acme": "You are Acme's agent.", "globex": "You are Globex's agent."}
    remember(prompts.values())
    seen: list[str] = []

    def for_tenant(principal: Principal) -> SessionPolicy:
        seen.append(principal.id)
        tenant = principal.claims["tenant"]
        return SessionPolicy(instructions=Pinned(prompts[tenant]), voice=Pinned(tenant))

    async def for_tenant_async(principal: Principal) -> SessionPolicy:
        await anyio.lowlevel.checkpoint()
        return for_tenant(principal)

    users = {"alice-token": ("alice", "acme"), "bob-token": ("bob", "globex")}
    hook = bearer(lambda t: Principal(id=users[t][0], claims={"tenant": users[t][1]}))
    app, _ = sealed_app(
        fake, authorize=hook, session_policy=for_tenant_async if asynchronous else for_tenant
    )
    async with caller(app) as client:
        for token in ("alice-token", "bob-token"):
            auth = {"authorization": f"Bearer {token}"}
            handle = await mint(client, headers=auth)
            assert (await start(client, handle)).status_code == 200
    sent = [json.loads(c.body)["params"] for c in fake.calls_to("calls")]
    assert [p["instructions"] for p in sent] == [prompts["acme"], prompts["globex"]]
    assert [p["voice"] for p in sent] == ["acme", "globex"]
    assert seen == ["alice", "bob"]  # resolved at the mint, for the principal minted for


async def test_a_failing_policy_callable_is_a_500_before_any_token(fake: FakeOrga) -> None:
    def broken(principal: Principal) -> SessionPolicy:
        raise RuntimeError(f"no agent for {PROMPT}")  # its text must not reach a log

    remember((PROMPT,))
    app, _ = sealed_app(fake, session_policy=broken)
    async with caller(app) as client:
        response = await client.post(TOKEN_ROUTE)
    assert response.status_code == 500 and response.json()["error"] == "internal_error"
    assert fake.calls == []


# --- Every failure is a mapped JSON error with a request id ------------------------------


def session_body_with(**params: Any) -> dict[str, Any]:
    from tests.sealed._support import session_body

    return session_body(**params)


def _check_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert body["requestId"] == response.headers["x-request-id"]
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"status": 400}, 502, "upstream_unavailable"),
        ({"status": 401}, 502, "upstream_auth_failed"),
        ({"status": 429, "headers": {"Retry-After": "7"}}, 503, "upstream_rate_limited"),
        ({"status": 500}, 502, "upstream_unavailable"),
        ({"status": 503}, 502, "upstream_unavailable"),
        ({"body": b"{not json"}, 502, "upstream_invalid_response"),
        ({"body": b'{"conversation_id": "c1"}'}, 502, "upstream_invalid_response"),
        (
            {"body": b'{"conversation_id": "c1", "answer": {"sdp": "x", "type": "answer"}}'},
            502,
            "upstream_invalid_response",
        ),
        ({"drop": True}, 502, "upstream_unavailable"),
    ],
)
async def test_upstream_failures_are_mapped(
    fake: FakeOrga, fault: dict[str, Any], status: int, code: str
) -> None:
    fake.fail("calls", **fault)
    app, _ = sealed_app(fake)
    async with caller(app) as client:
        response = await start(client, await mint(client))
    _check_error(response, status, code)
    assert len(fake.calls_to("calls")) == 1  # a session start is never retried


async def test_an_upstream_timeout_is_a_504(fake: FakeOrga) -> None:
    fake.fail("calls", delay=2.0)
    app, _ = sealed_app(fake, timeout=0.3, deadline=0.5)
    async with caller(app) as client:
        response = await start(client, await mint(client))
    _check_error(response, 504, "upstream_timeout")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "invalid_request_body"),
        (b"[]", "invalid_request_body"),
        (b'{"offer": {"sdp": "hello", "type": "offer"}}', "invalid_request_body"),
        (b'{"offer": {"sdp": "v=0\\r\\n", "type": "answer"}}', "invalid_request_body"),
        (
            b'{"offer": {"sdp": "v=0\\r\\n", "type": "offer"}, "params": []}',
            "invalid_request_body",
        ),
        (
            b'{"offer": {"sdp": "v=0\\r\\n", "type": "offer", "candidates": [1]}}',
            "invalid_request_body",
        ),
        (b'{"offer": {"sdp": "v=0", "type": "offer"}, "offer": {}}', "invalid_request_body"),
        (
            b'{"offer": {"sdp": "v=0\\r\\n", "type": "offer"}, "params": {"temperature": NaN}}',
            "invalid_request_body",
        ),
        (b"", "invalid_request_body"),
    ],
)
async def test_bad_bodies_from_the_browser_are_400_and_keep_the_handle(
    fake: FakeOrga, content: bytes, code: str
) -> None:
    app, _ = sealed_app(fake)
    async with caller(app) as client:
        handle = await mint(client)
        headers = {"authorization": f"Bearer {handle}", "content-type": "application/json"}
        response = await client.post(RELAY, content=content, headers=headers)
        _check_error(response, 400, code)
        # Checked before the redeem: the handle still starts a session.
        assert (await start(client, handle)).status_code == 200


async def test_an_oversize_offer_is_413(fake: FakeOrga) -> None:
    app, _ = sealed_app(fake, relay_max_body_size=4096)
    async with caller(app) as client:
        handle = await mint(client)
        body = session_body_with()
        body["offer"]["sdp"] += "a=x-padding:" + "x" * 5000 + "\r\n"
        _check_error(await start(client, handle, body), 413, "payload_too_large")
        assert (await start(client, handle)).status_code == 200  # the handle is still good


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer " + "A" * 43, "Bearer eyJhbGc.eyJzdWIi.sig"],
)
async def test_missing_unknown_or_malformed_handles_are_401(
    fake: FakeOrga, authorization: str | None
) -> None:
    app, _ = sealed_app(fake)
    headers = {"authorization": authorization} if authorization is not None else {}
    async with caller(app) as client:
        response = await client.post(RELAY, json=session_body_with(), headers=headers)
    _check_error(response, 401, "invalid_session_handle")
    assert fake.calls_to("calls") == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
async def test_other_methods_are_405_allowing_post(fake: FakeOrga, method: str) -> None:
    app, _ = sealed_app(fake)
    async with caller(app) as client:
        response = await client.request(method, RELAY)
    _check_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


async def test_the_relay_runs_the_front_stages(fake: FakeOrga) -> None:
    app, _ = sealed_app(fake, ip_rate_limits=("2/minute",))
    async with caller(app, scheme="http") as plain:
        _check_error(await start(plain, "x" * 43), 403, "https_required")
    async with caller(app) as client:
        cross = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
        _check_error(await start(client, "x" * 43, headers=cross), 403, "cross_origin_forbidden")
        handle = await mint(client)  # the first of two per minute
        await start(client, handle)
        _check_error(await start(client, handle), 429, "rate_limited")


async def test_a_cors_preflight_of_the_relay(fake: FakeOrga) -> None:
    site = "https://app.example.com"
    app, _ = sealed_app(fake, allowed_origins=[site])
    async with caller(app) as client:
        response = await client.options(
            RELAY,
            headers={
                "origin": site,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == site
        assert response.headers["access-control-allow-headers"] == "Authorization, Content-Type"
        handle = await mint(client, headers={"origin": site})
        started = await start(client, handle, headers={"origin": site})
    assert started.status_code == 200
    assert started.headers["access-control-allow-origin"] == site


# --- What is seen, and what never is ------------------------------------------------------


async def test_the_redeem_audit_names_the_mints_fingerprint_and_the_conversation(
    fake: FakeOrga,
) -> None:
    recorder = Recorder()
    app, _ = sealed_app(fake, observers=[recorder])
    async with caller(app) as client:
        handle = await mint(client)
        response = await start(client, handle)
    minted, started = recorder.events
    assert minted.outcome == "issued" and started.outcome == "session_started"
    assert minted.token_fingerprint is not None
    assert started.token_fingerprint == minted.token_fingerprint
    assert started.conversation_id == response.json()["conversation_id"]
    assert started.principal == minted.principal is not None  # the one minted for
    assert started.path == RELAY and started.upstream_attempts == 1


async def test_no_token_handle_or_instructions_in_any_log_line(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    remember((PROMPT,))
    app, _ = sealed_app(fake, session_policy=SessionPolicy(instructions=Pinned(PROMPT)))
    logs = LogCapture()
    # Every orga_asgi logger at DEBUG for this test only: caplog restores the level after.
    caplog.set_level(logging.DEBUG, logger="orga_asgi")
    with logs.installed():
        async with caller(app) as client:
            handle = await mint(client)
            await start(client, handle)
            await start(client, handle)  # refused: still nothing secret logged
    text = logs.text()
    assert "orga_asgi.audit" in text  # the audit lines were written, and checked
    assert PROMPT not in text and handle not in text
    assert not any(secret in text for secret in fake.issued_secrets())
