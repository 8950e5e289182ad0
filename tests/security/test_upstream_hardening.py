"""The upstream side under attack: compressed and bombed bodies, hostile 2xx JSON, ICE urls.

Regressions for defects 7, 8, 9 and 16 of the hardening issue, and for what the adversarial
pass found after them. Encodings go through real sockets: FakeOrga behind uvicorn on
loopback, its replies compressed by a small ASGI wrapper, reached by both transports (the
default aiohttp one, and httpx when the user supplies a client). Body shapes go through the
in-process FakeOrga: parsing does not depend on the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from orga_asgi import OrgaClientSecrets, OrgaError, UpstreamInvalidResponse, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import caller, make_endpoint, uvicorn_server

pytestmark = pytest.mark.anyio

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
MINT = b'{"ephemeralToken":"' + TOKEN.encode() + b'","ttl":120}'
MINT_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (len(MINT), MINT)
)
TRANSPORTS = ["aiohttp", "httpx"]
Headers = list[tuple[bytes, bytes]]


def _raw_deflate(body: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(body) + packer.flush()


# case -> (Content-Encoding sent, how the body is encoded)
CODINGS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", gzip.compress),
    "x-gzip": ("x-gzip", gzip.compress),
    "gzip-mixed-case": ("GZip", gzip.compress),
    "deflate": ("deflate", zlib.compress),  # RFC 9110: zlib-wrapped
    "raw-deflate": ("deflate", _raw_deflate),  # as some servers send it
    "gzip-identity": ("gzip, identity", gzip.compress),
    "deflate-then-gzip": ("deflate, gzip", lambda body: gzip.compress(zlib.compress(body))),
    # Two gzip members back to back: RFC 1952 allows it (gzip -c a b > ab makes one).
    "gzip-two-members": ("gzip", lambda body: gzip.compress(body[:7]) + gzip.compress(body[7:])),
}


class Upstream:
    """FakeOrga, its replies optionally encoded; or a scripted raw reply per route."""

    def __init__(self) -> None:
        self.fake = FakeOrga()
        self.coding: str | None = None  # a CODINGS case applied to FakeOrga's replies
        self.accept_encoding: list[bytes] = []
        self.scripted: dict[str, tuple[int, Headers, bytes]] = {}

    def reset(self) -> None:
        self.fake.reset()
        self.coding = None
        self.accept_encoding.clear()
        self.scripted.clear()

    def script(self, route: str, body: bytes, headers: Headers, status: int = 200) -> None:
        self.scripted[f"/v1/realtime/{route}"] = (status, headers, body)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.fake(scope, receive, send)
            return
        self.accept_encoding += [v for k, v in scope["headers"] if k == b"accept-encoding"]
        scripted = self.scripted.get(scope["path"])
        if scripted is not None:
            while (await receive()).get("more_body"):
                pass
            status, headers, body = scripted
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if self.coding is None:
            await self.fake(scope, receive, send)
            return
        messages: list[dict[str, Any]] = []

        async def capture(message: dict[str, Any]) -> None:
            messages.append(message)

        await self.fake(scope, receive, capture)
        start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
        header, encode = CODINGS[self.coding]
        encoded = encode(body)
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        headers += [
            (b"content-encoding", header.encode()),
            (b"content-length", str(len(encoded)).encode()),
        ]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": encoded})


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Upstream, str]]:
    upstream = Upstream()
    with uvicorn_server(upstream) as base_url:
        yield upstream, base_url


@pytest.fixture
def upstream(served: tuple[Upstream, str]) -> Iterator[tuple[Upstream, str]]:
    served[0].reset()
    yield served
    served[0].reset()


@contextlib.asynccontextmanager
async def endpoint_on(base_url: str, transport: str) -> AsyncIterator[OrgaClientSecrets]:
    """An endpoint calling ``base_url`` with the default aiohttp transport, or with an
    httpx client the user supplied."""
    client = httpx.AsyncClient() if transport == "httpx" else None
    endpoint = OrgaClientSecrets(
        authorize=allow_anonymous, api_key=FAKE_API_KEY, base_url=base_url, http_client=client
    )
    try:
        yield endpoint
    finally:
        await endpoint.aclose()
        if client is not None:
            await client.aclose()


async def mint(endpoint: OrgaClientSecrets) -> httpx.Response:
    async with caller(endpoint) as client:
        return await client.get("/")


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["requestId"] == response.headers["x-request-id"]


# --------------------------------------------------------------------- defect 7: encodings


@pytest.mark.servers
@pytest.mark.parametrize("coding", list(CODINGS))
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_compressing_upstream_still_mints(
    upstream: tuple[Upstream, str], transport: str, coding: str
) -> None:
    fake, base_url = upstream
    fake.coding = coding
    async with endpoint_on(base_url, transport) as endpoint:
        response = await mint(endpoint)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ephemeralToken"] in fake.fake.issued_secrets()
    assert body["iceServers"][1]["credential"] in fake.fake.issued_secrets()
    # Only codings both transports decode under the cap are asked for (never br or zstd,
    # which the client libraries would add when their optional packages are installed).
    assert len(fake.accept_encoding) == 2
    for value in fake.accept_encoding:
        assert {c.strip() for c in value.split(b",")} <= {b"gzip", b"deflate"}


@pytest.mark.servers
@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip, gzip", "x-unknown"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_encoding_we_cannot_read_is_an_invalid_response(
    upstream: tuple[Upstream, str], transport: str, coding: str
) -> None:
    fake, base_url = upstream
    # The body does not matter: nothing is decoded in an unknown coding. (No brotli or zstd
    # encoder is installed to make a real one; aiohttp without them fails the same way.)
    fake.script(
        "client-secrets",
        gzip.compress(MINT),
        [(b"content-type", b"application/json"), (b"content-encoding", coding.encode())],
    )
    async with endpoint_on(base_url, transport) as endpoint:
        response = await mint(endpoint)
    assert_error(response, 502, "upstream_invalid_response")


# ------------------------------------------------------------- defect 8: decompression bomb

BOMB_SIZE = 64 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def bomb() -> bytes:
    """Valid JSON, a mint reply, padded with 64 MiB of whitespace: ~64 KiB gzipped."""
    return gzip.compress(MINT + b" " * BOMB_SIZE, compresslevel=6)


@pytest.mark.servers
@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_gzip_bomb_is_refused_within_the_cap(
    upstream: tuple[Upstream, str], transport: str, with_length: bool
) -> None:
    fake, base_url = upstream
    body = bomb()
    assert len(body) < 256 * 1024  # small on the wire: only the decoded size is too large
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    if with_length:
        headers.append((b"content-length", str(len(body)).encode()))
    async with endpoint_on(base_url, transport) as endpoint:
        assert (await mint(endpoint)).status_code == 200  # pools and sessions exist now
        fake.script("client-secrets", body, headers)
        tracemalloc.start()
        try:
            response = await mint(endpoint)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert_error(response, 502, "upstream_invalid_response")
    # The cap is 256 KiB decoded; inflating the bomb would take 64 MiB at least.
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while reading the body"


@pytest.mark.servers
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_bomb_on_an_error_status_keeps_the_status(
    upstream: tuple[Upstream, str], transport: str
) -> None:
    fake, base_url = upstream
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    fake.script("client-secrets", bomb(), headers, status=500)
    async with endpoint_on(base_url, transport) as endpoint:
        response = await mint(endpoint)
    # An error body is never read for its content: the status decides, not the body.
    assert_error(response, 502, "upstream_unavailable")


# ------------------------------------------------------------- bodies that end early


class RawServer:
    """A TCP server answering every request with ``reply`` (bytes, verbatim), then closing;
    ``heads`` keeps each request's head."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.heads: list[bytes] = []
        self.base_url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(self.reply)
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def raw_server(reply: bytes) -> AsyncIterator[RawServer]:
    raw = RawServer(reply)
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    raw.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield raw
    finally:
        server.close()
        await server.wait_closed()


