"""The fault matrix through real sockets: FakeOrga served by uvicorn on loopback, the endpoint
with its DEFAULT aiohttp transport (the production path) called in-process.

Each cell makes the upstream (or the shared limit store) fail one way and checks the whole
contract: the documented status and error code, a request id in body and header, no secret in
the error body, in any response header or in any log line (everything logged at DEBUG), and
that the next healthy request through the same endpoint succeeds. The in-process error-table
tests (tests/core/test_upstream_errors.py) cover the mapping itself; these prove it holds on
real connections, where resets, slow bodies, huge bodies and pooled sockets are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import aiohttp  # noqa: F401 - imported here, not in the first timed cell (~1 s under load)
import httpx
import pytest

from orga_asgi import OrgaClientSecrets, Principal
from orga_asgi.auth import any_of, bearer, cookie
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._redis import RedisServer
from tests._support import LogCapture, caller, uvicorn_server
from tests.reliability._rel_support import (
    REDIS_PASSWORD,
    ChaosProxy,
    assert_mapped_error,
    assert_no_secret,
    connections_to,
    free_port,
    response_texts,
)

pytestmark = [pytest.mark.anyio, pytest.mark.servers]

CALLER_TOKEN = "caller-bearer-7f3a9c2e51d04b8a"
SESSION_COOKIE = "session-cookie-c0ffee1234abcd"
REQUEST_ID = "rel-fault-cell-0001"
SECRETS_SENT = (CALLER_TOKEN, SESSION_COOKIE)

Handler = Callable[[Any, Any, Any], Awaitable[None]]


def verify(value: str) -> Principal | None:
    return Principal(id="alice") if value in SECRETS_SENT else None


AUTHORIZE = any_of(bearer(verify), cookie("session", verify))


class Upstream:
    """FakeOrga, plus faults it cannot make itself: a trickling body, an endless chunked one.

    ``script(route, handler)`` answers the next call to ``route`` with ``handler``.
    """

    def __init__(self) -> None:
        self.fake = FakeOrga()
        self._scripted: dict[str, deque[Handler]] = {
            "/v1/realtime/client-secrets": deque(),
            "/v1/realtime/ice-config": deque(),
        }
        self.streamed = 0  # bytes the last endless body got out before the client left

    def script(self, route: str, handler: Handler) -> None:
        self._scripted[f"/v1/realtime/{route}"].append(handler)

    def reset(self) -> None:
        self.fake.reset()
        for queue in self._scripted.values():
            queue.clear()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        queue = self._scripted.get(scope.get("path", "")) if scope["type"] == "http" else None
        if queue:
            await queue.popleft()(scope, receive, send)
            return
        await self.fake(scope, receive, send)

    async def trickle(self, scope: Any, receive: Any, send: Any) -> None:
        """Headers at once, then one byte every 0.1 s: a slow body, not a slow server."""
        body = b'{"ephemeralToken":"slow-token-never-finished","ttl":120}'
        start = {b"content-type": b"application/json", b"content-length": b"%d" % len(body)}
        await send({"type": "http.response.start", "status": 200, "headers": list(start.items())})
        for byte in body[:40]:
            await send({"type": "http.response.body", "body": bytes([byte]), "more_body": True})
            await asyncio.sleep(0.1)

    async def endless(self, scope: Any, receive: Any, send: Any) -> None:
        """A 2xx without Content-Length (chunked) streaming up to 10 MB, until the client
        leaves; ``streamed`` is what the server got out before that."""
        chunk = b"x" * 65536
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self.streamed = 0
        try:
            for _ in range(160):
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.streamed += len(chunk)
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()


@pytest.fixture(scope="module")
def upstream_server() -> Iterator[tuple[Upstream, str]]:
    upstream = Upstream()
    # Handlers still sleeping for a slow cell must not hold the shutdown up.
    with uvicorn_server(upstream, timeout_graceful_shutdown=1) as url:
        yield upstream, url


@pytest.fixture
def upstream(upstream_server: tuple[Upstream, str]) -> Iterator[tuple[Upstream, str]]:
    upstream_server[0].reset()
    yield upstream_server
    upstream_server[0].reset()


@contextlib.asynccontextmanager
async def endpoint_for(url: str, **options: Any) -> AsyncIterator[OrgaClientSecrets]:
    endpoint = OrgaClientSecrets(authorize=AUTHORIZE, api_key=FAKE_API_KEY, base_url=url, **options)
    async with endpoint:
        yield endpoint


async def call(
    endpoint: OrgaClientSecrets, *, request_id: str | None = REQUEST_ID
) -> httpx.Response:
    headers = {"authorization": f"Bearer {CALLER_TOKEN}", "cookie": f"session={SESSION_COOKIE}"}
    if request_id:
        headers["x-request-id"] = request_id
    async with caller(endpoint, timeout=30) as client:
        return await client.post("/", headers=headers)


def secrets_of(fake: FakeOrga, *extra: str) -> set[str]:
    return {FAKE_API_KEY, *SECRETS_SENT, *fake.issued_secrets(), *extra}


def check_error(
    response: httpx.Response, status: int, code: str, *, request_id: str | None = REQUEST_ID
) -> dict[str, Any]:
    data = assert_mapped_error(
        response.status_code,
        response.headers,
        response.content,
        expected_status=status,
        expected_code=code,
    )
    if request_id:
        assert data["requestId"] == request_id
    for name in ("cache-control", "x-content-type-options"):
        assert name in response.headers
    return data


def check_no_leaks(
    logs: LogCapture, secrets: set[str], errors: list[httpx.Response], oks: list[httpx.Response]
) -> None:
    assert_no_secret("the logs", logs.lines, secrets)
    for response in errors:
        assert_no_secret("an error body", [response.text], secrets)
    for response in errors + oks:
        assert_no_secret(
            "a response header", response_texts(response.headers.multi_items()), secrets
        )


def check_healthy(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ephemeralToken"] and body["iceServers"]
    assert response.headers["x-request-id"]


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Cell:
    id: str
    arrange: Callable[[Upstream], None]
    status: int
    code: str
    options: dict[str, Any] = field(default_factory=dict)
    upstream_calls: int | None = None  # calls the failing request made, when it matters
    within: float | None = None  # seconds the failing request may take at most
    retry_after: str | bool | None = None  # expected Retry-After; False: absent


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds), usegmt=True)


CELLS = [
    Cell(
        "slow-mint-beyond-timeout",
        lambda u: u.fake.fail("client-secrets", delay=3.0),
        504,
        "upstream_timeout",
        {"timeout": 0.3, "deadline": 0.6},
        within=2.0,
    ),
    Cell(
        "slow-pair-beyond-deadline",
        lambda u: (
            u.fake.fail("client-secrets", delay=0.35),
            u.fake.fail("ice-config", delay=0.35),
        ),
        504,
        "upstream_timeout",
        {"timeout": 0.5, "deadline": 0.6},
        within=2.0,
    ),
    Cell(
        "slow-body-beyond-timeout",
        lambda u: u.script("client-secrets", u.trickle),
        504,
        "upstream_timeout",
        {"timeout": 0.5, "deadline": 0.8},
        within=2.0,
    ),
    Cell(
        "reset-mid-body-mint",
        lambda u: u.fake.fail("client-secrets", drop=True),
        502,
        "upstream_unavailable",
        upstream_calls=1,
    ),
    Cell(
        "reset-mid-body-ice",
        lambda u: u.fake.fail("ice-config", drop=True),
        502,
        "upstream_unavailable",
        upstream_calls=2,
    ),
    Cell(
        "503-every-attempt",
        lambda u: u.fake.fail("client-secrets", status=503, times=None),
        502,
        "upstream_unavailable",
        upstream_calls=3,
    ),
    Cell(
        "502-every-attempt-ice",
        lambda u: u.fake.fail("ice-config", status=502, times=None),
        502,
        "upstream_unavailable",
        upstream_calls=4,
    ),
    Cell(
        "500-not-retried",
        lambda u: u.fake.fail("client-secrets", status=500, body=b'{"error":"boom"}'),
        502,
        "upstream_unavailable",
        upstream_calls=1,
    ),
    Cell(
        "429-retry-after-seconds",
        lambda u: u.fake.fail("client-secrets", status=429, headers={"Retry-After": "7"}),
        503,
        "upstream_rate_limited",
        upstream_calls=1,
        retry_after="7",
    ),
    Cell(
        "429-retry-after-date",
        lambda u: u.fake.fail("ice-config", status=429, headers={"Retry-After": _http_date(30)}),
        503,
        "upstream_rate_limited",
        upstream_calls=2,
        retry_after=True,
    ),
    Cell(
        "429-without-retry-after",
        lambda u: u.fake.fail("client-secrets", status=429),
        503,
        "upstream_rate_limited",
        upstream_calls=1,
        retry_after=False,
    ),
    Cell(
        "429-garbage-retry-after",
        lambda u: u.fake.fail("client-secrets", status=429, headers={"Retry-After": "soon\tish"}),
        503,
        "upstream_rate_limited",
        retry_after=False,
    ),
    Cell(
        "401-key-rejected",
        lambda u: u.fake.fail("client-secrets", status=401),
        502,
        "upstream_auth_failed",
        upstream_calls=1,
    ),
    Cell(
        "403-key-rejected",
        lambda u: u.fake.fail("client-secrets", status=403, body=b'{"error":"forbidden"}'),
        502,
        "upstream_auth_failed",
        upstream_calls=1,
    ),
    Cell(
        "401-ice-refuses-new-token",
        lambda u: u.fake.fail("ice-config", status=401),
        502,
        "upstream_invalid_response",
        upstream_calls=2,
    ),
    Cell(
        "2xx-malformed-json",
        lambda u: u.fake.fail("client-secrets", body=b'{"ephemeralToken": "abc'),
        502,
        "upstream_invalid_response",
    ),
    Cell(
        "2xx-missing-token",
        lambda u: u.fake.fail("client-secrets", body=b'{"ttl": 120}'),
        502,
        "upstream_invalid_response",
    ),
    Cell(
        "2xx-token-with-crlf",
        lambda u: u.fake.fail(
            "client-secrets", body=b'{"ephemeralToken": "a\\r\\nSet-Cookie: x=1"}'
        ),
        502,
        "upstream_invalid_response",
    ),
    Cell(
        "2xx-invalid-ice-servers",
        lambda u: u.fake.fail("ice-config", body=b'{"iceServers": [{"urls": 5}]}'),
        502,
        "upstream_invalid_response",
    ),
    Cell(
        "2xx-ice-servers-not-a-list",
        lambda u: u.fake.fail("ice-config", body=b'{"iceServers": "turn:x"}'),
        502,
        "upstream_invalid_response",
    ),
    Cell(
        "2xx-huge-body-with-length",
        lambda u: u.fake.fail("client-secrets", body=b"x" * 10_000_000),
        502,
        "upstream_invalid_response",
        within=3.0,
    ),
    Cell(
        "2xx-huge-chunked-body",
        lambda u: u.script("ice-config", u.endless),
        502,
        "upstream_invalid_response",
        within=3.0,
    ),
]


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
async def test_fault_cell(cell: Cell, upstream: tuple[Upstream, str], logs: LogCapture) -> None:
    up, url = upstream
    async with endpoint_for(url, **cell.options) as endpoint:
        cell.arrange(up)
        started = time.monotonic()
        failed = await call(endpoint)
        elapsed = time.monotonic() - started
        check_error(failed, cell.status, cell.code)
        assert failed.status_code != 500
        if cell.within is not None:
            assert elapsed < cell.within, f"took {elapsed:.2f}s"
        if cell.upstream_calls is not None:
            assert len(up.fake.calls) == cell.upstream_calls, up.fake.calls
        if cell.retry_after is False:
            assert "retry-after" not in failed.headers
        elif cell.retry_after is True:
            assert 1 <= int(failed.headers["retry-after"]) <= 3600
        elif cell.retry_after is not None:
            assert failed.headers["retry-after"] == cell.retry_after
        if cell.code == "upstream_auth_failed":
            errors = [r for r in logs.records if r.levelname == "ERROR"]
            assert len(errors) == 1 and "ORGA_API_KEY" in errors[0].getMessage()

        up.fake.clear_faults()
        healthy = await call(endpoint, request_id=None)
        check_healthy(healthy)
        assert healthy.headers["x-request-id"] != REQUEST_ID  # a fresh id per request
    if cell.code == "upstream_invalid_response" and "huge" in cell.id:
        # The reader stopped at a sane size, not after 10 MB.
        assert up.streamed < 8_000_000
    check_no_leaks(logs, secrets_of(up.fake), [failed], [healthy])
    assert not [r for r in logs.records if r.name.startswith("orga_asgi") and r.exc_info]


async def test_transient_5xx_then_recovery_is_hidden(
    upstream: tuple[Upstream, str], logs: LogCapture
) -> None:
    up, url = upstream
    up.fake.fail("client-secrets", status=503, times=1)
    up.fake.fail("ice-config", status=504, times=2)
    async with endpoint_for(url) as endpoint:
        response = await call(endpoint)
        check_healthy(response)
        assert response.headers["x-request-id"] == REQUEST_ID
        assert len(up.fake.calls_to("client-secrets")) == 2
        assert len(up.fake.calls_to("ice-config")) == 3
        check_healthy(await call(endpoint))
    check_no_leaks(logs, secrets_of(up.fake), [], [response])


async def test_idle_pooled_connection_closed_by_upstream_is_replaced(logs: LogCapture) -> None:
    """The upstream closes idle keep-alive connections (uvicorn after its keep-alive timeout,
    here 1 s); the pooled socket it closed is never used for the next request."""
    fake = FakeOrga()
    with uvicorn_server(fake, timeout_keep_alive=1) as url:
        port = int(url.rsplit(":", 1)[1])
        async with endpoint_for(url) as endpoint:
            check_healthy(await call(endpoint))
            assert connections_to(port), "the upstream connection should be pooled"
            await asyncio.sleep(1.4)
            response = await call(endpoint)
            check_healthy(response)
    check_no_leaks(logs, secrets_of(fake), [], [response])


# --------------------------------------------------------------------------- TCP-level cells


@pytest.fixture(scope="module")
def proxy_server(upstream_server: tuple[Upstream, str]) -> Iterator[tuple[Upstream, ChaosProxy]]:
    up, url = upstream_server
    with ChaosProxy(int(url.rsplit(":", 1)[1])) as proxy:
        yield up, proxy


@pytest.fixture
def proxied(
    proxy_server: tuple[Upstream, ChaosProxy], upstream: tuple[Upstream, str]
) -> Iterator[tuple[Upstream, ChaosProxy]]:
    proxy_server[1].clear()
    yield proxy_server
    proxy_server[1].clear()


@dataclass(frozen=True)
class TcpCell:
    id: str
    kind: str
    times: int | None
    status: int  # 200: the retry hid the fault
    code: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


TCP_CELLS = [
    TcpCell("fin-on-pooled-connection", "close", 1, 200),
    TcpCell("fin-every-attempt", "close", None, 502, "upstream_unavailable"),
    TcpCell("rst-every-attempt", "reset", None, 502, "upstream_unavailable"),
    TcpCell(
        "blackhole", "blackhole", 1, 504, "upstream_timeout", {"timeout": 0.3, "deadline": 0.6}
    ),
]


def _tcp_param(cell: TcpCell) -> Any:
    return pytest.param(cell, id=cell.id)


@pytest.mark.parametrize(
    "cell",
    [
        *map(_tcp_param, TCP_CELLS),
        # An RST instead of a FIN on a pooled connection: nothing was answered, so retried.
        pytest.param(
            TcpCell("rst-on-pooled-connection", "reset", 1, 200), id="rst-on-pooled-connection"
        ),
    ],
)
async def test_tcp_fault_cell(
    cell: TcpCell, proxied: tuple[Upstream, ChaosProxy], logs: LogCapture
) -> None:
    """Faults below HTTP, on the connection the pool hands out (a warm one: the endpoint made
    one request first). Nothing reached the upstream, so a retry is always safe."""
    up, proxy = proxied
    async with endpoint_for(proxy.url, **cell.options) as endpoint:
        warm = await call(endpoint, request_id=None)
        check_healthy(warm)
        proxy.fault(cell.kind, cell.times)
        response = await call(endpoint)
        proxy.clear()
        errors: list[httpx.Response] = []
        if cell.status == 200:
            check_healthy(response)
        else:
            check_error(response, cell.status, cell.code or "")
            errors.append(response)
        healthy = await call(endpoint, request_id=None)
        check_healthy(healthy)
    check_no_leaks(logs, secrets_of(up.fake), errors, [warm, healthy])


async def test_connection_refused_then_upstream_comes_up(logs: LogCapture) -> None:
    port = free_port()  # nobody listens here yet
    async with endpoint_for(f"http://127.0.0.1:{port}") as endpoint:
        started = time.monotonic()
        refused = await call(endpoint)
        assert time.monotonic() - started < 3
        check_error(refused, 502, "upstream_unavailable")
        fake = FakeOrga()
        with uvicorn_server(fake, port=port):
            recovered = await call(endpoint)
            check_healthy(recovered)
            await endpoint.aclose()  # before the server goes, so it has nothing to wait for
    check_no_leaks(logs, secrets_of(fake), [refused], [recovered])


async def test_upstream_gone_mid_run_then_back(logs: LogCapture) -> None:
    """The upstream process stops between requests (pooled connections die with it), then a
    new one listens on the same port."""
    port = free_port()
    first, second = FakeOrga(), FakeOrga()
    async with endpoint_for(f"http://127.0.0.1:{port}") as endpoint:
        with uvicorn_server(first, port=port):
            before = await call(endpoint)
            check_healthy(before)
        gone = await call(endpoint)
        check_error(gone, 502, "upstream_unavailable")
        with uvicorn_server(second, port=port):
            after = await call(endpoint)
            check_healthy(after)
            await endpoint.aclose()
    secrets = secrets_of(first) | secrets_of(second)
    check_no_leaks(logs, secrets, [gone], [before, after])


# --------------------------------------------------------------------------- Redis cells


REDIS_SCENARIOS = [
    ("fallback", "down-at-start"),
    ("fallback", "down-mid-run"),
    ("deny", "down-at-start"),
    ("deny", "down-mid-run"),
    ("allow", "down-mid-run"),
]


@pytest.mark.redis
@pytest.mark.parametrize(("policy", "scenario"), REDIS_SCENARIOS)
async def test_redis_outage_cell(
    policy: str,
    scenario: str,
    redis: RedisServer,
    upstream: tuple[Upstream, str],
    logs: LogCapture,
) -> None:
    """Redis down at start or mid-run, then back: the policy answers, never a 500."""
    up, url = upstream
    errors: list[httpx.Response] = []
    oks: list[httpx.Response] = []
    limits = {"rate_limits": ("3/minute",), "ip_rate_limits": ("100/minute",)}
    async with endpoint_for(
        url, storage_uri=redis.url, on_storage_error=policy, **limits
    ) as endpoint:
        if scenario == "down-mid-run":
            response = await call(endpoint)
            check_healthy(response)
            oks.append(response)
            assert "Shared rate limit store" not in logs.text()  # the store answered
        redis.stop()
        down = await call(endpoint)
        assert down.status_code != 500
        if policy == "deny":
            check_error(down, 503, "rate_limiter_unavailable")
            assert 1 <= int(down.headers["retry-after"]) <= 30
            errors.append(down)
        else:
            check_healthy(down)
            oks.append(down)
        if policy == "fallback":
            # Limits still hold, in memory: 3/minute per principal, counted from the outage
            # on (hits the store took before it went down are not known to this process).
            for _ in range(2):
                response = await call(endpoint)
                check_healthy(response)
                oks.append(response)
            limited = await call(endpoint)
            check_error(limited, 429, "rate_limited")
            errors.append(limited)
        warnings = [
            r for r in logs.records if r.levelname == "WARNING" and "store" in r.getMessage()
        ]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]

        redis.start()
        # The store is re-probed 1 s after the failure (then 2, 4 s... while it fails); until
        # the probe answers the policy still does, then the shared window takes over again.
        back = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            response = await call(endpoint)
            assert response.status_code != 500
            if response.status_code == 200:
                oks.append(response)
                if any("answers again" in line for line in logs.lines):
                    back = response
                    break
            else:
                check_error(
                    response, 429 if policy == "fallback" else 503, response.json()["error"]
                )
                errors.append(response)
        assert back is not None, "the store never came back: " + repr(logs.lines[-5:])
    check_no_leaks(logs, secrets_of(up.fake, REDIS_PASSWORD), errors, oks)
