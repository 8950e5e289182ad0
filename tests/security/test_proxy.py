"""Trusted proxies: forwarded headers are believed only from trusted peers, hop by hop."""

from __future__ import annotations

import pytest

from orga_asgi._errors import ConfigurationError
from orga_asgi._proxy import ProxyResolver, is_loopback

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
    found = TRUSTING.resolve(scope(forwarded=f"for={CLIENT}", x_forwarded_proto="https"))
    assert found == ("https", CLIENT)


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
