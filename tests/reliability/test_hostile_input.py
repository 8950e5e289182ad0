"""Hostile input, property-based: raw ASGI scopes, as a server could deliver them, against
the endpoint behind OrgaMiddleware (and mounted directly, where any path reaches it).

Each hypothesis example is a batch of requests run concurrently on one event loop: arbitrary
methods, paths near the route, header names and values (oversized, non-ASCII, CR/LF/NUL,
duplicated), cookies, X-Request-ID, forwarding headers, query strings and streamed bodies.
Every response must be complete and well formed, with a documented status (never a 500, no
exception out of the app), headers free of control bytes and made only of values the route
itself chose (the one echo allowed: a valid X-Request-ID, and an allowed CORS origin), and a
JSON body carrying the request id on errors. The upstream is FakeOrga in-process, so minting
is cheap; limits are generous so the requests reach every stage.

The default profile runs >= 10,000 requests; the slow profile (``-m slow``) ten times more.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import any_of, bearer, cookie
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, sandbox_client
from tests._support import LogCapture
from tests.reliability._rel_support import ROUTE, assert_no_secret

VALID_TOKEN = "fuzz-valid-bearer-0123456789"
ALLOWED_ORIGIN = "https://app.example.com"
BATCH = 50
DEFAULT_EXAMPLES = 204  # x BATCH >= 10,000 requests
SLOW_EXAMPLES = DEFAULT_EXAMPLES * 10

ENDPOINT_STATUSES = frozenset({200, 204, 401, 403, 405, 413, 429, 502, 503, 504})
_RID = re.compile(rb"[A-Za-z0-9._-]{8,128}")
_HEX32 = re.compile(rb"[0-9a-f]{32}")
_POLICY = re.compile(rb'"[0-9a-z-]+";q=[0-9]+;w=[0-9]+(?:, "[0-9a-z-]+";q=[0-9]+;w=[0-9]+)*')
_LIMIT = re.compile(rb'"[0-9a-z-]+";r=[0-9]+;t=[0-9]+')
_FIXED: dict[bytes, frozenset[bytes]] = {
    b"content-type": frozenset({b"application/json"}),
    b"cache-control": frozenset({b"no-store"}),
    b"pragma": frozenset({b"no-cache"}),
    b"x-content-type-options": frozenset({b"nosniff"}),
    b"referrer-policy": frozenset({b"no-referrer"}),
    b"strict-transport-security": frozenset({b"max-age=63072000; includeSubDomains"}),
    b"www-authenticate": frozenset({b"Bearer"}),
    b"allow": frozenset({b"GET, POST"}),
    b"vary": frozenset({b"Origin", b"Access-Control-Request-Headers"}),
    b"access-control-allow-origin": frozenset({ALLOWED_ORIGIN.encode()}),
    b"access-control-allow-credentials": frozenset({b"true"}),
    b"access-control-expose-headers": frozenset(
        {b"X-Request-ID, RateLimit, RateLimit-Policy, Retry-After"}
    ),
    b"access-control-allow-methods": frozenset({b"GET, POST"}),
    b"access-control-max-age": frozenset({b"600"}),
}
_ALLOWED_REQUEST_HEADERS = frozenset({b"Authorization", b"Content-Type", b"X-Request-ID"})


def verify(value: str) -> Principal | None:
    return Principal(id="fuzz-user") if value == VALID_TOKEN else None


# --------------------------------------------------------------------------- generation
#
# Hypothesis drives every batch: it draws a seed and the hostile fragments of the batch
# (arbitrary bytes, text, oversized values, header names, paths, methods); a PRNG seeded by it
# then assembles BATCH requests from those fragments and from hand-picked values that reach
# every stage. Drawing each request field by field from hypothesis costs ~10 ms per request
# here, ten times the cost of running it; this keeps the run reproducible (derandomize, the
# failing example prints its seed and fragments) at ~1 ms per request.

_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_METHODS = ["GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PRI"]
_ODD_METHODS = ["get", "post", "GET ", "G\u00c9T", "", "GET\r\nX-Injected: 1", "P\x00ST"]
_NEAR = [
    ROUTE + "/",
    ROUTE + "//",
    ROUTE.upper(),
    ROUTE[:-1],
    ROUTE + "x",
    ROUTE + "/../x",
    ROUTE + "%2F",
    ROUTE + "\r\nX-Injected: 1",
    ROUTE + "\x00",
    ROUTE + "\u2215",
    "/",
    "",
    "/api/",
    "//api/orga-client-secrets",
    "/prefix" + ROUTE,
    "/prefix/" + ROUTE,
]
_ROOT_PATHS = ["/prefix", "/api", "/prefix/", ROUTE]
_CLIENT_HOSTS = [
    "127.0.0.1",
    "10.1.2.3",
    "::1",
    "203.0.113.9",
    "::ffff:10.0.0.1",
    "not-an-ip",
    "",
    "999.1.1.1",
    "fe80::1%eth0",
]
_CRLF = b"x\r\nSet-Cookie: pwn=1\r\nX-Injected: 1"
_BEARER = b"Bearer " + VALID_TOKEN.encode()
_SESSION = b"session=" + VALID_TOKEN.encode()
HEADER_VALUES: dict[bytes, list[bytes]] = {
    b"authorization": [
        _BEARER,
        b"Bearer  " + VALID_TOKEN.encode(),
        b"bearer " + VALID_TOKEN.encode() + b"\r\nX-Injected: 1",
        b"Basic dXNlcjpwYXNz",
        b"Bearer ",
        b"Bearer \xff\xfe",
        b"Bearer " + b"A" * 9000,
    ],
    b"cookie": [
        _SESSION,
        b"session=; session=" + VALID_TOKEN.encode(),
        b'session="' + VALID_TOKEN.encode() + b'"',
        b"session=\xc3\xa9t\xc3\xa9",
        b"a=b; " * 500,
        b"session",
        _CRLF,
    ],
    b"x-request-id": [
        b"abcdefgh",
        b"req-0123456789abcdef",
        b"a" * 128,
        b"a" * 129,
        b"short",
        b"sk_orga_ai_abcdefgh",
        b"eyJhbGciOiJIUzI1NiJ9.e30.x",
        b"abcdefgh\r\nX-Injected: 1",
        b"abcdefgh\n",
        b"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
        b"abc def ghi",
    ],
    b"origin": [
        ALLOWED_ORIGIN.encode(),
        ALLOWED_ORIGIN.encode() + b"/",
        ALLOWED_ORIGIN.upper().encode(),
        b"null",
        b"https://evil.example",
        b"https://testserver",
        b"http://testserver",
        b"https://app.example.com\r\nX-Injected: 1",
        b"https://\xc3\xa9x.example",
    ],
    b"sec-fetch-site": [b"same-origin", b"cross-site", b"same-site", b"none", b"CROSS-SITE"],
    b"host": [b"testserver", b"app.example.com", b"testserver:443", b"", b"\xff"],
    b"content-length": [
        b"0",
        b"10",
        b"16384",
        b"16385",
        b"-1",
        b"1e3",
        b" 10",
        b"99999999999999999999",
        b"\xd9\xa3",
    ],
    b"transfer-encoding": [b"chunked", b"gzip, chunked", b"identity", b"chunked\r\n"],
    b"forwarded": [
        b"for=198.51.100.1;proto=https",
        b'for="[2001:db8::1]:4711";proto=https, for=10.0.0.2',
        b"for=unknown;proto=https",
        b"for=_hidden, for=10.1.1.1;proto=http",
        b'for="\\"quoted\\"";proto=https',
        b"for=1.2.3.4;for=5.6.7.8",
        b";;;,,,",
    ],
    b"x-forwarded-for": [b"198.51.100.1", b"1.1.1.1, 10.0.0.1", b"::1", b", , ,", b"x" * 5000],
    b"x-forwarded-proto": [b"https", b"http", b"https, http", b"HTTPS", b"wss", b""],
    b"x-real-ip": [b"198.51.100.7", b"127.0.0.1", b"nonsense"],
    b"access-control-request-headers": [
        b"authorization, x-request-id",
        b"Authorization,Content-Type,X-Request-ID,X-Evil",
        b"x-evil\r\nX-Injected: 1",
        b",,,",
    ],
    b"content-type": [b"application/json", b"text/plain", b"multipart/form-data; boundary="],
}
_NAMES = sorted(HEADER_VALUES)
_ODD_NAMES = [b"Authorization", b"X-Request-ID", b"x-request-id ", b"x-injected", b"", b"\r\n"]


@dataclass(frozen=True)
class Req:
    target: int  # 0: behind OrgaMiddleware, 1: the endpoint mounted directly
    method: str
    path: str
    root_path: str
    scheme: str
    client: tuple[str, int] | None
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: tuple[bytes, ...]
    disconnect_early: bool


@dataclass(frozen=True)
class Fragments:
    """What hypothesis drew for one batch."""

    values: list[bytes]
    names: list[bytes]
    texts: list[str]


fragments = st.builds(
    Fragments,
    values=st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.text(max_size=24).map(lambda t: t.encode("utf-8", "surrogatepass")),
            st.integers(1, 70_000).map(lambda n: b"v" * n),  # oversized
            st.just(_CRLF),
        ),
        min_size=6,
        max_size=12,
    ),
    names=st.lists(st.binary(min_size=1, max_size=24), min_size=1, max_size=4),
    texts=st.lists(st.text(max_size=32), min_size=2, max_size=6),
)


def upstream_faults(seed: int, frags: Fragments, fake: FakeOrga) -> None:
    """Queue a few upstream faults for the batch, some with hostile headers and bodies, and
    short delays so the batch's requests interleave (in-flight cap, upstream slots)."""
    rng = random.Random(seed ^ 0x5EED)
    fake.clear_faults()
    for _ in range(rng.randint(0, 4)):
        route = rng.choice(["client-secrets", "ice-config"])
        r = rng.random()
        hostile = rng.choice(frags.values)[:200].decode("latin-1")
        if r < 0.3:
            fake.fail(route, delay=0.002, times=rng.randint(1, 10))
        elif r < 0.45:
            fake.fail(route, status=rng.choice([500, 502, 503, 504]), times=rng.randint(1, 4))
        elif r < 0.6:
            fake.fail(route, status=429, headers={"Retry-After": hostile})
        elif r < 0.75:
            fake.fail(route, body=rng.choice(frags.values))
        elif r < 0.85:
            fake.fail(route, status=200, headers={"X-Upstream": hostile}, body=b"{}")
        elif r < 0.95:
            fake.fail(route, drop=True)
        else:
            fake.fail(route, delay=0.15)  # beyond the endpoint's deadline: 504


