"""Properties of the proxy parser and the origin policy, over generated hop lists and headers.

The proxy chain is built the way real proxies build it: a client (anyone), then proxies
that are all trusted, each appending the address it saw; whatever the client wrote itself
comes first. Whatever that prefix holds, the resolved client is the real one, never a hop
the client wrote; garbage never raises. The origin policy never lets a foreign origin in
and never answers credentialed CORS with ``*``. ``nox -s soak`` runs the ``slow`` twins.
"""

from __future__ import annotations

import functools
import ipaddress

from hypothesis import strategies as st

from orga_asgi._errors import CrossOriginForbidden
from orga_asgi._origin import OriginPolicy
from orga_asgi._proxy import ProxyResolver, is_loopback_host
from tests._properties import twins as property_twins

TRUSTED_NETS = ("10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1")
RESOLVER = ProxyResolver(list(TRUSTED_NETS))
_NETS = [ipaddress.ip_network(n) for n in TRUSTED_NETS]

QUICK = 100
twins = functools.partial(property_twins, quick=QUICK)
HEADER_NAMES = (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-real-ip", b"host")


def canon(text: str) -> str:
    """The text form the resolver reports: IPv4-mapped IPv6 as IPv4."""
    address = ipaddress.ip_address(text)
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def is_trusted(text: str) -> bool:
    address = ipaddress.ip_address(canon(text))
    return any(address in net for net in _NETS)


# --------------------------------------------------------------------------- addresses

trusted_v4 = st.integers(0, 2**24 - 1).map(lambda i: str(ipaddress.IPv4Address((10 << 24) + i)))
trusted_v6 = st.integers(0, 2**80 - 1).map(
    lambda i: str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("2001:db8:ffff::")) + i))
)
trusted_ip = st.one_of(trusted_v4, trusted_v6, st.just("192.0.2.1"))
any_ip = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), trusted_ip)
untrusted_ip = any_ip.filter(lambda ip: not is_trusted(ip))


@st.composite
def xff_node(draw: st.DrawFn, ip: str) -> str:
    """``ip`` as a proxy may write it in X-Forwarded-For: bare, with a port, bracketed."""
    port = draw(st.integers(1, 65535))
    v6 = ":" in ip
    forms = [ip, f"[{ip}]:{port}", f"[{ip}]"] if v6 else [ip, f"{ip}:{port}"]
    if not v6:
        forms.append(f"::ffff:{ip}")
    space = draw(st.sampled_from(["", " ", "  "]))
    return space + draw(st.sampled_from(forms))


@st.composite
def forwarded_element(draw: st.DrawFn, ip: str, proto: str | None) -> str:
    """One RFC 7239 element for ``ip``, quoted as the RFC wants (IPv6 and ports quoted)."""
    port = draw(st.one_of(st.none(), st.integers(1, 65535)))
    node = f"[{ip}]" if ":" in ip else ip
    if port is not None:
        node = f"{node}:{port}"
    quoted = ":" in node or draw(st.booleans())
    pairs = [f'for="{node}"' if quoted else f"for={node}"]
    if proto is not None:
        pairs.append(f"proto={draw(st.sampled_from([proto, proto.upper()]))}")
    if draw(st.booleans()):
        pairs.append("by=_proxy")
    order = draw(st.permutations(pairs))
    return ";".join(order)


garbage_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet='",;= \t\\[]:.%_0123456789abcdefforFORproto', max_size=60),
    st.sampled_from(["unknown", "_hidden", '"', '\\"', "for=", 'for="', ",,,", "[::1]", "::1"]),
)
forged_hop = st.one_of(garbage_text, any_ip, trusted_ip)


# --------------------------------------------------------------------------- proxy: chains


def chain_scope(headers: list[tuple[bytes, bytes]], peer: str, scheme: str = "http") -> dict:
    return {"type": "http", "scheme": scheme, "client": (peer, 4711), "headers": headers}


