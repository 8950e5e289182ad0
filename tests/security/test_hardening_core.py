"""Regression tests for the pipeline defects of the hardening issue (each fails on 0.1.0).

4: the body cap binds every method and every framing; 6: anonymous callers do not share one
quota; 11: a non-str principal id is a 500 before anything is minted; 12: the audit line keeps
the principal of callers refused later; 13: audit fields cannot be forged; DNS rebinding
against loopback plain HTTP; a too_many_in_flight refusal spends no window.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from orga_asgi import Principal, allow_anonymous
from orga_asgi._request_id import request_id_var
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint, upstream_reached

pytestmark = pytest.mark.anyio
CAP = 1024


def reading_hook(bodies: list[int]) -> Any:
    async def authorize(request):  # type: ignore[no-untyped-def]
        bodies.append(len(await request.body()))
        return Principal(id="reader")

    return authorize


async def raw(endpoint: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> Any:
    """Call ``endpoint`` as a server would, in this task; return (sent, messages received)."""
    sent: list[dict[str, Any]] = []
    queue = list(messages)
    taken: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not queue:
            await anyio.sleep_forever()
        taken.append(queue.pop(0))
        return taken[-1]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    base = {
        "type": "http", "method": "GET", "path": "/", "raw_path": b"/", "root_path": "",
        "scheme": "https", "query_string": b"", "client": ("203.0.113.7", 1),
        "server": ("testserver", 443), "headers": [(b"host", b"testserver")],
        "http_version": "1.1", "asgi": {"version": "3.0"},
    }  # fmt: skip
    with anyio.fail_after(5):
        await endpoint({**base, **scope}, receive, send)
    return sent, taken


def status_of(sent: list[dict[str, Any]]) -> int:
    return int(sent[0]["status"])


# --- 4: the body cap, for every method and framing ----------------------------------------


async def test_a_get_with_a_streamed_body_over_the_cap_is_413(fake: FakeOrga) -> None:
    bodies: list[int] = []
    produced = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(256):  # 1 MiB if anyone read it all
            produced += 1
            yield b"x" * 4096

    endpoint = make_endpoint(fake, authorize=reading_hook(bodies), max_body_size=CAP)
    async with caller(endpoint) as client:
        response = await client.request("GET", "/", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert bodies == [] and fake.calls == []
    assert produced < 10


async def test_a_get_with_content_length_over_the_cap_is_413_unread(fake: FakeOrga) -> None:
    endpoint = make_endpoint(fake, max_body_size=CAP)
    body = {"type": "http.request", "body": b"x" * (CAP + 1), "more_body": False}
    headers = [(b"host", b"testserver"), (b"content-length", b"%d" % (CAP + 1))]
    sent, taken = await raw(endpoint, {"headers": headers}, [body])
    assert status_of(sent) == 413
    assert taken == []  # refused from the header alone
    assert fake.calls == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_http2_body_without_a_length_is_bounded(fake: FakeOrga, method: str) -> None:
    # HTTP/2 needs neither Content-Length nor chunking: the cap must hold on the stream itself.
    bodies: list[int] = []
    endpoint = make_endpoint(fake, authorize=reading_hook(bodies), max_body_size=CAP)
    chunk = {"type": "http.request", "body": b"x" * 512, "more_body": True}
    sent, taken = await raw(endpoint, {"method": method, "http_version": "2"}, [chunk] * 2048)
    assert status_of(sent) == 413
    assert len(taken) == 3  # stopped as soon as the cap was passed
    assert bodies == [] and fake.calls == []


async def test_an_http2_body_under_the_cap_still_reaches_the_hook(fake: FakeOrga) -> None:
    bodies: list[int] = []
    endpoint = make_endpoint(fake, authorize=reading_hook(bodies), max_body_size=CAP)
    parts = [
        {"type": "http.request", "body": b"a" * 600, "more_body": True},
        {"type": "http.request", "body": b"b" * 400, "more_body": False},
    ]
    sent, _ = await raw(endpoint, {"method": "POST", "http_version": "2"}, parts)
    assert status_of(sent) == 200
    assert bodies == [1000]


@pytest.mark.parametrize("length", [b"9" * 5000, b"-1", b"1e3", b" 12"])
async def test_a_content_length_that_is_not_a_small_number_is_413(
    fake: FakeOrga, length: bytes
) -> None:
    endpoint = make_endpoint(fake, max_body_size=CAP)
    headers = [(b"host", b"testserver"), (b"content-length", length)]
    sent, _ = await raw(endpoint, {"method": "POST", "headers": headers}, [])
    assert status_of(sent) == 413


# --- 6: anonymous callers are limited per client address ------------------------------------


async def test_anonymous_callers_do_not_share_one_quota(fake: FakeOrga) -> None:
    endpoint = make_endpoint(
        fake, authorize=allow_anonymous, rate_limits=("1/minute",), ip_rate_limits=None
    )
    async with caller(endpoint, client=("198.51.100.1", 1)) as first:
        assert [(await first.get("/")).status_code for _ in range(2)] == [200, 429]
    async with caller(endpoint, client=("198.51.100.2", 1)) as second:
        assert (await second.get("/")).status_code == 200  # 0.1.0: 429, everyone locked out


# --- 11: a principal id that is not text ---------------------------------------------------


def forged_principal(value: object) -> Principal:
    principal = object.__new__(Principal)
    object.__setattr__(principal, "id", value)
    object.__setattr__(principal, "claims", {})
    return principal


@pytest.mark.parametrize("build", ["forged", "constructed"])
@pytest.mark.parametrize("value", [42, b"alice", None])
async def test_a_non_str_principal_id_is_a_500_before_any_mint(
    fake: FakeOrga, build: str, value: object, caplog: pytest.LogCaptureFixture
) -> None:
    def authorize(request):  # type: ignore[no-untyped-def]
        return forged_principal(value) if build == "forged" else Principal(id=value)  # type: ignore[arg-type]

    endpoint = make_endpoint(fake, authorize=authorize)
    with caplog.at_level(logging.INFO, logger="orga_asgi"):
        sent, _ = await raw(endpoint, {}, [{"type": "http.request", "body": b""}])
    assert status_of(sent) == 500
    assert json.loads(sent[1]["body"])["error"] == "internal_error"
    assert fake.calls == []  # nothing was minted
    assert request_id_var.get() is None  # the context was reset
    assert any(
        "status=500" in r.getMessage() for r in caplog.records if r.name == "orga_asgi.audit"
    )


# --- 12 and 13: the audit line ---------------------------------------------------------------


def logfmt_fields(line: str) -> list[tuple[str, str]]:
    """A plain logfmt reader: space-separated key=value, values bare or double-quoted."""
    pairs: list[tuple[str, str]] = []
    for match in re.finditer(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)', line):
        value = match.group(2)
        pairs.append((match.group(1), json.loads(value) if value.startswith('"') else value))
    return pairs


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    out = []
    for record in caplog.records:
        if record.name == "orga_asgi.audit":
            pairs = logfmt_fields(record.getMessage())
            keys = [k for k, _ in pairs]
            assert len(keys) == len(set(keys)), f"a field appears twice: {record.getMessage()!r}"
            out.append(dict(pairs))
    return out


async def test_the_principal_stays_on_the_audit_line_of_later_refusals(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = make_endpoint(
        fake, authorize=lambda r: Principal(id="alice"), rate_limits=("2/minute",),
        max_in_flight_per_principal=1, audit_principal="plain",
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="orga_asgi.audit"):
        async with caller(endpoint) as client:
            fake.fail("client-secrets", status=500, times=None)
            upstream = await client.get("/")  # 502, after authorize
            fake.clear_faults()
            fake.fail("client-secrets", delay=0.3)
            results: list[int] = []
            before = len(fake.calls_to("client-secrets"))

            async def ask() -> None:
                results.append((await client.get("/")).status_code)

            async with anyio.create_task_group() as group:
                group.start_soon(ask)
                await upstream_reached(fake, before + 1)
                group.start_soon(ask)  # 429 too_many_in_flight while the first is minting
            limited = await client.get("/")  # 429 rate_limited: the window is spent
    assert upstream.status_code == 502
    assert sorted(results) == [200, 429]
    assert limited.status_code == 429
    lines = audit_lines(caplog)
    assert [line["outcome"] for line in lines] == [
        "upstream_unavailable", "too_many_in_flight", "issued", "rate_limited",
    ]  # fmt: skip
    assert {line["principal"] for line in lines} == {"alice"}  # 0.1.0: principal=-


@pytest.mark.parametrize(
    "path",
    [
        "/x status=200 principal=admin outcome=issued",
        '/x" status="200',
        "/x\nrequest_id=forged status=200",
        "/x\\ principal=admin",
    ],
)
async def test_audit_fields_cannot_be_forged(
    fake: FakeOrga, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = make_endpoint(fake, authorize=lambda r: None)
    with caplog.at_level(logging.INFO, logger="orga_asgi.audit"):
        sent, _ = await raw(endpoint, {"path": path}, [{"type": "http.request", "body": b""}])
    assert status_of(sent) == 401
    (line,) = audit_lines(caplog)
    assert line["path"] == path
    assert line["status"] == "401" and line["outcome"] == "unauthorized"
    assert line["principal"] == "-"
    assert "\n" not in caplog.records[-1].getMessage()


# --- DNS rebinding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "status"),
    [
        (b"localhost:8000", 200),
        (b"127.0.0.1:8000", 200),
        (b"[::1]:8000", 200),
        (b"evil.example", 403),  # a rebound name pointing at 127.0.0.1
        (b"evil.example:8000", 403),
        (b"localhost.evil.example", 403),
    ],
)
async def test_loopback_plain_http_needs_a_loopback_host(
    fake: FakeOrga, host: bytes, status: int
) -> None:
    endpoint = make_endpoint(fake, allow_insecure_loopback=True)
    scope = {"scheme": "http", "client": ("127.0.0.1", 5000), "headers": [(b"host", host)]}
    sent, _ = await raw(endpoint, scope, [{"type": "http.request", "body": b""}])
    assert status_of(sent) == status
    if status == 403:
        assert json.loads(sent[1]["body"])["error"] == "https_required"
        assert fake.calls == []


# --- a too_many_in_flight refusal spends no window -----------------------------------------


async def test_too_many_in_flight_does_not_spend_the_window(fake: FakeOrga) -> None:
    endpoint = make_endpoint(
        fake, authorize=lambda r: Principal(id="bob"), rate_limits=("2/minute",),
        max_in_flight_per_principal=1,
    )  # fmt: skip
    fake.fail("client-secrets", delay=0.3)
    async with caller(endpoint) as client:
        results: list[tuple[int, str]] = []

        async def ask() -> None:
            response = await client.get("/")
            results.append((response.status_code, response.json().get("error", "")))

        async with anyio.create_task_group() as group:
            group.start_soon(ask)
            await upstream_reached(fake, 1)
            group.start_soon(ask)
        after = await client.get("/")
    assert sorted(results) == [(200, ""), (429, "too_many_in_flight")]
    assert after.status_code == 200  # 0.1.0: 429, the refused request had spent a unit
