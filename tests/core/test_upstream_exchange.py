"""The exchange's own interface: the key per call, one report per HTTP attempt, and only
``OrgaError``s out, whatever the transport under it does."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from orga_asgi import (
    Secret,
    UpstreamAuthFailed,
    UpstreamInvalidResponse,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from orga_asgi._upstream import (
    ClientSecrets,
    Exchange,
    HttpxTransport,
    UpstreamAttempt,
    UpstreamReply,
    default_transport,
)
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from tests._support import fake_client, free_port

pytestmark = pytest.mark.anyio
KEY = Secret(FAKE_API_KEY)
MINT_URL = f"{FAKE_BASE_URL}/v1/realtime/client-secrets"
ICE_URL = f"{FAKE_BASE_URL}/v1/realtime/ice-config"


def exchange(fake: FakeOrga, **overrides: Any) -> Exchange:
    options: dict[str, Any] = {
        "transport": HttpxTransport(fake_client(fake), timeout=2.0),
        "base_url": FAKE_BASE_URL,
        "timeout": 2.0,
        "deadline": 5.0,
        "retries": 2,
    }
    options.update(overrides)
    return Exchange(**options)


def recorder() -> tuple[list[UpstreamAttempt], Any]:
    seen: list[UpstreamAttempt] = []
    return seen, seen.append


def shape(attempts: list[UpstreamAttempt]) -> list[tuple[Any, ...]]:
    return [(a.call, a.method, a.status, a.error_type, a.resend_count) for a in attempts]


async def test_the_key_is_passed_per_call() -> None:
    fake = FakeOrga(api_key="sk_orga_ai_tenant_a")
    ex = exchange(fake)
    secrets = await ex.issue(Secret("sk_orga_ai_tenant_a"))
    assert isinstance(secrets, ClientSecrets)
    with pytest.raises(UpstreamAuthFailed):
        await ex.issue(Secret("sk_orga_ai_tenant_b"))
    sent = [c.authorization for c in fake.calls_to("client-secrets")]
    assert sent == ["Bearer sk_orga_ai_tenant_a", "Bearer sk_orga_ai_tenant_b"]


async def test_a_mint_reports_two_attempts() -> None:
    fake = FakeOrga()
    seen, hook = recorder()
    await exchange(fake, on_attempt=hook).issue(KEY)
    assert shape(seen) == [
        ("client-secrets", "POST", 200, None, 0),
        ("ice-config", "GET", 200, None, 0),
    ]
    assert [a.url for a in seen] == [MINT_URL, ICE_URL]
    assert all(a.duration >= 0 for a in seen)
    assert FAKE_API_KEY not in repr(seen)


async def test_retries_are_reported_with_their_resend_count() -> None:
    fake = FakeOrga()
    fake.fail("ice-config", status=503, times=2)
    seen, hook = recorder()
    await exchange(fake, on_attempt=hook).issue(KEY)
    assert shape(seen) == [
        ("client-secrets", "POST", 200, None, 0),
        ("ice-config", "GET", 503, "503", 0),
        ("ice-config", "GET", 503, "503", 1),
        ("ice-config", "GET", 200, None, 2),
    ]


@pytest.mark.parametrize(
    ("fault", "error", "attempt"),
    [
        ({"status": 401}, UpstreamAuthFailed, ("client-secrets", "POST", 401, "401", 0)),
        ({"status": 429}, UpstreamRateLimited, ("client-secrets", "POST", 429, "429", 0)),
        ({"status": 400}, UpstreamUnavailable, ("client-secrets", "POST", 400, "400", 0)),
        (
            {"body": b"[]"},
            UpstreamInvalidResponse,
            ("client-secrets", "POST", 200, "invalid_response", 0),
        ),
        # A custom transport's own exception (FakeOrga raising through ASGITransport).
        ({"drop": True}, UpstreamUnavailable, ("client-secrets", "POST", None, "transport", 0)),
    ],
)
async def test_a_failed_attempt_names_its_error_type(
    fault: dict[str, Any], error: type[Exception], attempt: tuple[Any, ...]
) -> None:
    fake = FakeOrga()
    fake.fail("client-secrets", **fault)
    seen, hook = recorder()
    with pytest.raises(error):
        await exchange(fake, on_attempt=hook).issue(KEY)
    assert shape(seen) == [attempt]


async def test_a_timeout_is_reported() -> None:
    fake = FakeOrga()
    fake.fail("client-secrets", delay=1.0)
    seen, hook = recorder()
    with pytest.raises(UpstreamTimeout):
        await exchange(fake, on_attempt=hook, timeout=0.05).issue(KEY)
    assert shape(seen) == [("client-secrets", "POST", None, "timeout", 0)]
    assert seen[0].duration >= 0.04


@pytest.mark.servers
async def test_connect_failures_are_reported_and_retried() -> None:
    base_url = f"http://127.0.0.1:{free_port()}"  # nobody listens
    seen, hook = recorder()
    ex = Exchange(
        transport=default_transport(None, timeout=2.0),  # aiohttp, the production path
        base_url=base_url,
        timeout=2.0,
        deadline=5.0,
        retries=2,
        on_attempt=hook,
    )
    try:
        with pytest.raises(UpstreamUnavailable):
            await ex.issue(KEY)
    finally:
        await ex.aclose()
    assert shape(seen) == [("client-secrets", "POST", None, "connect", n) for n in range(3)]


async def test_a_failing_hook_never_breaks_the_exchange(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeOrga()
    calls: list[UpstreamAttempt] = []

    def broken(attempt: UpstreamAttempt) -> None:
        calls.append(attempt)
        raise RuntimeError("observer bug")

    ex = exchange(fake, on_attempt=broken)
    with caplog.at_level(logging.DEBUG, logger="orga_asgi"):
        await ex.issue(KEY)
        await ex.issue(KEY)
    assert len(calls) == 4
    lines = [r for r in caplog.records if "on_attempt" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.DEBUG
    assert "RuntimeError" in lines[0].getMessage()


class _Broken:
    """A transport breaking the contract: raising what no transport may raise."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def request(self, *args: Any, **kwargs: Any) -> UpstreamReply:
        raise self.exc

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("k"), RuntimeError("r")])
async def test_a_transport_raising_anything_else_is_unavailable(exc: Exception) -> None:
    seen, hook = recorder()
    ex = exchange(FakeOrga(), transport=_Broken(exc), on_attempt=hook)
    with pytest.raises(UpstreamUnavailable):
        await ex.issue(KEY)
    assert shape(seen) == [("client-secrets", "POST", None, "transport", 0)]


async def test_a_user_transport_raising_is_unavailable_not_a_crash() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise LookupError("a bug in the user's transport")

    client = httpx.AsyncClient(transport=httpx.MockTransport(explode))
    ex = exchange(FakeOrga(), transport=HttpxTransport(client, timeout=2.0))
    with pytest.raises(UpstreamUnavailable):
        await ex.issue(KEY)
    await client.aclose()


async def test_a_body_is_sent_when_given() -> None:
    fake = FakeOrga()
    transport = HttpxTransport(fake_client(fake), timeout=2.0)
    reply = await transport.request("POST", MINT_URL, "Bearer " + FAKE_API_KEY, 2.0, b'{"a":1}')
    assert reply.status == 200
    assert reply.content_type == "application/json"
    assert fake.calls[0].body == b'{"a":1}'