SHORT_BODIES = {
    "short-content-length": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 500\r\n\r\n" + MINT,
    "cut-chunk": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n200\r\n" + MINT,
}


@pytest.mark.servers
@pytest.mark.parametrize("shape", list(SHORT_BODIES))
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_body_cut_short_on_the_wire_is_unavailable(transport: str, shape: str) -> None:
    async with (
        raw_server(SHORT_BODIES[shape]) as raw,
        endpoint_on(raw.base_url, transport) as endpoint,
    ):
        response = await mint(endpoint)
    assert_error(response, 502, "upstream_unavailable")


@pytest.mark.servers
@pytest.mark.parametrize(
    "reply", [b"HTTP/1.1 2000 OK\r\n\r\n", b"SSH-2.0-OpenSSH_9.2\r\n\r\n"], ids=["status", "ssh"]
)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_reply_that_is_not_http_is_unavailable(transport: str, reply: bytes) -> None:
    async with raw_server(reply) as raw, endpoint_on(raw.base_url, transport) as endpoint:
        response = await mint(endpoint)
    assert_error(response, 502, "upstream_unavailable")


@pytest.mark.servers
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_redirect_is_never_followed(transport: str) -> None:
    # The key goes to base_url and nowhere else: not even a same-host, other-port "upstream".
    async with raw_server(MINT_REPLY) as elsewhere:
        moved = (
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: "
            + elsewhere.base_url.encode()
            + b"/v1/realtime/client-secrets\r\nContent-Length: 0\r\n\r\n"
        )
        async with raw_server(moved) as raw, endpoint_on(raw.base_url, transport) as endpoint:
            response = await mint(endpoint)
    assert_error(response, 502, "upstream_unavailable")
    assert len(raw.heads) == 1
    assert elsewhere.heads == []


