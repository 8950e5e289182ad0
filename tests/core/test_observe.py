"""The observer seam: one event per request, upstream attempts, tokens, the store; the
default audit line in logfmt, which always parses back into its fields."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orga_asgi import AuditEvent, Principal
from orga_asgi.observe import VALUE_LIMIT, Observer, TokenIssued, logfmt, parse_logfmt
from orga_asgi.testing import FakeOrga
from tests._support import caller, free_port, make_endpoint

pytestmark = pytest.mark.anyio


class Recorder(Observer):
    def __init__(self) -> None:
        self.requests: list[AuditEvent] = []
        self.attempts: list[Any] = []
        self.store: list[bool] = []
        self.tokens: list[TokenIssued] = []

    def on_request(self, event: AuditEvent) -> None:
        self.requests.append(event)

    def on_upstream_attempt(self, attempt: Any) -> None:
        self.attempts.append(attempt)

    def on_store_state(self, available: bool) -> None:
        self.store.append(available)

    def on_token_issued(self, event: TokenIssued) -> None:
        self.tokens.append(event)


def who(request: Any) -> Principal | None:
    user = request.headers.get("x-user")
    return Principal(id=user) if user else None


async def test_one_event_per_request_issued_and_refused(fake: FakeOrga) -> None:
    seen = Recorder()
    endpoint = make_endpoint(
        fake, authorize=who, observers=[seen], audit_key="k", rate_limits=("1/minute",),
        audit_principal="plain",
    )  # fmt: skip
    origin = {"origin": "https://testserver"}
    async with caller(endpoint) as client:
        issued = await client.get("/", headers={"x-user": "dana", **origin})
        limited = await client.get("/", headers={"x-user": "dana"})
        unknown = await client.get("/")
        await client.put("/")
    assert [e.outcome for e in seen.requests] == [
        "issued", "rate_limited", "unauthorized", "method_not_allowed",
    ]  # fmt: skip
    first, second, third, _ = seen.requests
    assert (first.status, first.principal, first.method, first.path) == (200, "dana", "GET", "/")
    assert first.request_id == issued.headers["x-request-id"]
    assert first.origin == "https://testserver" and second.origin is None
    assert first.client == "203.0.113.7"
    assert first.upstream_attempts == 2 and second.upstream_attempts == 0
    token = issued.json()["ephemeralToken"]
    expected = hmac.new(b"k", token.encode(), hashlib.sha256).hexdigest()[:16]
    assert first.token_fingerprint == expected
    assert isinstance(first.expires_at, datetime)
    assert (second.status, second.principal, second.token_fingerprint) == (429, "dana", None)
    assert second.request_id == limited.headers["x-request-id"]
    assert (third.principal, third.status) == (None, 401)
    assert third.request_id == unknown.headers["x-request-id"]
    assert all(e.latency_ms >= 0 for e in seen.requests)
    assert seen.tokens == [TokenIssued(first.request_id, "dana", expected, first.expires_at)]


async def test_each_upstream_attempt_is_reported(fake: FakeOrga) -> None:
    seen = Recorder()
    endpoint = make_endpoint(fake, observers=[seen])
    fake.fail("client-secrets", status=503)
    async with caller(endpoint) as client:
        assert (await client.get("/")).status_code == 200
    calls = [(a.call, a.status, a.error_type, a.resend_count) for a in seen.attempts]
    assert calls == [
        ("client-secrets", 503, "503", 0),
        ("client-secrets", 200, None, 1),
        ("ice-config", 200, None, 0),
    ]
    assert all(a.duration >= 0 for a in seen.attempts)
    assert seen.requests[0].upstream_attempts == 3


async def test_issue_tells_the_observers_too(fake: FakeOrga) -> None:
    seen = Recorder()
    async with make_endpoint(fake, observers=[seen]) as endpoint:
        secrets = await endpoint.issue(Principal(id="erin"))
    (event,) = seen.tokens
    assert (event.request_id, event.principal, event.expires_at) == (
        None,
        "erin",
        secrets.expires_at,
    )
    assert len(event.token_fingerprint) == 16
    assert secrets.ephemeral_token not in repr(event)
    assert seen.requests == []  # no request of the route


async def test_the_store_going_down_is_reported(fake: FakeOrga) -> None:
    seen = Recorder()
    endpoint = make_endpoint(
        fake, observers=[seen], storage_uri=f"redis://127.0.0.1:{free_port()}/0"
    )
    async with caller(endpoint) as client:
        response = await client.get("/")
    await endpoint.aclose()
    assert response.status_code == 200  # on_storage_error="fallback"
    assert seen.store == [False]


async def test_a_raising_observer_never_breaks_a_request_and_is_logged_once(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Observer):
        def on_request(self, event: AuditEvent) -> None:
            raise RuntimeError("observer bug")

        def on_token_issued(self, event: TokenIssued) -> None:
            raise KeyError(event.token_fingerprint)

    seen = Recorder()
    endpoint = make_endpoint(fake, observers=[Broken(), seen])
    async with caller(endpoint) as client:
        statuses = [(await client.get("/")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert len(seen.requests) == 3  # the next observer still hears everything
    failures = [r for r in caplog.records if r.name == "orga_asgi.observe"]
    assert [r.levelno for r in failures] == [logging.ERROR, logging.ERROR]
    assert "on_token_issued" in failures[0].getMessage()
    assert "on_request" in failures[1].getMessage()


async def test_a_plain_object_with_one_method_is_an_observer(fake: FakeOrga) -> None:
    class OnlyTokens:
        def __init__(self) -> None:
            self.count = 0

        def on_token_issued(self, event: TokenIssued) -> None:
            self.count += 1

    only = OnlyTokens()
    endpoint = make_endpoint(fake, observers=[only], audit_log=False)
    async with caller(endpoint) as client:
        await client.get("/")
    assert only.count == 1


async def test_audit_log_off_writes_nothing(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = make_endpoint(fake, audit_log=False)
    with caplog.at_level(logging.INFO, logger="orga_asgi.audit"):
        async with caller(endpoint) as client:
            await client.get("/")
    assert not [r for r in caplog.records if r.name == "orga_asgi.audit"]


async def test_the_audit_line_is_the_event_in_logfmt(
    fake: FakeOrga, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Recorder()
    endpoint = make_endpoint(fake, authorize=who, observers=[seen], audit_principal="plain")
    with caplog.at_level(logging.INFO, logger="orga_asgi.audit"):
        async with caller(endpoint) as client:
            await client.get("/", headers={"x-user": 'mallory" status=200'})
    (record,) = [r for r in caplog.records if r.name == "orga_asgi.audit"]
    assert parse_logfmt(record.getMessage()) == seen.requests[0].fields()
    assert list(parse_logfmt(record.getMessage()))[:7] == [
        "request_id", "method", "path", "status", "principal", "outcome", "latency_ms",
    ]  # fmt: skip


# --- logfmt -----------------------------------------------------------------------------------

keys = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
values = st.none() | st.text(max_size=VALUE_LIMIT) | st.text(alphabet='"= \\-\n\x00', max_size=20)


@settings(deadline=None)  # a busy 2-core CI machine: wall time per example is not the point
@given(st.dictionaries(keys, values, max_size=8))
def test_a_line_always_parses_back_into_its_fields(fields: dict[str, str | None]) -> None:
    line = logfmt(fields.items())
    assert parse_logfmt(line) == fields
    assert line.isascii() and line.isprintable()  # one line, whatever the values were


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("alice", "alice"),
        ("a b", '"a b"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("line\nbreak", '"line\\nbreak"'),
        ("-", '"-"'),
        (None, "-"),
        ("", '""'),
        ("caf\u00e9", '"caf\\u00e9"'),
    ],
)
def test_quoting(value: str | None, written: str) -> None:
    assert logfmt([("k", value)]) == f"k={written}"


def test_long_values_are_cut() -> None:
    line = logfmt([("path", "/" + "x" * 1000)])
    assert parse_logfmt(line)["path"] == "/" + "x" * (VALUE_LIMIT - 1) + "..."


@pytest.mark.parametrize("line", ["k", "k=v  j=w", 'k="open', "=v", "k=v extra"])
def test_parse_refuses_other_text(line: str) -> None:
    with pytest.raises(ValueError):
        parse_logfmt(line)