def expand(seed: int, frags: Fragments) -> list[Req]:
    """BATCH requests, from hypothesis' fragments and the hand-picked values."""
    rng = random.Random(seed)
    choice, roll = rng.choice, rng.random
    batch = []
    for _ in range(BATCH):
        r = roll()
        if r < 0.4:
            method = "GET"
        elif r < 0.7:
            method = "POST"
        elif r < 0.8:
            method = "OPTIONS"
        elif r < 0.9:
            method = choice(_METHODS)
        elif r < 0.95:
            method = choice(_ODD_METHODS)
        else:
            method = "".join(rng.choices(_TOKEN_CHARS, k=rng.randint(1, 10)))
        r = roll()
        root_path = ""
        if r < 0.65:
            path = ROUTE
        elif r < 0.72:
            root_path = choice(_ROOT_PATHS)
            path = root_path.rstrip("/") + ROUTE
        elif r < 0.88:
            path = choice(_NEAR)
        elif r < 0.95:
            path = ROUTE + choice(frags.texts)
        else:
            path = choice(frags.texts)
        headers: list[tuple[bytes, bytes]] = []
        for _ in range(rng.randint(0, 7)):
            r = roll()
            name = (
                choice(_NAMES)
                if r < 0.8
                else choice(_ODD_NAMES)
                if r < 0.9
                else choice(frags.names)
            )
            known = HEADER_VALUES.get(name)
            value = choice(known) if known and roll() < 0.75 else choice(frags.values)
            headers.append((name, value))
        r = roll()
        if r < 0.25:
            headers.append((b"authorization", _BEARER))
        elif r < 0.4:
            headers.append((b"cookie", _SESSION))
        if r < 0.8 and roll() < 0.5:
            headers.append((b"x-forwarded-proto", b"https"))
        if headers and roll() < 0.2:  # duplicates, at the end or shuffled in
            headers += rng.choices(headers, k=rng.randint(1, 3))
            if roll() < 0.5:
                rng.shuffle(headers)
        r = roll()
        if r < 0.5:
            body: tuple[bytes, ...] = ()
        elif r < 0.8:
            body = tuple(choice(frags.values) for _ in range(rng.randint(1, 3)))
        elif r < 0.9:
            body = (b"{" * rng.randint(1, 40_000),)
        else:
            body = (b'{"a": 1}', b"x" * rng.randint(0, 2000))
        r = roll()
        client = None if r < 0.1 else (choice(_CLIENT_HOSTS), rng.randint(0, 65535))
        batch.append(
            Req(
                target=1 if roll() < 0.2 else 0,
                method=method,
                path=path,
                root_path=root_path,
                scheme="http" if roll() < 0.2 else "https",
                client=client,
                query=b"" if roll() < 0.6 else choice(frags.values)[:2000],
                headers=tuple(headers),
                body=body,
                disconnect_early=roll() < 0.08,
            )
        )
    return batch