def xff_chain_resolves_to_the_real_client(data: st.DataObject) -> None:
    forged = data.draw(st.lists(forged_hop, max_size=6))
    client = data.draw(untrusted_ip)
    proxies = data.draw(st.lists(trusted_ip, min_size=1, max_size=4))
    peer = proxies[-1]
    written = [data.draw(xff_node(ip)) for ip in [client, *proxies[:-1]]]
    split_lines = data.draw(st.booleans())
    headers: list[tuple[bytes, bytes]] = []
    if forged:
        headers.append((b"x-forwarded-for", ",".join(forged).encode("utf-8")))
    if split_lines:
        headers.append((b"x-forwarded-for", ",".join(written).encode()))
    elif headers:
        headers[0] = (b"x-forwarded-for", headers[0][1] + b"," + ",".join(written).encode())
    else:
        headers.append((b"x-forwarded-for", ",".join(written).encode()))
    proto = data.draw(st.sampled_from(["http", "https"]))
    headers.append((b"x-forwarded-proto", proto.encode()))
    scheme, found = RESOLVER.resolve(chain_scope(headers, peer))
    assert found == canon(client)
    assert scheme == proto


test_xff_chain, test_xff_chain_soak = twins(xff_chain_resolves_to_the_real_client, st.data())


def forwarded_chain_never_believes_a_forged_hop(data: st.DataObject) -> None:
    forged = data.draw(st.lists(forged_hop, max_size=5))
    client = data.draw(untrusted_ip)
    proxies = data.draw(st.lists(trusted_ip, min_size=1, max_size=4))
    peer = proxies[-1]
    client_proto = data.draw(st.sampled_from(["http", "https"]))
    elements = [data.draw(forwarded_element(client, client_proto))]
    elements += [
        data.draw(forwarded_element(ip, data.draw(st.sampled_from([None, "http", "https"]))))
        for ip in proxies[:-1]
    ]
    real = ", ".join(elements)
    same_line = data.draw(st.booleans())
    headers: list[tuple[bytes, bytes]] = []
    forged_line = ", ".join(f"for={hop}" if data.draw(st.booleans()) else hop for hop in forged)
    if forged and same_line:
        headers.append((b"forwarded", f"{forged_line}, {real}".encode()))
    else:
        if forged:
            headers.append((b"forwarded", forged_line.encode()))
        headers.append((b"forwarded", real.encode()))
    scheme, found = RESOLVER.resolve(chain_scope(headers, peer))
    assert found is not None
    canonical = canon(client)
    honest = {canonical, peer, *(canon(p) for p in proxies)}
    # Never a hop the client wrote; a forged quote on the proxy's line may cost accuracy
    # (the walk stops at a trusted proxy), never trust.
    assert found in honest
    if not same_line or '"' not in forged_line:
        assert found == canonical
        assert scheme == client_proto
    elif found != canonical:
        assert is_trusted(found)
    assert scheme in ("http", "https")


test_forwarded_chain, test_forwarded_chain_soak = twins(
    forwarded_chain_never_believes_a_forged_hop, st.data()
)


def mixed_kinds_never_believe_a_forged_hop(data: st.DataObject) -> None:
    # The proxies speak X-Forwarded-*; the client's own Forwarded is passed through untouched
    # (or the proxies set only X-Forwarded-Proto, as nginx with X-Real-IP does).
    client = data.draw(untrusted_ip)
    proxies = data.draw(st.lists(trusted_ip, min_size=1, max_size=3))
    peer = proxies[-1]
    forged = data.draw(st.lists(any_ip, min_size=1, max_size=3))
    headers = [(b"forwarded", ", ".join(f'for="{ip}";proto=https' for ip in forged).encode())]
    if data.draw(st.booleans()):
        written = ",".join(data.draw(xff_node(ip)) for ip in [client, *proxies[:-1]])
        headers.append((b"x-forwarded-for", written.encode()))
    proto = data.draw(st.sampled_from(["http", "https"]))
    headers.append((b"x-forwarded-proto", proto.encode()))
    data.draw(st.randoms()).shuffle(headers)
    scheme, found = RESOLVER.resolve(chain_scope(headers, peer))
    assert found in {canon(client), peer, *(canon(p) for p in proxies)}
    if proto == "http":
        assert scheme == "http"  # the proxy saw plain HTTP, whatever the client wrote


