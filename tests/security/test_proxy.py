"""Trusted proxies: forwarded headers are believed only from trusted peers, hop by hop."""

from __future__ import annotations

import pytest

from orga_asgi._errors import ConfigurationError
from orga_asgi._proxy import ProxyResolver, is_loopback, is_loopback_host

PROXY = "10.0.0.5"
CLIENT = "203.0.113.7"


def scope(peer: str | None = PROXY, scheme: str = "http", **headers: str | list[str]):
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        for line in [value] if isinstance(value, str) else value:
            raw.append((name.replace("_", "-").encode(), line.encode()))
    return {
        "type": "http",
        "scheme": scheme,
        "client": (peer, 51000) if peer is not None else None,
        "headers": raw,
    }


TRUSTING = ProxyResolver(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"])


def test_without_trusted_proxies_headers_change_nothing():
    resolver = ProxyResolver([])
    assert not resolver.enabled
    spoofed = scope(
        peer=CLIENT,
        x_forwarded_for="1.2.3.4",
        x_forwarded_proto="https",
        forwarded="for=1.2.3.4;proto=https",
    )
    assert resolver.resolve(spoofed) == ("http", CLIENT)
    assert resolver.resolve(scope(peer=None)) == ("http", None)
    assert resolver.resolve(scope(peer=CLIENT, scheme="https")) == ("https", CLIENT)


def test_spoofed_headers_from_an_untrusted_peer_change_nothing():
    spoofed = scope(
        peer=CLIENT,
        x_forwarded_for="10.0.0.9",
        x_forwarded_proto="https",
        forwarded='for="[2001:db8:ffff::1]";proto=https',
    )
    assert TRUSTING.resolve(spoofed) == ("http", CLIENT)


def test_trusted_peer_without_headers_is_the_client():
    assert TRUSTING.resolve(scope()) == ("http", PROXY)
    assert TRUSTING.resolve(scope(peer=None)) == ("http", None)


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        (CLIENT, CLIENT),
        # the client prepended a forged hop: the walk stops at the real client first
        (f"6.6.6.6, {CLIENT}", CLIENT),
        (f"10.9.9.9, {CLIENT}", CLIENT),  # even a forged "trusted" one
        # two trusted proxies: 10.1.1.1 forwarded to PROXY
        (f"6.6.6.6, {CLIENT}, 10.1.1.1", CLIENT),
        # every hop trusted: the leftmost one is all we know
        ("10.1.1.1, 10.2.2.2", "10.1.1.1"),
        (f"{CLIENT}:4711", CLIENT),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        ("::ffff:203.0.113.7", CLIENT),
        # unknown or garbage hop: the proxy that wrote it is the client we know
        ("unknown", PROXY),
        (f"{CLIENT}, not-an-ip", PROXY),
        (f"{CLIENT},, 10.1.1.1", "10.1.1.1"),
    ],
)
def test_x_forwarded_for_walk(xff, expected):
    assert TRUSTING.resolve(scope(x_forwarded_for=xff))[1] == expected


def test_x_forwarded_for_lines_are_joined():
    found = TRUSTING.resolve(scope(x_forwarded_for=["6.6.6.6", f"{CLIENT}, 10.1.1.1"]))
    assert found == ("http", CLIENT)


@pytest.mark.parametrize(
    ("xff", "xfp", "expected"),
    [
        (CLIENT, "https", "https"),
        (CLIENT, "HTTPS", "https"),
        (CLIENT, "http", "http"),
        (CLIENT, "wss", "http"),  # not http/https: fail closed
        (CLIENT, "", "http"),
        # the client sent "https" over http, the proxy appended what it saw: aligned right
        (CLIENT, "https, http", "http"),
        (f"{CLIENT}, 10.1.1.1", "https, http", "https"),
        (f"6.6.6.6, {CLIENT}, 10.1.1.1", "http, https, http", "https"),
        (None, "https", "https"),
    ],
)
def test_x_forwarded_proto(xff, xfp, expected):
    headers = {"x_forwarded_proto": xfp}
    if xff is not None:
        headers["x_forwarded_for"] = xff
    assert TRUSTING.resolve(scope(**headers))[0] == expected