# --------------------------------------------------------------------------- the harness


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    # Every error body and every response header, checked for issued secrets at the end.
    exposed: list[bytes] = field(default_factory=list)


async def inner_app(scope: Any, receive: Any, send: Any) -> None:
    """What OrgaMiddleware wraps: 404 for everything, marked so it is told apart."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    await send({"type": "http.response.start", "status": 404, "headers": [(b"x-inner-app", b"1")]})
    await send({"type": "http.response.body", "body": b"not here"})


def build_endpoint(fake: FakeOrga) -> OrgaClientSecrets:
    return OrgaClientSecrets(
        authorize=any_of(bearer(verify), cookie("session", verify)),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox_client(fake),
        trusted_proxies=["10.0.0.0/8", "127.0.0.1", "::1"],
        allowed_origins=[ALLOWED_ORIGIN],
        rate_limits=("1000000/minute",),
        ip_rate_limits=("1000000/minute",),
        max_in_flight_per_principal=3,
        max_upstream_concurrency=8,
        upstream_queue_timeout=0.05,
        max_body_size=1024,
        timeout=0.1,
        deadline=0.12,
    )


def scope_of(req: Req) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": req.scheme,
        "path": req.path,
        "raw_path": req.path.encode("utf-8", "surrogateescape"),
        "root_path": req.root_path,
        "query_string": req.query,
        "headers": list(req.headers),
        "client": req.client,
        "server": ("testserver", 443),
        "state": {},
    }


async def drive(app: Any, req: Req, tally: Tally, secrets: set[str]) -> None:
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(req.body) - 1}
        for i, chunk in enumerate(req.body)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]
    if req.disconnect_early:
        messages = messages[:1]
        messages[0] = {**messages[0], "more_body": True}
    received = 0
    answered = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        # Like a server: the body messages, then http.disconnect at once if the client left
        # early, else only once the response is complete.
        nonlocal received
        received += 1
        assert received < 100, "the app keeps reading after the body ended"
        if messages:
            return messages.pop(0)
        if not req.disconnect_early:
            await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            answered.set()

    try:
        await asyncio.wait_for(app(scope_of(req), receive, send), 10)
    except Exception as exc:
        pytest.fail(f"the app raised {exc!r} for {req!r}"[:2000])
    tally.requests += 1
    if not sent and req.disconnect_early:
        tally.statuses[0] += 1  # the client left mid-body: nobody to answer
        return
    check_response(req, sent, tally, secrets)


def check_response(req: Req, sent: list[dict[str, Any]], tally: Tally, secrets: set[str]) -> None:
    where = f"{req!r}"[:1500]
    assert sent and sent[0]["type"] == "http.response.start", where
    start = sent[0]
    status = start["status"]
    tally.statuses[status] += 1
    assert status != 500, where
    assert all(m["type"] == "http.response.body" for m in sent[1:]), where
    assert sent[-1].get("more_body", False) is False, where
    body = b"".join(m.get("body", b"") for m in sent[1:])
    headers: list[tuple[bytes, bytes]] = list(start["headers"])
    for name, value in headers:
        assert isinstance(name, bytes) and isinstance(value, bytes), where
        for raw in (name, value):
            assert b"\r" not in raw and b"\n" not in raw and b"\0" not in raw, (raw, where)
    if (b"x-inner-app", b"1") in headers:
        assert status == 404 and req.target == 0, where
        return
    assert status in ENDPOINT_STATUSES, (status, where)
    names = [name for name, _ in headers]
    tally.exposed.append(b"\n".join(value for _, value in headers))
    for name, value in headers:
        assert name == name.lower(), where
        if name == b"vary":
            continue
        assert names.count(name) == 1, (name, where)
        check_header(name, value, req, where)
    assert dict(headers).get(b"content-length") == str(len(body)).encode(), where
    if status == 204:
        assert body == b"" and req.method == "OPTIONS", where
        return
    data = json.loads(body)
    request_id = dict(headers)[b"x-request-id"].decode()
    if status == 200:
        assert data["ephemeralToken"] and isinstance(data["iceServers"], list), where
        return
    assert set(data) == {"error", "message", "requestId"}, where
    assert data["requestId"] == request_id, where
    tally.codes[data["error"]] += 1
    assert_no_secret("an error body", [body.decode()], secrets)
    tally.exposed.append(body)


def check_header(name: bytes, value: bytes, req: Req, where: str) -> None:
    if name in _FIXED:
        assert value in _FIXED[name], (name, value, where)
        if name == b"access-control-allow-origin":
            assert any(v == value for n, v in req.headers if n == b"origin"), where
    elif name == b"content-length" or name == b"retry-after":
        assert value.isdigit(), (name, value, where)
    elif name == b"x-request-id":
        offered = [v for n, v in req.headers if n == b"x-request-id"]
        if value in offered:  # echoed: only a valid id that does not look like a secret
            assert _RID.fullmatch(value), (value, where)
            assert b"sk_orga_ai_" not in value.lower() and b"eyj" not in value.lower(), where
        else:
            assert _HEX32.fullmatch(value), (value, where)
    elif name == b"ratelimit-policy":
        assert _POLICY.fullmatch(value), (value, where)
    elif name == b"ratelimit":
        assert _LIMIT.fullmatch(value), (value, where)
    elif name == b"access-control-allow-headers":
        assert set(value.split(b", ")) <= _ALLOWED_REQUEST_HEADERS, (value, where)
    else:
        pytest.fail(f"unexpected response header {name!r}: {where}")


def run_fuzz(examples: int, logs: LogCapture) -> Tally:
    tally = Tally()
    fake = FakeOrga(max_tokens=1_000_000)
    started = time.perf_counter()
    # Without asyncio debug even under PYTHONDEVMODE (nox): it triples the cost per request
    # and this test is about answers, not about the loop (the other tests run with it).
    with asyncio.Runner(debug=False) as runner:
        endpoint = build_endpoint(fake)
        wrapped = OrgaMiddleware(inner_app, endpoint=endpoint)
        apps = (wrapped, endpoint)
        static_secrets = {FAKE_API_KEY, VALID_TOKEN}

        @settings(
            max_examples=examples,
            derandomize=True,
            phases=[
                Phase.explicit,
                Phase.generate,
            ],  # a failing request names itself; no shrinking of 50-request batches
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(seed=st.integers(0, 2**64 - 1), frags=fragments)
        def batch(seed: int, frags: Fragments) -> None:
            reqs = expand(seed, frags)
            upstream_faults(seed, frags, fake)

            async def run_all() -> None:
                await asyncio.gather(
                    *(drive(apps[r.target], r, tally, static_secrets) for r in reqs)
                )

            runner.run(run_all())

        try:
            batch()
        finally:
            runner.run(endpoint.aclose())
            runner.run(endpoint.config.http_client.aclose())  # type: ignore[union-attr]
    seconds = time.perf_counter() - started
    # Nothing the route logged was an unexpected exception, and no secret reached a log line.
    failures = [r for r in logs.records if r.name.startswith("orga_asgi") and r.levelno >= 40]
    assert not failures, [r.getMessage() for r in failures[:5]]
    secrets = fake.issued_secrets() | {FAKE_API_KEY, VALID_TOKEN}
    split = re.compile(r"[^A-Za-z0-9._~+/=-]+")
    leaked = set(split.split(logs.text())) & secrets
    assert not leaked, f"{len(leaked)} secret(s) in the logs"
    exposed = b"\n".join(tally.exposed).decode("latin-1")
    leaked = set(split.split(exposed)) & secrets
    assert not leaked, f"{len(leaked)} secret(s) in error bodies or response headers"
    print(
        f"\nfuzz: {tally.requests} requests in {seconds:.1f}s "
        f"({tally.requests / seconds:.0f}/s); statuses {dict(sorted(tally.statuses.items()))}; "
        f"codes {dict(tally.codes.most_common())}"
    )
    return tally


def test_hostile_requests(logs: LogCapture) -> None:
    tally = run_fuzz(DEFAULT_EXAMPLES, logs)
    assert tally.requests >= 10_000
    # The generator reaches every stage, not just the cheap refusals.
    for status in (200, 401, 403, 405, 413):
        assert tally.statuses[status] > 0, tally.statuses


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_hostile_requests_soak(logs: LogCapture) -> None:
    tally = run_fuzz(SLOW_EXAMPLES, logs)
    assert tally.requests >= 100_000


@pytest.mark.servers
def test_no_log_line_can_be_forged_through_the_path(logs: LogCapture) -> None:
    """Served some other way than behind OrgaMiddleware's exact path (as the whole app of a
    sidecar, or in a Mount, whose path pattern still lets CR through), any path reaches the
    endpoint, and uvicorn percent-decodes it, CR/LF included. No log line of the package may
    contain one, or a caller writes lines of their choosing into the logs."""
    import httpx

    from tests._support import uvicorn_server

    endpoint = OrgaClientSecrets(
        authorize=any_of(bearer(verify)), api_key=FAKE_API_KEY, base_url=FAKE_BASE_URL
    )
    forged = "/%0D%0ACRITICAL%20orga_asgi.audit%20forged%20line%20" + "A" * 3000
    with uvicorn_server(endpoint) as base, httpx.Client(base_url=base, timeout=10) as client:
        response = client.get(forged)
    assert response.status_code == 403  # https_required: plain HTTP from loopback
    lines = [r.getMessage() for r in logs.records if r.name.startswith("orga_asgi")]
    assert lines, "the audit line should have been written"
    for line in lines:
        assert "\r" not in line and "\n" not in line, line[:200]
        assert len(line) < 1024, f"a caller-sized log line ({len(line)} chars)"