test_mixed_kinds, test_mixed_kinds_soak = twins(mixed_kinds_never_believe_a_forged_hop, st.data())


def untrusted_peers_change_nothing(peer: str, headers: list[tuple[bytes, bytes]], scheme: str):
    assert RESOLVER.resolve(chain_scope(headers, peer, scheme)) == (scheme, peer)


header_values = st.one_of(
    st.binary(max_size=80),
    garbage_text.map(lambda t: t.encode("utf-8")),
    st.lists(forged_hop, max_size=5).map(lambda hops: ", ".join(hops).encode()),
    st.sampled_from(
        [b"https", b"HTTPS", b"for=1.2.3.4;proto=https", b'for="[::1]:80";proto=https']
    ),
)
raw_headers = st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=6)

test_untrusted_peer, test_untrusted_peer_soak = twins(
    untrusted_peers_change_nothing, untrusted_ip, raw_headers, st.sampled_from(["http", "https"])
)


def garbage_never_raises_and_yields_an_address(
    peer: str, headers: list[tuple[bytes, bytes]], scheme: str
) -> None:
    found_scheme, found = RESOLVER.resolve(chain_scope(headers, peer, scheme))
    assert found_scheme in ("http", "https")
    assert found is not None
    if found != peer:
        # Only an address a trusted hop let through, in its canonical form.
        assert str(ipaddress.ip_address(found)) == found
    if found_scheme == "https" and scheme != "https":
        assert any(b"https" in value.lower() for _, value in headers)
    RESOLVER.is_loopback_request(chain_scope(headers, peer, scheme))


test_garbage, test_garbage_soak = twins(
    garbage_never_raises_and_yields_an_address,
    trusted_ip,
    raw_headers,
    st.sampled_from(["http", "https"]),
)


# --------------------------------------------------------------------------- loopback Host


def _oracle_loopback_host(host: bytes) -> bool:
    try:
        text = host.decode("ascii")
    except UnicodeDecodeError:
        return False
    if text.startswith("["):
        inner, sep, port = text[1:].partition("]")
        if not sep or not all(c in "0123456789abcdefABCDEF:" for c in inner) or not inner:
            return False
        try:
            ok = ipaddress.IPv6Address(inner) == ipaddress.IPv6Address("::1")
        except ValueError:
            return False
    else:
        name, colon, digits = text.partition(":")
        port = colon + digits
        if name.lower() in ("localhost", "localhost."):
            ok = True
        else:
            parts = name.split(".")
            ok = (
                len(parts) == 4
                and parts[0] == "127"
                and all(
                    p.isdigit() and p.isascii() and str(int(p)) == p and int(p) < 256 for p in parts
                )
            )
    if not port:
        return ok
    digits = port[1:]
    return (
        ok and port[0] == ":" and digits.isascii() and digits.isdigit()
        and 0 < len(digits) <= 5 and 0 < int(digits) < 65536
    )  # fmt: skip


host_bytes = st.one_of(
    st.binary(max_size=30),
    st.builds(
        lambda name, port: name + port,
        st.sampled_from(
            [
                b"localhost",
                b"LOCALHOST",
                b"localhost.",
                b"127.0.0.1",
                b"127.9.8.7",
                b"[::1]",
                b"[0::1]",
                b"evil.example",
                b"[::2]",
                b"127.1",
                b"127.0.0.01",
                b"::1",
                b"[::1",
                b"localhost..",
                b"x.localhost",
                b"0.0.0.0",
                b"[::ffff:127.0.0.1]",
            ]
        ),
        st.one_of(
            st.just(b""),
            st.integers(-1, 70000).map(lambda p: b":%d" % p),
            st.binary(max_size=4).map(lambda b: b":" + b),
        ),
    ),
    st.text(alphabet="lochst.127[]:0189", max_size=20).map(str.encode),
)


def loopback_host_matches_the_grammar(host: bytes) -> None:
    assert is_loopback_host(host) is _oracle_loopback_host(host)


test_loopback_host, test_loopback_host_soak = twins(loopback_host_matches_the_grammar, host_bytes)


