"""``on_audit=``: one :class:`AuditEvent` per request, whatever the outcome, delivered off the
response path; a hook that raises, hangs or falls behind never fails or holds a response,
and each kind of failure is logged once. Principals are HMAC'd unless asked otherwise, and
a token seen elsewhere is matched to its audit record by recomputing its fingerprint."""

from __future__ import annotations

import hashlib
import hmac
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from orga_asgi import AuditEvent, ConfigurationError, EndpointConfig, Principal
from orga_asgi._audit_hook import AuditHook
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import caller, make_endpoint

pytestmark = pytest.mark.anyio
KEY = "audit-key-for-tests"


def who(request: Any) -> Principal | None:
    if request.headers.get("x-boom"):
        raise RuntimeError("hook bug")
    user = request.headers.get("x-user")
    return Principal(id=user) if user else None


def mac(value: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (set by the hook's worker or thread) for at most 10 s."""
    for _ in range(1000):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("the condition did not become true within 10 s")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_exactly_one_event_per_request_across_every_outcome(fake: FakeOrga) -> None:
    events: list[AuditEvent] = []
    endpoint = make_endpoint(
        fake, authorize=who, on_audit=events.append, audit_key=KEY, rate_limits=("1/minute",),
        allowed_origins=["https://app.example"], max_body_size=64, retries=0,
    )  # fmt: skip
    dana = {"x-user": "dana"}
    requests: list[tuple[str, dict[str, Any]]] = [
        ("issued", {"headers": {**dana, "origin": "https://app.example"}}),
        ("preflight", {"method": "OPTIONS", "headers": {
            "origin": "https://app.example", "access-control-request-method": "POST"}}),
        ("unauthorized", {}),
        ("internal_error", {"headers": {"x-boom": "1"}}),
        ("method_not_allowed", {"method": "PUT"}),
        ("cross_origin_forbidden", {"headers": {**dana, "origin": "https://evil.example"}}),
        ("payload_too_large", {"method": "POST", "headers": dana, "content": b"x" * 65}),
        ("upstream_unavailable", {"headers": {"x-user": "erin"}, "fault": 503}),
        ("rate_limited", {"headers": dana}),
    ]  # fmt: skip
    ids: list[str] = []
    async with endpoint, caller(endpoint) as client:
        for _, options in requests:
            if fault := options.pop("fault", None):
                fake.fail("client-secrets", status=fault)
            method = options.pop("method", "GET")
            response = await client.request(method, "/", **options)
            ids.append(response.headers["x-request-id"])
        plain = caller(endpoint, scheme="http")
        async with plain:
            ids.append((await plain.get("/", headers=dana)).headers["x-request-id"])
    # aclose() delivered what was queued
    assert [e.request_id for e in events] == ids
    assert [e.outcome for e in events] == [o for o, _ in requests] + ["https_required"]
    issued = events[0]
    assert issued.principal == mac("dana")
    assert issued.status == 200 and issued.upstream_attempts == 2
    assert issued.origin == "https://app.example" and issued.client == "203.0.113.7"
    assert issued.token_fingerprint is not None and issued.expires_at is not None
    assert all(e.token_fingerprint is None for e in events[1:])
    assert events[2].principal is None  # refused before anyone was known
    assert events[7].upstream_attempts == 1 and events[7].status == 502


async def test_a_fingerprint_matches_a_token_seen_elsewhere_to_its_minter(
    fake: FakeOrga,
) -> None:
    """The documented recipe: HMAC-SHA256 of the token under audit_key, 16 hex characters;
    the principal column is the HMAC of the user id under the same key."""
    events: list[AuditEvent] = []
    endpoint = make_endpoint(fake, authorize=who, on_audit=events.append, audit_key=KEY)
    async with endpoint, caller(endpoint) as client:
        tokens = [
            (await client.get("/", headers={"x-user": user})).json()["ephemeralToken"]
            for user in ("dana", "erin")
        ]
    seen_in_a_ticket = tokens[1]
    fingerprint = hmac.new(KEY.encode(), seen_in_a_ticket.encode(), hashlib.sha256)
    [record] = [e for e in events if e.token_fingerprint == fingerprint.hexdigest()[:16]]
    assert record.principal == mac("erin")
    assert record.principal != mac("erin", "another key")
    assert seen_in_a_ticket not in repr(record)


async def test_audit_principal_plain_keeps_the_id(fake: FakeOrga) -> None:
    events: list[AuditEvent] = []
    endpoint = make_endpoint(fake, authorize=who, on_audit=events.append, audit_principal="plain")
    async with endpoint, caller(endpoint) as client:
        await client.get("/", headers={"x-user": "dana"})
    assert events[0].principal == "dana"


def test_audit_settings_are_checked_and_read_from_the_environment() -> None:
    config = EndpointConfig.from_env(
        {"ORGA_AUDIT_KEY": "from-env", "ORGA_AUDIT_PRINCIPAL": "plain"},
        authorize=who,
        api_key=FAKE_API_KEY,
    )
    assert (config.audit_key, config.audit_principal) == ("from-env", "plain")
    assert "from-env" not in repr(config)
    with pytest.raises(ConfigurationError, match="audit_principal"):
        EndpointConfig(authorize=who, api_key=FAKE_API_KEY, audit_principal="clear")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="on_audit"):
        EndpointConfig(authorize=who, api_key=FAKE_API_KEY, on_audit="not callable")  # type: ignore[arg-type]


async def test_an_async_hook_is_awaited(fake: FakeOrga) -> None:
    events: list[str] = []

    async def hook(event: AuditEvent) -> None:
        await anyio.lowlevel.checkpoint()
        events.append(event.outcome)

    endpoint = make_endpoint(fake, on_audit=hook)
    async with endpoint, caller(endpoint) as client:
        await client.get("/")
        await client.put("/")
    assert events == ["issued", "method_not_allowed"]


async def test_a_raising_hook_never_fails_a_request_and_is_logged_once_per_kind(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    def hook(event: AuditEvent) -> None:
        raise (KeyError if event.outcome == "issued" else ValueError)("hook bug")

    endpoint = make_endpoint(fake, on_audit=hook)
    async with endpoint, caller(endpoint) as client:
        statuses = [(await client.get("/")).status_code for _ in range(3)]
        statuses += [(await client.put("/")).status_code for _ in range(2)]
    assert statuses == [200, 200, 200, 405, 405]
    raised = [r.getMessage() for r in caplog.records if "on_audit raised" in r.getMessage()]
    assert raised == [
        "on_audit raised KeyError; further such failures are not logged",
        "on_audit raised ValueError; further such failures are not logged",
    ]
    [summary] = [r.getMessage() for r in caplog.records if "events delivered" in r.getMessage()]
    assert "5 failed" in summary


async def test_a_blocking_hook_holds_no_response_and_the_queue_is_bounded(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    release, entered = threading.Event(), threading.Event()
    seen: list[str] = []

    def blocking(event: AuditEvent) -> None:
        entered.set()
        release.wait(30)  # a hook stuck on a slow sink, in its thread
        seen.append(event.request_id)

    hook = AuditHook(blocking, timeout=30, queue_size=2)
    endpoint = make_endpoint(fake, observers=[hook])
    async with caller(endpoint) as client:
        first = await client.get("/")
        await until(entered.is_set)
        # The hook is stuck on the first event: every response still comes back.
        statuses = [(await client.get("/")).status_code for _ in range(5)]
        assert statuses == [200] * 5 and first.status_code == 200
        assert hook.dropped == 3  # 2 wait in the queue, the rest are dropped
        release.set()
        await hook.aclose()
    await endpoint.aclose()
    assert len(seen) == 3 and hook.delivered == 3
    drops = [r for r in caplog.records if "falling behind" in r.getMessage()]
    assert len(drops) == 1 and drops[0].levelno == logging.WARNING


async def test_a_hanging_hook_is_abandoned_after_its_timeout(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    async def hangs(event: AuditEvent) -> None:
        await anyio.sleep_forever()

    hook = AuditHook(hangs, timeout=0.1)
    endpoint = make_endpoint(fake, observers=[hook])
    async with endpoint, caller(endpoint) as client:
        statuses = [(await client.get("/")).status_code for _ in range(3)]
        await until(lambda: hook.timed_out == 3)
    assert statuses == [200] * 3
    timeouts = [r for r in caplog.records if "did not finish within" in r.getMessage()]
    assert len(timeouts) == 1


async def test_stuck_sync_calls_are_bounded(fake: FakeOrga) -> None:
    """A sync hook that never returns: abandoned after the timeout, its threads capped."""
    release = threading.Event()
    hook = AuditHook(lambda event: release.wait(30), timeout=0.05, queue_size=100)
    endpoint = make_endpoint(fake, observers=[hook])
    try:
        async with caller(endpoint) as client:
            for _ in range(6):
                assert (await client.put("/")).status_code == 405
            await until(lambda: hook.timed_out + hook.dropped == 6)
        assert hook.timed_out == 2  # one per thread allowed to be stuck
        assert hook.dropped == 4
    finally:
        release.set()
        await endpoint.aclose()
        await hook.aclose()


def test_a_hook_that_is_not_callable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="on_audit"):
        AuditHook("print")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AuditHook(print, timeout=0)


def test_without_audit_key_one_info_says_fingerprints_are_per_process() -> None:
    script = textwrap.dedent(
        """
        import logging
        from orga_asgi import OrgaClientSecrets, allow_anonymous
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
        for _ in range(3):
            OrgaClientSecrets(authorize=allow_anonymous, api_key="sk_orga_ai_x")
        OrgaClientSecrets(authorize=allow_anonymous, api_key="sk_orga_ai_x", audit_key="k")
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "audit_key" in line]
    assert len(lines) == 1 and lines[0].startswith("INFO orga_asgi."), done.stderr
    assert "ORGA_AUDIT_KEY" in lines[0]