def test_no_proto_header_keeps_the_scope_scheme():
    assert TRUSTING.resolve(scope(scheme="https", x_forwarded_for=CLIENT)) == ("https", CLIENT)


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (f"for={CLIENT};proto=https", ("https", CLIENT)),
        (f"For={CLIENT};Proto=HTTPS;by=10.0.0.5", ("https", CLIENT)),
        ('for="[2001:db8:cafe::17]:4711";proto=https', ("https", "2001:db8:cafe::17")),
        ('for="[2001:db8:cafe::17]"', ("http", "2001:db8:cafe::17")),
        (f'for="{CLIENT}:8080"', ("http", CLIENT)),
        # a forged element to the left of the real client is never reached
        (f"for=6.6.6.6;proto=https, for={CLIENT};proto=http", ("http", CLIENT)),
        # two trusted proxies; the scheme is what the proxy facing the client saw
        (f"for={CLIENT};proto=https, for=10.1.1.1;proto=http", ("https", CLIENT)),
        # the proxy facing the client stated no proto: the inner one's describes another link
        (f"for={CLIENT}, for=10.1.1.1;proto=https", ("http", CLIENT)),
        # the IPv6 proxy network is trusted too
        (f'for={CLIENT};proto=https, for="[2001:db8:ffff::9]"', ("https", CLIENT)),
        # obfuscated or unknown: the walk stops at the proxy that said so
        ("for=_hidden;proto=https", ("https", PROXY)),
        ("for=unknown", ("http", PROXY)),
        (f"for={CLIENT}, for=_abc123", ("http", PROXY)),
        ("proto=https", ("https", PROXY)),
        # malformed elements stop the walk too
        (f"for={CLIENT};for=1.2.3.4", ("http", PROXY)),
        (f'for="{CLIENT}', ("http", PROXY)),
        ("garbage", ("http", PROXY)),
        (f'for="unclosed, for={CLIENT}', ("http", CLIENT)),
    ],
)
def test_forwarded_walk(forwarded, expected):
    assert TRUSTING.resolve(scope(forwarded=forwarded)) == expected


def test_forwarded_lines_are_parsed_separately():
    # An unclosed quote from the client must not swallow the proxy's own line.
    found = TRUSTING.resolve(scope(forwarded=['for="6.6.6.6', f"for={CLIENT};proto=https"]))
    assert found == ("https", CLIENT)


def test_forwarded_and_x_forwarded_agreeing():
    found = TRUSTING.resolve(scope(forwarded=f"for={CLIENT};proto=https", x_forwarded_for=CLIENT))
    assert found == ("https", CLIENT)


def test_forwarded_next_to_x_forwarded_proto_alone_is_not_believed():
    # A proxy that sets only X-Forwarded-Proto (nginx with X-Real-IP, say) passes the
    # client's own Forwarded through: the client would pick its per-IP bucket.
    forged = scope(forwarded="for=6.6.6.6", x_forwarded_proto="https")
    assert TRUSTING.resolve(forged) == ("https", PROXY)
    forged = scope(forwarded="for=6.6.6.6;proto=https", x_forwarded_proto="http")
    assert TRUSTING.resolve(forged) == ("http", PROXY)


def test_forged_forwarded_next_to_real_x_forwarded_fails_closed():
    # The proxy sets X-Forwarded-*, and passes through a Forwarded header the client wrote.
    forged = scope(
        forwarded="for=6.6.6.6;proto=https",
        x_forwarded_for=CLIENT,
        x_forwarded_proto="http",
    )
    assert TRUSTING.resolve(forged) == ("http", PROXY)


def test_ipv6_peer_and_trusted_cidr():
    resolver = ProxyResolver(["2001:db8::/32"])
    found = resolver.resolve(scope(peer="2001:db8::1", x_forwarded_for="2001:db8:1::5, 2600::1"))
    assert found == ("http", "2600::1")
    assert resolver.resolve(scope(peer="2600::2", x_forwarded_for="1.2.3.4")) == ("http", "2600::2")