# --------------------------------------------------------------------------- origin policy

names = st.from_regex(
    r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?){0,2}", fullmatch=True
)
ports = st.one_of(st.none(), st.integers(1, 65535))
schemes = st.sampled_from(["http", "https"])


def origin_text(scheme: str, name: str, port: int | None) -> str:
    return f"{scheme}://{name}" if port is None else f"{scheme}://{name}:{port}"


def _serialized(scheme: str, name: str, port: int | None) -> str:
    default = 443 if scheme == "https" else 80
    return origin_text(scheme, name, None if port == default else port)


allowed_lists = st.lists(st.tuples(schemes, names, ports), max_size=4)


def foreign_origins_are_refused(
    allowed: list[tuple[str, str, int | None]],
    own: tuple[str, int | None],
    theirs: tuple[str, str, int | None],
    scheme: str,
    site: bytes | None,
) -> None:
    policy = OriginPolicy([origin_text(*entry) for entry in allowed])
    allowed_set = {_serialized(*entry) for entry in allowed}
    host = own[0] if own[1] is None else f"{own[0]}:{own[1]}"
    origin = _serialized(*theirs)
    own_origin = _serialized(scheme, *own)
    try:
        answer = policy.check(
            origin=origin.encode(), sec_fetch_site=site, scheme=scheme, host=host.encode()
        )
    except CrossOriginForbidden:
        assert origin not in allowed_set
        return
    if answer is not None:
        assert answer == origin and answer in allowed_set
        headers = dict(policy.cors_headers(answer))
        assert headers[b"access-control-allow-origin"] == origin.encode() != b"*"
        assert headers[b"access-control-allow-credentials"] == b"true"
        preflight = dict(policy.preflight_headers(answer, b"authorization, x-evil"))
        assert preflight[b"access-control-allow-origin"] == origin.encode()
    else:
        # Let through without CORS: only this server's own origin, and never cross-site.
        assert origin == own_origin
        assert site not in (b"cross-site", b"same-site")


sites = st.sampled_from([None, b"same-origin", b"same-site", b"cross-site", b"none", b"x"])
test_foreign_origin, test_foreign_origin_soak = twins(
    foreign_origins_are_refused,
    allowed_lists,
    st.tuples(names, ports),
    st.tuples(schemes, names, ports),
    schemes,
    sites,
)


def arbitrary_headers_never_pass_a_foreign_origin(
    allowed: list[tuple[str, str, int | None]],
    origin: bytes | None,
    site: bytes | None,
    host: bytes | None,
    scheme: str,
) -> None:
    policy = OriginPolicy([origin_text(*entry) for entry in allowed])
    allowed_set = {_serialized(*entry).encode() for entry in allowed}
    try:
        answer = policy.check(origin=origin, sec_fetch_site=site, scheme=scheme, host=host)
    except CrossOriginForbidden as exc:
        detail = str(exc)
        assert len(detail) < 200
        return
    if answer is not None:
        assert answer.encode() == origin and origin in allowed_set
        assert b"*" not in dict(policy.cors_headers(answer))[b"access-control-allow-origin"]
    elif origin is not None:
        assert origin != b"null"
        assert host is not None
        assert origin.lower().split(b"://", 1)[1].split(b":")[0] == host.lower().split(b":")[0]


header_bytes = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"null",
            b"*",
            b"https://api.example.com",
            b"http://api.example.com",
            b"https://evil.test",
            b"https://api.example.com:443",
            b"https://user@api.example.com",
            b"HTTPS://API.EXAMPLE.COM",
            b"https://api.example.com.",
            b"https://api.example.com/",
        ]
    ),
)
hosts = st.one_of(
    st.none(),
    st.binary(max_size=30),
    st.sampled_from([b"api.example.com", b"api.example.com:443", b"API.example.com", b"null"]),
)
test_arbitrary_origin, test_arbitrary_origin_soak = twins(
    arbitrary_headers_never_pass_a_foreign_origin,
    allowed_lists,
    header_bytes,
    sites,
    hosts,
    schemes,
)
