"""Properties of the upstream side over generated bodies: whatever a 2xx carries, the exchange
returns valid ClientSecrets or raises UpstreamInvalidResponse, nothing else; whatever the
encoding, the body reader returns the exact bytes or refuses within the cap.

Generated: arbitrary JSON trees, the contract's fields with values of every type, huge
numbers, NaN, deep nesting, duplicate keys, raw bytes, ICE entries with odd urls and
credentials. ``nox -s soak`` runs the ``slow`` twins with many more examples.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import re
import zlib
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import event
from hypothesis import strategies as st

from orga_asgi import Secret, UpstreamInvalidResponse
from orga_asgi._upstream import ClientSecrets, Exchange, HttpxTransport
from orga_asgi._upstream.base import BodyTooLarge, UndecodableBody
from orga_asgi._upstream.decoding import BodyReader
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from tests._properties import twins as property_twins

QUICK = 150
twins = functools.partial(property_twins, quick=QUICK)
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
SCHEMES = ("stun", "stuns", "turn", "turns")


# ---------------------------------------------------------------------------- generation

ODD_TEXT = st.sampled_from(["", " ", "\ud800", "\x00", "a\r\nb", "\u00e9", "=", "a" * 9000])
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**14, max_value=10**40),
    st.floats(),  # NaN and infinities too: json.dumps writes them as literals
    st.text(max_size=20),
    ODD_TEXT,
)
tree = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
token = st.one_of(
    st.just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
    st.from_regex(r"[A-Za-z0-9._~+/-]{1,40}={0,2}", fullmatch=True),
    st.text(max_size=30),
    ODD_TEXT,
    tree,
)
ttl = st.one_of(
    st.sampled_from([0, 1, 120, 86400, 86401, -1, 10**15, 120.0, True, "120", None]),
    st.integers(min_value=-(10**6), max_value=10**6),
    tree,
)
extras = st.dictionaries(st.text(max_size=8), tree, max_size=3)
mint_object = st.builds(
    lambda fields, more: {**more, **fields},
    st.fixed_dictionaries(
        {}, optional={"ephemeralToken": token, "ephemeral_token": token, "ttl": ttl}
    ),
    extras,
)
url = st.one_of(
    st.builds(
        lambda scheme, rest: f"{scheme}:{rest}",
        st.sampled_from([*SCHEMES, "STUN", "Turns", "javascript", "https", "data", ""]),
        st.text(max_size=20),
    ),
    st.sampled_from(["stun:stun.example:3478", "turn:t.example?transport=tcp", "stun:", ":x"]),
    ODD_TEXT,
    tree,
)
credential = st.one_of(st.text(max_size=12), ODD_TEXT, tree)
good_url = st.builds(
    lambda scheme, host: f"{scheme}:{host}",
    st.sampled_from([*SCHEMES, "STUN", "Turns"]),
    st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{1,5})?(\?transport=(udp|tcp))?", fullmatch=True),
)
printable = st.text(st.characters(codec="ascii", min_codepoint=32), max_size=12)
good_server = st.fixed_dictionaries(
    {"urls": st.one_of(good_url, st.lists(good_url, min_size=1, max_size=3))},
    optional={"username": printable, "credential": printable},
)
server = st.one_of(
    good_server,
    st.fixed_dictionaries(
        {},
        optional={
            "urls": st.one_of(url, st.lists(url, max_size=4)),
            "username": credential,
            "credential": credential,
            "credentialType": tree,
        },
    ),
    tree,
)
ice_object = st.builds(
    lambda servers, more: {**more, "iceServers": servers},
    st.one_of(st.lists(server, max_size=5), tree),
    extras,
)


def dumped(objects: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only).encode(
            "utf-8", "surrogatepass"
        ),
        objects,
        st.booleans(),
    )


def deep(prefix: bytes) -> st.SearchStrategy[bytes]:
    return st.integers(min_value=1, max_value=60_000).map(
        lambda n: prefix + b"[" * n + b"]" * n + b"}"
    )


DUPLICATES = st.sampled_from(
    [
        b'{"ephemeralToken":"a.b.c","ephemeralToken":"x.y.z"}',
        b'{"iceServers":[],"iceServers":[{"urls":"stun:a"}]}',
        b'{"iceServers":[{"urls":"stun:a","urls":"javascript:x"}]}',
    ]
)
mint_bodies = st.one_of(
    dumped(mint_object),
    dumped(tree),
    st.binary(max_size=100),
    deep(b'{"ephemeralToken":"a.b.c","x":'),
    DUPLICATES,
)
ice_bodies = st.one_of(
    dumped(ice_object), dumped(tree), st.binary(max_size=100), deep(b'{"iceServers":'), DUPLICATES
)

# ---------------------------------------------------------------------------- the property


def issue_with(route: str, body: bytes) -> ClientSecrets | UpstreamInvalidResponse:
    """Run one exchange against a FakeOrga whose ``route`` answers 200 with ``body``."""

    async def main() -> ClientSecrets | UpstreamInvalidResponse:
        fake = FakeOrga()
        fake.fail(route, body=body)  # type: ignore[arg-type]
        if route == "client-secrets":  # any token gets ICE servers: the mint body decides
            fake.fail("ice-config", body=b'{"iceServers":[{"urls":"stun:s.example"}]}')
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake))
        exchange = Exchange(
            transport=HttpxTransport(client, timeout=5.0),
            base_url=FAKE_BASE_URL,
            timeout=5.0,
            deadline=10.0,
            retries=0,
        )
        try:
            return await exchange.issue(Secret(FAKE_API_KEY))
        except UpstreamInvalidResponse as exc:
            return exc
        finally:
            await client.aclose()

    return anyio.run(main)


def assert_valid(secrets: ClientSecrets) -> None:
    """What a browser may be handed: the contract, and nothing a JSON encoder refuses."""
    assert isinstance(secrets.ephemeral_token, str)
    assert len(secrets.ephemeral_token) <= 8192
    assert B64TOKEN.fullmatch(secrets.ephemeral_token)
    assert secrets.ttl is None or (type(secrets.ttl) is int and 1 <= secrets.ttl <= 86400)
    assert isinstance(secrets.ice_servers, list) and len(secrets.ice_servers) <= 32
    for entry in secrets.ice_servers:
        assert set(entry) <= {"urls", "username", "credential"}
        urls = entry["urls"]
        listed = [urls] if isinstance(urls, str) else urls
        assert isinstance(listed, list) and 1 <= len(listed) <= 32
        for one in listed:
            assert isinstance(one, str) and one.isascii() and one.isprintable()
            assert one.partition(":")[0] in SCHEMES and one.partition(":")[2]
        if any(one.startswith("turn") for one in listed):
            assert "username" in entry and "credential" in entry
        for key in ("username", "credential"):
            assert key not in entry or (isinstance(entry[key], str) and entry[key].isprintable())
    # orjson and msgspec (the Litestar adapter) refuse lone surrogates: strict UTF-8 must do.
    json.dumps(secrets.to_dict(), ensure_ascii=False).encode("utf-8")


def _mint_body_property(body: bytes) -> None:
    result = issue_with("client-secrets", body)
    event(type(result).__name__)  # --hypothesis-show-statistics: how many got through
    if isinstance(result, ClientSecrets):
        assert_valid(result)


def _ice_body_property(body: bytes) -> None:
    result = issue_with("ice-config", body)
    event(type(result).__name__)  # --hypothesis-show-statistics: how many got through
    if isinstance(result, ClientSecrets):
        assert_valid(result)


test_every_mint_body_is_valid_or_invalid_response, test_every_mint_body_soak = twins(
    _mint_body_property, mint_bodies
)
test_every_ice_body_is_valid_or_invalid_response, test_every_ice_body_soak = twins(
    _ice_body_property, ice_bodies
)


def test_the_generators_reach_success() -> None:
    """The property is not vacuous: well-formed generated bodies do produce secrets."""
    body = json.dumps(
        {"iceServers": [{"urls": ["TURN:t.example"], "username": "u", "credential": "c"}]}
    )
    result = issue_with("ice-config", body.encode())
    assert isinstance(result, ClientSecrets)
    assert result.ice_servers == [{"urls": ["turn:t.example"], "username": "u", "credential": "c"}]
    assert isinstance(
        issue_with("client-secrets", b'{"ephemeral_token":"a.b","ttl":5}'), ClientSecrets
    )


# ---------------------------------------------------------------------------- the body reader

LIMIT = 4096
ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda b: b,
    "identity": lambda b: b,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate, gzip": lambda b: gzip.compress(zlib.compress(b)),
}


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _read(coding: str, chunks: list[bytes]) -> bytes:
    reader = BodyReader(coding, LIMIT)
    for chunk in chunks:
        reader.feed(chunk)
    return reader.finish()


def _roundtrip_property(body: bytes, coding: str, cuts: list[int]) -> None:
    encoded = ENCODINGS[coding](body)
    try:
        decoded = _read(coding, _split(encoded, cuts))
    except BodyTooLarge:
        assert len(body) > LIMIT or len(encoded) > LIMIT
        return
    assert decoded == body


def _garbage_property(data: bytes, coding: str, cuts: list[int]) -> None:
    try:
        decoded = _read(coding, _split(data, cuts))
    except (BodyTooLarge, UndecodableBody):
        return
    assert len(decoded) <= LIMIT


bodies = st.one_of(st.binary(max_size=6000), st.integers(0, 50_000).map(lambda n: b"\0" * n))
codings = st.sampled_from(list(ENCODINGS))
cuts = st.lists(st.integers(min_value=0), max_size=6)
test_a_body_decodes_exactly_or_is_too_large, test_body_roundtrip_soak = twins(
    _roundtrip_property, bodies, codings, cuts
)
test_garbage_never_raises_anything_else, test_garbage_soak = twins(
    _garbage_property,
    st.binary(max_size=3000),
    st.sampled_from(["gzip", "deflate", "deflate, gzip"]),
    cuts,
)


def test_thousands_of_empty_gzip_members_are_refused() -> None:
    # 20 bytes each: 12,000 of them fit the 256 KiB cap and would each cost a zlib stream.
    reader = BodyReader("gzip")
    with pytest.raises(UndecodableBody):
        reader.feed(gzip.compress(b"") * 12_000)
    assert _read("gzip", [gzip.compress(b"a") * 32]) == b"a" * 32


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_bytes_after_the_end_of_the_stream_are_refused(coding: str) -> None:
    with pytest.raises(UndecodableBody):
        _read(coding, [ENCODINGS[coding](b"{}") + b"<html>"])