def test_ipv4_mapped_peer_is_trusted_by_its_ipv4_network():
    found = TRUSTING.resolve(scope(peer="::ffff:10.0.0.5", x_forwarded_for=CLIENT))
    assert found == ("http", CLIENT)


def test_single_address_and_string_configuration():
    resolver = ProxyResolver(" 192.0.2.1 , ::1")
    assert resolver.trusts("192.0.2.1")
    assert resolver.trusts("::1")
    assert not resolver.trusts("192.0.2.2")
    assert not resolver.trusts(None)
    assert not resolver.trusts("not-an-ip")
    assert resolver.resolve(scope(peer="::1", x_forwarded_for=CLIENT)) == ("http", CLIENT)


@pytest.mark.parametrize(
    ("entry", "hint"),
    [
        ("not-an-ip", "addresses like"),
        ("10.0.0.1/8", "did you mean '10.0.0.0/8'"),
        ("*", "0.0.0.0/0"),
        ("localhost", "'127.0.0.1' and '::1'"),
        ("10.0.0.0/33", "addresses like"),
    ],
)
def test_invalid_entries_raise_with_a_hint(entry, hint):
    with pytest.raises(ConfigurationError, match="trusted_proxies") as info:
        ProxyResolver([entry])
    assert hint in str(info.value)


def test_non_string_entry_raises():
    with pytest.raises(ConfigurationError, match="must be strings"):
        ProxyResolver([10])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::2", False),
        ("localhost", False),
        ("", False),
        (None, False),
        ("128.0.0.1", False),
    ],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_is_loopback_request_refuses_forwarded_requests():
    resolver = ProxyResolver([])
    assert resolver.is_loopback_request(scope(peer="127.0.0.1"))
    assert not resolver.is_loopback_request(scope(peer="127.0.0.1", x_forwarded_for=CLIENT))
    assert not resolver.is_loopback_request(scope(peer="127.0.0.1", forwarded="for=x"))
    assert not resolver.is_loopback_request(scope(peer=CLIENT))
    assert not resolver.is_loopback_request(scope(peer=None))


@pytest.mark.parametrize(
    "header",
    ["via", "x_forwarded_host", "x_forwarded_port", "x_forwarded_server", "x_real_ip"],
)
def test_is_loopback_request_refuses_any_proxy_header(header):
    # A local proxy relaying a remote client over plain HTTP may add only one of these.
    resolver = ProxyResolver([])
    assert not resolver.is_loopback_request(scope(peer="127.0.0.1", **{header: "x"}))


@pytest.mark.parametrize(
    "host",
    [
        b"localhost", b"localhost:8000", b"LOCALHOST:8000", b"LocalHost", b"localhost.",
        b"localhost.:5173", b"127.0.0.1", b"127.0.0.1:8000", b"127.255.255.254:1",
        b"127.0.0.1:65535", b"[::1]", b"[::1]:8000", b"[0:0:0:0:0:0:0:1]:8000", b"[::0001]",
    ],
)  # fmt: skip
def test_is_loopback_host_accepts_loopback_names(host):
    assert is_loopback_host(host) is True