@pytest.mark.servers
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_two_content_encoding_lines_are_two_codings(
    upstream: tuple[Upstream, str], transport: str
) -> None:
    fake, base_url = upstream
    json_type = (b"content-type", b"application/json")
    twice = [json_type, (b"content-encoding", b"gzip"), (b"content-encoding", b"gzip")]
    fake.script("client-secrets", gzip.compress(gzip.compress(MINT)), twice)
    fake.script("ice-config", b'{"iceServers":[{"urls":"stun:s.example"}]}', [json_type])
    async with endpoint_on(base_url, transport) as endpoint:
        response = await mint(endpoint)
    assert response.status_code == 200, response.text
    assert response.json()["ephemeralToken"] == TOKEN


@pytest.mark.servers
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_truncated_gzip_stream_is_an_invalid_response(
    upstream: tuple[Upstream, str], transport: str
) -> None:
    fake, base_url = upstream
    # Complete on the wire (Content-Length matches), but the gzip stream itself is cut.
    body = gzip.compress(MINT + b" " * 4000)[:-12]
    fake.script(
        "client-secrets",
        body,
        [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")],
    )
    async with endpoint_on(base_url, transport) as endpoint:
        response = await mint(endpoint)
    assert_error(response, 502, "upstream_invalid_response")


# ------------------------------------------------- defect 9: every 2xx body is a 502, not a 500


@pytest.fixture
def fake() -> FakeOrga:
    return FakeOrga()


DEEP = 40_000  # nesting levels: far past the recursion limit, within the 256 KiB cap
HOSTILE_MINTS = {
    "ttl-overflows-timedelta": b'{"ephemeralToken":"a.b.c","ttl":1000000000000000}',
    "ttl-over-a-day": b'{"ephemeralToken":"a.b.c","ttl":86401}',
    "ttl-zero": b'{"ephemeralToken":"a.b.c","ttl":0}',
    "ttl-negative": b'{"ephemeralToken":"a.b.c","ttl":-5}',
    "ttl-true": b'{"ephemeralToken":"a.b.c","ttl":true}',
    "ttl-float": b'{"ephemeralToken":"a.b.c","ttl":120.0}',
    "ttl-5000-digits": b'{"ephemeralToken":"a.b.c","ttl":' + b"9" * 5000 + b"}",
    "deep-array": b'{"ephemeralToken":"a.b.c","x":' + b"[" * DEEP + b"]" * DEEP + b"}",
    "deep-object": b'{"ephemeralToken":"a.b.c","x":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
}
HOSTILE_ICE = {
    "deep-array": b'{"iceServers":' + b"[" * DEEP + b"]" * DEEP + b"}",
    "deep-in-server": b'{"iceServers":[{"urls":"stun:a","x":' + b"[" * DEEP + b"]" * DEEP + b"}]}",
}


def answer_ice(fake: FakeOrga) -> None:
    """Queue a valid ice-config answer, whatever token comes: a mint body under test then
    decides the outcome alone (FakeOrga would refuse a token it did not mint)."""
    fake.fail("ice-config", body=b'{"iceServers":[{"urls":"stun:stun.example:3478"}]}')


@pytest.mark.parametrize("body", list(HOSTILE_MINTS.values()), ids=list(HOSTILE_MINTS))
async def test_a_hostile_mint_body_is_a_502(fake: FakeOrga, body: bytes) -> None:
    fake.fail("client-secrets", body=body)
    answer_ice(fake)
    response = await mint(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


@pytest.mark.parametrize("body", list(HOSTILE_ICE.values()), ids=list(HOSTILE_ICE))
async def test_a_hostile_ice_body_is_a_502(fake: FakeOrga, body: bytes) -> None:
    fake.fail("ice-config", body=body)
    response = await mint(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


@pytest.mark.parametrize("ttl", [10**15, 86401])
async def test_a_ttl_out_of_range_from_a_working_upstream_is_a_502(
    fake: FakeOrga, ttl: int
) -> None:
    fake.ttl = ttl  # the token it mints is real: ice-config answers for it
    response = await mint(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


@pytest.mark.parametrize("ttl", [1, 86400])
async def test_ttl_bounds_are_inclusive(fake: FakeOrga, ttl: int) -> None:
    fake.ttl = ttl
    response = await mint(make_endpoint(fake))
    assert response.status_code == 200
    assert response.json()["ttl"] == ttl


@pytest.mark.parametrize(
    ("route", "body"),
    [("client-secrets", b) for b in HOSTILE_MINTS.values()]
    + [("ice-config", b) for b in HOSTILE_ICE.values()],
    ids=[f"mint-{k}" for k in HOSTILE_MINTS] + [f"ice-{k}" for k in HOSTILE_ICE],
)
async def test_issue_raises_only_orga_errors(fake: FakeOrga, route: str, body: bytes) -> None:
    fake.fail(route, body=body)  # type: ignore[arg-type]
    if route == "client-secrets":
        answer_ice(fake)
    endpoint = make_endpoint(fake)
    with pytest.raises(OrgaError) as raised:
        await endpoint.issue()
    assert isinstance(raised.value, UpstreamInvalidResponse)


# ------------------------------------------------------------ defect 16: ICE urls and shape


def ice(*servers: object) -> bytes:
    return json.dumps({"iceServers": list(servers)}).encode()


CREDS = {"username": "u", "credential": "c"}
BAD_ICE = {
    "javascript-url": ice({"urls": "javascript:alert(1)"}),
    "https-url": ice({"urls": ["stun:ok.example:3478", "https://evil.example/"]}),
    "data-url": ice({"urls": "data:text/html,x", **CREDS}),
    "no-scheme": ice({"urls": "stun.example.com:3478"}),
    "empty-after-scheme": ice({"urls": "stun:"}),
    "space-in-url": ice({"urls": "stun:a b"}),
    "newline-in-url": ice({"urls": "turn:a\r\nx", **CREDS}),
    "non-ascii-url": ice({"urls": "stun:\u00e9xample.com"}),
    "urls-empty-list": ice({"urls": []}),
    "urls-number": ice({"urls": 3}),
    "urls-missing": ice({"username": "u"}),
    "turn-without-credential": ice({"urls": "turn:t.example:3478", "username": "u"}),
    "turns-without-username": ice({"urls": ["turns:t.example:5349"], "credential": "c"}),
    "username-null": ice({"urls": "stun:a", "username": None}),
    "credential-object": ice({"urls": "turn:a", "username": "u", "credential": {"x": 1}}),
    "lone-surrogate": ice({"urls": "turn:a", "username": "\ud800", "credential": "c"}),
    "control-char": ice({"urls": "turn:a", "username": "u\x00", "credential": "c"}),
    "huge-username": ice({"urls": "turn:a", "username": "u" * 100_000, "credential": "c"}),
    "too-many-servers": ice(*[{"urls": f"stun:s{i}.example"} for i in range(33)]),
    "too-many-urls": ice({"urls": [f"stun:s{i}.example" for i in range(33)]}),
    "server-not-object": ice("stun:a"),
}


@pytest.mark.parametrize("body", list(BAD_ICE.values()), ids=list(BAD_ICE))
async def test_an_ice_config_a_browser_must_not_get_is_a_502(fake: FakeOrga, body: bytes) -> None:
    fake.fail("ice-config", body=body)
    response = await mint(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


async def test_ice_schemes_are_case_insensitive_and_normalised(fake: FakeOrga) -> None:
    fake.fail(
        "ice-config",
        body=ice(
            {"urls": "STUN:stun.example:3478"},
            {"urls": ["TURNS:t.example:5349?transport=tcp", "Turn:t.example"], **CREDS},
            {"urls": "stuns:s.example", "username": ""},
        ),
    )
    response = await mint(make_endpoint(fake))
    assert response.status_code == 200, response.text
    assert response.json()["iceServers"] == [
        {"urls": "stun:stun.example:3478"},
        {"urls": ["turns:t.example:5349?transport=tcp", "turn:t.example"], **CREDS},
        {"urls": "stuns:s.example", "username": ""},
    ]


# ------------------------------------------------------------- found by the adversarial pass

ODD_MINTS = {
    # Two parsers (a WAF's, ours) may each pick a different one of a repeated key.
    "duplicate-key": b'{"ephemeralToken":"a.b.c","ephemeralToken":"evil"}',
    "two-different-tokens": b'{"ephemeralToken":"a.b.c","ephemeral_token":"x.y.z"}',
    "nan-literal": b'{"ephemeralToken":"a.b.c","extra":NaN}',
    "infinity-literal": b'{"ephemeralToken":"a.b.c","extra":-Infinity}',
    "utf16-body": '{"ephemeralToken":"a.b.c"}'.encode("utf-16"),
    "invalid-utf8": b'{"ephemeralToken":"a.b.c","x":"\xed\xa0\x80"}',
    "token-with-space": b'{"ephemeralToken":"a.b c"}',
    "token-with-quote": b'{"ephemeralToken":"a\\"b"}',
    "token-non-ascii": b'{"ephemeralToken":"a.b.\\u00e9"}',
    "token-huge": b'{"ephemeralToken":"' + b"a" * 200_000 + b'"}',
}


@pytest.mark.parametrize("body", list(ODD_MINTS.values()), ids=list(ODD_MINTS))
async def test_a_mint_body_that_is_not_strictly_the_contract_is_a_502(
    fake: FakeOrga, body: bytes
) -> None:
    fake.fail("client-secrets", body=body)
    answer_ice(fake)
    response = await mint(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


async def test_both_token_fields_with_the_same_token_are_fine(fake: FakeOrga) -> None:
    fake.token_field = "both"
    response = await mint(make_endpoint(fake))
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", ["text/html", "text/plain; charset=utf-8", "image/png"])
async def test_a_2xx_declared_as_something_else_is_a_502(fake: FakeOrga, content_type: str) -> None:
    # A captive portal, a CDN's page, a base_url pointing at a website: JSON-looking or not,
    # it is not the contract's answer.
    fake.fail("client-secrets", body=MINT, headers={"content-type": content_type})
    answer_ice(fake)
    response = await mint(make_endpoint(fake))
    assert_error(response, 502, "upstream_invalid_response")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"]
)
async def test_json_media_types_are_accepted(fake: FakeOrga, content_type: str) -> None:
    fake.fail("ice-config", body=ice({"urls": "stun:a"}), headers={"content-type": content_type})
    response = await mint(make_endpoint(fake))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("value", "expected"), [("9" * 5000, "3600"), ("0", "1"), ("Mon, 99 Foo 9999 99:99 GMT", None)]
)
async def test_a_hostile_retry_after_is_clamped_or_dropped(
    fake: FakeOrga, value: str, expected: str | None
) -> None:
    fake.fail("client-secrets", status=429, headers={"Retry-After": value})
    response = await mint(make_endpoint(fake))
    assert_error(response, 503, "upstream_rate_limited")
    assert response.headers.get("retry-after") == expected
