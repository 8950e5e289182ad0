"""The security stages of the route, each through a real request to the endpoint."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from orga_asgi import Principal
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint

pytestmark = pytest.mark.anyio
ROUTE = "/"
APP = "https://testserver"


# --- HTTPS and trusted proxies ------------------------------------------------------------


async def test_plain_http_is_refused_before_any_upstream_call(fake: FakeOrga) -> None:
    async with caller(make_endpoint(fake), scheme="http") as client:
        response = await client.get(ROUTE)
    assert response.status_code == 403
    assert response.json()["error"] == "https_required"
    assert "strict-transport-security" not in response.headers
    assert fake.calls == []


@pytest.mark.parametrize(
    "spoof",
    [
        {"x-forwarded-proto": "https"},
        {"forwarded": "for=198.51.100.1;proto=https"},
        {"x-forwarded-proto": "https", "x-forwarded-for": "127.0.0.1"},
    ],
)
async def test_forwarded_headers_from_untrusted_peers_change_nothing(
    fake: FakeOrga, spoof: dict[str, str]
) -> None:
    async with caller(make_endpoint(fake), scheme="http") as client:
        response = await client.get(ROUTE, headers=spoof)
    assert response.json()["error"] == "https_required"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.9"},
        {"forwarded": 'for="[2001:db8::9]:443";proto=https'},
    ],
)
async def test_trusted_proxy_supplies_scheme(fake: FakeOrga, headers: dict[str, str]) -> None:
    endpoint = make_endpoint(fake, trusted_proxies=["203.0.113.0/24"])
    async with caller(endpoint, scheme="http") as client:
        response = await client.get(ROUTE, headers=headers)
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_ipv6_proxy_chain_keys_limits_on_the_real_client(fake: FakeOrga) -> None:
    endpoint = make_endpoint(
        fake, trusted_proxies=["2001:db8:1::/48", "203.0.113.7"], ip_rate_limits=("1/minute",)
    )
    chain = "198.51.100.{n}, 2001:db8:1::5"  # client, then an inner trusted proxy

    async with caller(endpoint, scheme="http") as client:

        async def ask(n: int) -> int:
            headers = {"x-forwarded-for": chain.format(n=n), "x-forwarded-proto": "https"}
            return (await client.get(ROUTE, headers=headers)).status_code

        assert [await ask(1), await ask(1), await ask(2)] == [200, 429, 200]


async def test_spoofed_client_address_does_not_dodge_the_ip_limit(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake, ip_rate_limits=("1/minute",))
    async with caller(endpoint) as client:
        first = await client.get(ROUTE, headers={"x-forwarded-for": "198.51.100.1"})
        second = await client.get(ROUTE, headers={"x-forwarded-for": "198.51.100.2"})
    assert (first.status_code, second.status_code) == (200, 429)


async def test_insecure_loopback_only_for_a_real_loopback_peer(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake, allow_insecure_loopback=True)
    # A loopback Host too: a rebound DNS name is refused (test_hardening_core).
    local_host = {"host": "localhost:8000"}
    async with caller(endpoint, scheme="http", client=("127.0.0.1", 5000)) as local:
        assert (await local.get(ROUTE, headers=local_host)).status_code == 200
        relayed = await local.get(ROUTE, headers={**local_host, "x-forwarded-for": "198.51.100.1"})
        assert relayed.json()["error"] == "https_required"
    async with caller(endpoint, scheme="http") as remote:
        assert (await remote.get(ROUTE, headers=local_host)).json()["error"] == "https_required"


async def test_require_https_can_be_turned_off(fake: FakeOrga) -> None:
    async with caller(make_endpoint(fake, require_https=False), scheme="http") as client:
        assert (await client.get(ROUTE)).status_code == 200


@pytest.mark.parametrize(("hsts", "expected"), [(None, None), ("max-age=60", "max-age=60")])
async def test_hsts_is_configurable(fake: FakeOrga, hsts: str | None, expected: str | None) -> None:
    async with caller(make_endpoint(fake, hsts=hsts)) as client:
        response = await client.get(ROUTE)
    assert response.headers.get("strict-transport-security") == expected


# --- Request ids and the audit line -------------------------------------------------------


async def test_every_response_carries_a_request_id(fake: FakeOrga) -> None:
    endpoint = make_endpoint(
        fake,
        authorize=lambda r: Principal(id="u") if "authorization" in r.headers else None,
        rate_limits=("1/minute",),
    )
    auth = {"authorization": "x"}
    async with caller(endpoint) as client:
        responses = [
            await client.get(ROUTE, headers=auth),  # 200
            await client.get(ROUTE, headers=auth),  # 429
            await client.get(ROUTE),  # 401
            await client.put(ROUTE),  # 405
            await client.post(ROUTE, content=b"x" * 20_000),  # 413
        ]
    async with caller(make_endpoint(fake), scheme="http") as client:
        responses.append(await client.get(ROUTE))  # 403
    assert [r.status_code for r in responses] == [200, 429, 401, 405, 413, 403]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)
    for response in responses[1:]:
        assert response.json()["requestId"] == response.headers["x-request-id"]


async def test_invalid_request_id_is_replaced_and_never_logged(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "evil\u00e9-id-<script>-0123"
    with caplog.at_level(logging.DEBUG, logger="orga_asgi"):
        async with caller(make_endpoint(fake)) as client:
            response = await client.get(ROUTE, headers={"x-request-id": bad.encode()})
    assert response.headers["x-request-id"] != bad
    assert "script" not in caplog.text


async def test_one_audit_line_per_request_with_the_fields_and_nothing_else(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = make_endpoint(  # plain: the id itself on the line (the default is its HMAC)
        fake, authorize=lambda r: Principal(id="alice"), audit_principal="plain"
    )
    with caplog.at_level(logging.INFO, logger="orga_asgi.audit"):
        async with caller(endpoint) as client:
            response = await client.get(
                ROUTE, headers={"x-request-id": "audit-0001", "cookie": "session=s3cr3t-value"}
            )
    lines = [r for r in caplog.records if r.name == "orga_asgi.audit"]
    assert len(lines) == 1
    text = lines[0].getMessage()
    for part in (
        "request_id=audit-0001", "method=GET", "status=200", "principal=alice", "outcome=issued",
        "latency_ms=",
    ):  # fmt: skip
        assert part in text
    assert "s3cr3t" not in text
    assert response.json()["ephemeralToken"] not in caplog.text
    assert lines[0].request_id == "audit-0001"  # type: ignore[attr-defined]


# --- Origin policy and CORS ---------------------------------------------------------------


async def test_cross_site_browser_request_is_refused(fake: FakeOrga) -> None:
    async with caller(make_endpoint(fake)) as client:
        response = await client.get(ROUTE, headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert response.json()["error"] == "cross_origin_forbidden"
    assert fake.calls == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"origin": "https://evil.example"}, 403),
        ({"origin": "null"}, 403),
        ({"origin": APP, "sec-fetch-site": "same-origin"}, 200),
        ({"sec-fetch-site": "same-origin"}, 200),
        ({"sec-fetch-site": "none"}, 200),
        ({}, 200),  # a non-browser caller
    ],
)
async def test_origin_policy(fake: FakeOrga, headers: dict[str, str], status: int) -> None:
    async with caller(make_endpoint(fake)) as client:
        assert (await client.post(ROUTE, headers=headers)).status_code == status


async def test_allowed_origin_gets_credentialed_cors(fake: FakeOrga) -> None:
    origin = "https://app.example.com"
    endpoint = make_endpoint(fake, allowed_origins=[origin])
    headers = {"origin": origin, "sec-fetch-site": "cross-site"}
    async with caller(endpoint) as client:
        response = await client.get(ROUTE, headers=headers)
        refused = await client.get(ROUTE, headers={"origin": "https://other.example.com"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    assert "Origin" in response.headers["vary"]
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    assert "Origin" in refused.headers["vary"]


async def test_preflight(fake: FakeOrga) -> None:
    origin = "https://app.example.com"
    endpoint = make_endpoint(fake, allowed_origins=[origin])
    request_headers = {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-evil",
    }
    async with caller(endpoint) as client:
        ok = await client.options(ROUTE, headers=request_headers)
        refused = await client.options(ROUTE, headers={**request_headers, "origin": "https://x.io"})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == origin
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert set(ok.headers["access-control-allow-methods"].replace(" ", "").split(",")) == {
        "GET",
        "POST",
    }
    allowed = ok.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "x-evil" not in allowed
    assert refused.status_code == 403
    assert fake.calls == []


# --- Body size ----------------------------------------------------------------------------


async def test_body_over_16k_by_content_length_is_413(fake: FakeOrga) -> None:
    async with caller(make_endpoint(fake)) as client:
        response = await client.post(ROUTE, content=b"x" * (16 * 1024 + 1))
        small = await client.post(ROUTE, content=b"x" * (16 * 1024))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert small.status_code == 200


async def test_streamed_body_is_refused_without_reading_it_all(fake: FakeOrga) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 4 MB if anyone read it all
            sent += 1
            yield b"x" * 4096

    async with caller(make_endpoint(fake)) as client:
        response = await client.post(ROUTE, content=chunks())
    assert response.status_code == 413
    assert sent < 10
    assert fake.calls == []


async def test_small_streamed_body_reaches_the_hook(fake: FakeOrga) -> None:
    bodies: list[bytes] = []

    async def authorize(request):  # type: ignore[no-untyped-def]
        bodies.append(await request.body())
        return Principal(id="u")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b"1}"

    async with caller(make_endpoint(fake, authorize=authorize)) as client:
        response = await client.post(ROUTE, content=chunks())
    assert response.status_code == 200
    assert bodies == [b'{"a":1}']


# --- RateLimit headers: decided once, from the last window checked ----------------------------


async def test_ratelimit_headers_report_the_last_window_checked(fake: FakeOrga) -> None:
    endpoint = make_endpoint(
        fake,
        authorize=lambda r: Principal(id="u") if "authorization" in r.headers else None,
        rate_limits=("2/minute",),
        ip_rate_limits=("50/minute",),
    )
    auth = {"authorization": "x"}
    async with caller(endpoint) as client:
        first = await client.get(ROUTE, headers=auth)
        anonymous = await client.get(ROUTE)  # refused after the per-IP check
        second = await client.get(ROUTE, headers=auth)
        limited = await client.get(ROUTE, headers=auth)
    # A 200 reports the principal's window (not the address's), once.
    assert first.status_code == 200
    assert first.headers.get_list("ratelimit") == ['"2-per-minute";r=1;t=60']
    assert first.headers.get_list("ratelimit-policy") == ['"2-per-minute";q=2;w=60']
    # A refusal before the principal is known reports the address's window.
    assert anonymous.status_code == 401
    assert anonymous.headers.get_list("ratelimit-policy") == ['"ip-50-per-minute";q=50;w=60']
    assert second.headers.get_list("ratelimit") == ['"2-per-minute";r=0;t=60']
    # A 429 reports the window that refused, with Retry-After.
    assert limited.status_code == 429
    assert limited.headers.get_list("ratelimit") == ['"2-per-minute";r=0;t=60']
    assert int(limited.headers["retry-after"]) >= 1