@pytest.mark.parametrize(
    "host",
    [
        None, b"", b"evil.example", b"evil.example:8000", b"localhost.evil.example",
        b"app.localhost", b"localhost..", b"localhostx", b"xlocalhost", b"127.0.0.1.evil.example",
        b"evil.example@localhost", b"localhost@evil.example", b"user@127.0.0.1:8000",
        b"localhost:", b"localhost:0", b"localhost:65536", b"localhost:123456", b"localhost:8a",
        b"localhost:+80", b"localhost:-1", b"localhost:80:80", b"localhost 8000", b" localhost",
        b"localhost ", b"localhost\t", b"localhost\r\n", b"localhost,evil.example",
        b"localhost/x", b"127.1", b"127.0.1", b"2130706433", b"0x7f.0.0.1", b"0177.0.0.1",
        b"127.0.0.01", b"127.0.0.256", b"127.0.0.1.", b"128.0.0.1", b"10.0.0.1", b"0.0.0.0",
        b"[::1", b"::1", b"::1:8000", b"[::1]x", b"[::1]8000", b"[::1]:", b"[::2]", b"[]",
        b"[::ffff:127.0.0.1]", b"[::ffff:7f00:1]", b"[::1%25eth0]", b"[::1%eth0]:80",
        b"[fe80::1]", b"[::]", b"l\xd0\xbecalhost", b"\xef\xbd\x8cocalhost", b"xn--localhost",
        b"localhost" + b"0" * 200, b"[" + b":" * 5000 + b"1]",
    ],
)  # fmt: skip
def test_is_loopback_host_refuses_everything_else(host):
    assert is_loopback_host(host) is False


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        # a trusted proxy may say the client is local: the client is ::1, over https
        ('for="[::1]:80";proto=HTTPS', ("https", "::1")),
        ('for="[::1]:80";proto=HTTPS, for=10.1.1.1', ("https", "::1")),
        # a zone id would let a client rotate buckets on one address: not an address
        ('for="[fe80::1%eth0]";proto=https', ("https", PROXY)),
        (f'for="[fe80::1%25eth0]", for={CLIENT}', ("http", CLIENT)),
        # obs-fold and other control characters are no OWS: the element is malformed
        (f"for={CLIENT};\r\n proto=https", ("http", PROXY)),
        (f"for={CLIENT}\x00", ("http", PROXY)),
        # escapes inside quoted strings are undone before the address is read
        (f'for="{CLIENT[:3]}\\{CLIENT[3:]}";proto=https', ("https", CLIENT)),
        # empty and whitespace-only values, stray separators
        ("for=", ("http", PROXY)),
        ('for=""', ("http", PROXY)),
        (f"for={CLIENT};", ("http", PROXY)),
        (f";for={CLIENT}", ("http", PROXY)),
        (f"for = {CLIENT} ; proto = https", ("https", CLIENT)),
        (f" , for={CLIENT}", ("http", CLIENT)),
        (f"for={CLIENT},", ("http", PROXY)),
        # a quoted string swallowing the proxy's own element: that element is lost, not forged
        (f'for=6.6.6.6;x=", for="{CLIENT}"', ("http", PROXY)),
        (f'for=6.6.6.6;x=", for="{CLIENT}", for=10.1.1.1', ("http", "10.1.1.1")),
        ('for="\\', ("http", PROXY)),
    ],
)
def test_forwarded_adversarial(forwarded, expected):
    assert TRUSTING.resolve(scope(forwarded=forwarded)) == expected


def test_x_forwarded_for_zone_ids_and_folds_end_the_walk():
    assert TRUSTING.resolve(scope(x_forwarded_for="fe80::1%eth0")) == ("http", PROXY)
    assert TRUSTING.resolve(scope(x_forwarded_for=f"{CLIENT}\r\n 6.6.6.6")) == ("http", PROXY)


def test_duplicate_forwarding_lines_from_the_client_are_to_the_left():
    # Lines are joined in order; the proxy's own line (or appended hop) is the last one.
    lines = ["for=6.6.6.6;proto=https", "for=7.7.7.7;proto=https", f"for={CLIENT};proto=http"]
    assert TRUSTING.resolve(scope(forwarded=lines)) == ("http", CLIENT)
    xff = ["6.6.6.6", "7.7.7.7", CLIENT]
    assert TRUSTING.resolve(scope(x_forwarded_for=xff, x_forwarded_proto="http")) == (
        "http",
        CLIENT,
    )


def test_long_hop_lists_resolve():
    # 5,000 forged hops to the left are never walked past the real client.
    forged = ", ".join(f"10.0.{i // 256 % 256}.{i % 256}" for i in range(5000))
    assert TRUSTING.resolve(scope(x_forwarded_for=f"{forged}, {CLIENT}")) == ("http", CLIENT)
    elements = ", ".join("for=10.0.0.1" for _ in range(5000))
    assert TRUSTING.resolve(scope(forwarded=f"{elements}, for={CLIENT}"))[1] == CLIENT
    # all trusted: the leftmost is all we know, and it is a trusted one
    assert TRUSTING.resolve(scope(x_forwarded_for=forged)) == ("http", "10.0.0.0")
