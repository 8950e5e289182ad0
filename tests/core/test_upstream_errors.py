"""Each row of the error table, caused by making the upstream fail that way."""

from __future__ import annotations

import logging

import pytest

from orga_asgi import OrgaClientSecrets, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import caller, free_port, make_endpoint

pytestmark = pytest.mark.anyio


async def get(endpoint: OrgaClientSecrets):  # type: ignore[no-untyped-def]
    async with caller(endpoint) as client:
        return await client.get("/")


def assert_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert body["requestId"] == response.headers["x-request-id"]
    assert body["message"] and "Traceback" not in body["message"]


@pytest.mark.parametrize("status", [401, 403])
async def test_rejected_key_is_502_with_one_operator_error(
    fake: FakeOrga, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("client-secrets", status=status, body=b'{"error": "Unauthorized"}')
    with caplog.at_level(logging.ERROR, logger="orga_asgi"):
        response = await get(make_endpoint(fake))
    assert_error(response, 502, "upstream_auth_failed")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "ORGA_API_KEY" in errors[0].getMessage()
    assert FAKE_API_KEY not in errors[0].getMessage()
    assert "Unauthorized" not in response.text  # the upstream body is never forwarded
    assert len(fake.calls) == 1


async def test_upstream_429_passes_retry_after_on(fake: FakeOrga) -> None:
    fake.fail("client-secrets", status=429, headers={"Retry-After": "7"})
    response = await get(make_endpoint(fake))
    assert_error(response, 503, "upstream_rate_limited")
    assert response.headers["retry-after"] == "7"
    assert len(fake.calls) == 1  # a 429 is not retried


async def test_upstream_429_without_retry_after(fake: FakeOrga) -> None:
    fake.fail("ice-config", status=429)
    response = await get(make_endpoint(fake))
    assert_error(response, 503, "upstream_rate_limited")
    assert "retry-after" not in response.headers


async def test_slow_upstream_is_504(fake: FakeOrga) -> None:
    fake.fail("client-secrets", delay=1.0)
    response = await get(make_endpoint(fake, timeout=0.1))
    assert_error(response, 504, "upstream_timeout")


async def test_overall_deadline_covers_both_calls(fake: FakeOrga) -> None:
    fake.fail("client-secrets", delay=0.15)
    fake.fail("ice-config", delay=0.15)
    response = await get(make_endpoint(fake, timeout=0.2, deadline=0.25))
    assert_error(response, 504, "upstream_timeout")


async def test_unreachable_upstream_is_502_after_retries() -> None:
    # The default aiohttp transport, against a loopback port nobody listens on.
    endpoint = OrgaClientSecrets(
        authorize=allow_anonymous,
        api_key=FAKE_API_KEY,
        base_url=f"http://127.0.0.1:{free_port()}",
    )
    try:
        response = await get(endpoint)
    finally:
        await endpoint.aclose()
    assert_error(response, 502, "upstream_unavailable")


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_5xx_is_retried_twice_then_502(fake: FakeOrga, status: int) -> None:
    fake.fail("client-secrets", status=status, times=None)
    response = await get(make_endpoint(fake))
    assert_error(response, 502, "upstream_unavailable")
    assert len(fake.calls_to("client-secrets")) == 3


async def test_5xx_then_recovery_succeeds(fake: FakeOrga) -> None:
    fake.fail("ice-config", status=503, times=2)
    response = await get(make_endpoint(fake))
    assert response.status_code == 200
    assert len(fake.calls_to("ice-config")) == 3


@pytest.mark.parametrize("status", [400, 404, 409, 500])
async def test_other_errors_are_not_retried(fake: FakeOrga, status: int) -> None:
    fake.fail("client-secrets", status=status)
    response = await get(make_endpoint(fake))
    assert_error(response, 502, "upstream_unavailable")
    assert len(fake.calls) == 1


async def test_dropped_connection_is_502(fake: FakeOrga) -> None:
    fake.fail("ice-config", drop=True)
    response = await get(make_endpoint(fake))
    assert_error(response, 502, "upstream_unavailable")


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("client-secrets", b"{not json"),
        ("client-secrets", b"[]"),
        ("client-secrets", b'{"ttl": 120}'),
        ("client-secrets", b'{"ephemeralToken": ""}'),
        ("client-secrets", b'{"ephemeralToken": 5}'),
        ("client-secrets", b'{"ephemeralToken": "a.b.c", "ttl": -1}'),
        ("client-secrets", b'{"ephemeralToken": "a.b.c", "ttl": "120"}'),
        ("client-secrets", b'{"ephemeralToken": "a.b\\r\\nX: y"}'),
        ("ice-config", b"{not json"),
        ("ice-config", b'{"iceServers": {}}'),
        ("ice-config", b'{"iceServers": [1]}'),
        ("ice-config", b'{"iceServers": [{"urls": []}]}'),
        ("ice-config", b'{"iceServers": [{"urls": ["turn:x", 3]}]}'),
        ("ice-config", b'{"iceServers": [{"urls": "turn:x", "username": 1}]}'),
        ("ice-config", b"x" * 1_000_000),
    ],
)
async def test_invalid_2xx_body_is_502(fake: FakeOrga, route: str, body: bytes) -> None:
    fake.fail(route, body=body)  # type: ignore[arg-type]
    response = await get(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


async def test_ice_config_refusing_the_new_token_is_invalid_response(fake: FakeOrga) -> None:
    fake.fail("ice-config", status=401)
    response = await get(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


async def test_next_request_after_a_failure_succeeds(fake: FakeOrga) -> None:
    fake.fail("client-secrets", status=500)
    endpoint = make_endpoint(fake)
    async with caller(endpoint) as client:
        first = await client.get("/")
        second = await client.get("/")
    assert (first.status_code, second.status_code) == (502, 200)
