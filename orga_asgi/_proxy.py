"""The effective scheme and client address of a request, behind trusted proxies only.

Forwarding headers are read only when the direct peer is a trusted proxy. The chain is walked
right to left (each proxy appends the address it saw) and the walk stops at the first hop
that is not trusted: that hop is the client. Anything to its left was written by the client
and is never believed. The scheme is the one stated by the proxy that saw the client.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TypeAlias

from ._errors import ConfigurationError
from ._types import Scope

__all__ = ["ProxyResolver", "is_loopback"]

_Address: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
_Network: TypeAlias = "ipaddress.IPv4Network | ipaddress.IPv6Network"
_Hop: TypeAlias = "tuple[str | None, str | None] | None"  # (for, proto); None: unparseable

# One RFC 7239 pair: token "=" (token / quoted-string).
_PAIR = re.compile(
    r"[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*(\"(?:[^\"\\]|\\.)*\"|[^;,\"\s]*)[ \t]*"
)
_ESCAPE = re.compile(r"\\(.)")
_FORWARDING = frozenset({b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-real-ip"})


def _parse_ip(text: str) -> _Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_node(node: str) -> _Address | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:4711`` or ``2001:db8::1``."""
    node = node.strip()
    if node.startswith("["):
        end = node.find("]")
        if end < 0 or (end + 1 < len(node) and node[end + 1] != ":"):
            return None
        return _parse_ip(node[1:end])
    if node.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        node = node.partition(":")[0]
    return _parse_ip(node)


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback IP literal (127.0.0.0/8, ``::1``, ``::ffff:127.x.x.x``).

    Names are never loopback, ``"localhost"`` included: ASGI servers put the peer's IP in
    ``scope["client"]``, so a name there was not verified by anyone. ``None`` (no client, as
    on a Unix socket, where a local reverse proxy may be relaying remote clients) is not either.
    """
    if not host:
        return False
    address = _parse_ip(host)
    return address is not None and address.is_loopback


def _scheme(proto: str) -> str:
    # Anything but http/https from a trusted hop is a misconfiguration: fail closed.
    return "https" if proto.strip().lower() == "https" else "http"


def _forwarded_hops(line: str) -> list[_Hop]:
    """The elements of one ``Forwarded`` header line, left to right."""
    hops: list[_Hop] = []
    pos, end = 0, len(line)
    while True:
        node: str | None = None
        proto: str | None = None
        valid = True
        seen: set[str] = set()
        while True:
            match = _PAIR.match(line, pos)
            if match is None:
                valid = False
                break
            key, value = match.group(1).lower(), match.group(2)
            if value.startswith('"'):
                value = _ESCAPE.sub(r"\1", value[1:-1])
            if key in seen:  # RFC 7239 allows each parameter once per element
                valid = False
            seen.add(key)
            if key == "for":
                node = value
            elif key == "proto":
                proto = value
            pos = match.end()
            if pos < end and line[pos] == ";":
                pos += 1
                continue
            break
        if not valid or (pos < end and line[pos] != ","):
            hops.append(None)
            # A bad element stops any walk that reaches it, so resyncing at the next comma
            # (even one inside a quoted string) cannot make a forged hop believed.
            pos = line.find(",", pos)
            if pos < 0:
                return hops
        else:
            hops.append((node, proto))
        if pos >= end:
            return hops
        pos += 1


class ProxyResolver:
    """Resolve the effective scheme and client address of requests.

    Args:
        trusted_proxies: IP addresses and CIDR networks (IPv4 or IPv6) of the reverse proxies
            in front of the app; a string is read as a comma-separated list. Empty: forwarding
            headers are ignored and the ASGI scope is the truth.

    Raises:
        ConfigurationError: an entry is not an IP address or a network.
    """

    __slots__ = ("_addresses", "_networks", "_strings")

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        entries = (
            trusted_proxies.split(",") if isinstance(trusted_proxies, str) else trusted_proxies
        )
        addresses: set[_Address] = set()
        networks: list[_Network] = []
        for entry in entries:
            network = _parse_network(entry)
            if network.num_addresses == 1:
                addresses.add(network.network_address)
            else:
                networks.append(network)
        self._addresses = frozenset(addresses)
        self._networks = tuple(networks)
        # Peers usually report the canonical text form: a set lookup skips parsing them.
        self._strings = frozenset(str(address) for address in addresses)

    @property
    def enabled(self) -> bool:
        """Whether any proxy is trusted."""
        return bool(self._addresses or self._networks)

    def trusts(self, host: str | None) -> bool:
        """Whether ``host`` (an IP literal) is a trusted proxy."""
        if not host:
            return False
        if host in self._strings:
            return True
        address = _parse_ip(host)
        return address is not None and self._trusts(address)

    def _trusts(self, address: _Address) -> bool:
        return address in self._addresses or any(address in net for net in self._networks)

    def resolve(self, scope: Scope) -> tuple[str, str | None]:
        """Return the effective ``(scheme, client host)`` of an HTTP request.

        When the direct peer is trusted, ``Forwarded`` (RFC 7239) and ``X-Forwarded-For`` /
        ``X-Forwarded-Proto`` are walked right to left. When a request carries both kinds and
        they disagree, a client forged one of them: the client is the peer itself and the
        scheme is https only if every stated proto says so. An unknown or obfuscated hop
        (``for=unknown``, ``for=_hidden``) ends the walk at the proxy that reported it.
        """
        client = scope.get("client")
        peer: str | None = client[0] if client else None
        scheme: str = scope.get("scheme", "http")
        if peer is None or not (self._addresses or self._networks) or not self.trusts(peer):
            return scheme, peer
        forwarded: list[_Hop] = []
        xff: list[str] = []
        xfp: list[str] = []
        for name, value in scope.get("headers", ()):
            if name == b"forwarded":
                forwarded.extend(_forwarded_hops(value.decode("latin-1")))
            elif name == b"x-forwarded-for":
                xff.extend(value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                xfp.extend(value.decode("latin-1").split(","))
        results: list[tuple[str, str | None]] = []
        if forwarded:
            results.append(self._walk(forwarded, peer))
        if xff or xfp:
            results.append(self._walk_x_forwarded(xff, xfp, peer))
        if not results:
            return scheme, peer
        clients = {found for found, _ in results}
        stated = [proto for _, proto in results if proto is not None]
        if stated:
            scheme = "https" if all(proto == "https" for proto in stated) else "http"
        if len(results) == 2 and xff and len(clients) > 1:
            return scheme, peer
        return scheme, results[0][0]

    def _walk_x_forwarded(
        self, xff: list[str], xfp: list[str], peer: str
    ) -> tuple[str, str | None]:
        if len(xfp) > 1:  # one proto per hop, aligned from the right
            offset = len(xff) - len(xfp)
            hops: list[_Hop] = [
                (node, xfp[i - offset] if 0 <= i - offset < len(xfp) else None)
                for i, node in enumerate(xff)
            ]
            if not xff:
                hops = [(None, xfp[-1])]
            return self._walk(hops, peer)
        found, proto = self._walk([(node, None) for node in xff], peer)
        return found, (_scheme(xfp[0]) if xfp else proto)

    def _walk(self, hops: list[_Hop], peer: str) -> tuple[str, str | None]:
        client, proto = peer, None
        for hop in reversed(hops):
            # `client` is trusted here: it is the proxy that wrote this hop.
            if hop is None:
                break
            node, hop_proto = hop
            # Only the proto of the hop we end on describes the client's own connection; one
            # stated further right describes a link between proxies.
            proto = _scheme(hop_proto) if hop_proto is not None else None
            address = _parse_node(node) if node else None
            if address is None:
                break
            client = str(address)
            if not self._trusts(address):
                break
        return client, proto

    def is_loopback_request(self, scope: Scope) -> bool:
        """Whether the request provably comes from this machine, for ``allow_insecure_loopback``.

        The direct peer must be loopback and no forwarding header may be present: a local
        reverse proxy relaying a remote client adds one (and if it does not, nothing can tell).
        """
        client = scope.get("client")
        if not client or not is_loopback(client[0]):
            return False
        return not any(name in _FORWARDING for name, _ in scope.get("headers", ()))


def _parse_network(entry: object) -> _Network:
    if not isinstance(entry, str):
        raise ConfigurationError(
            f"trusted_proxies entries must be strings such as '10.0.0.1' or '10.0.0.0/8', "
            f"not {type(entry).__name__}."
        )
    text = entry.strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ConfigurationError(_network_hint(entry, text)) from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen == 128:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(mapped)
    return network


def _network_hint(entry: str, text: str) -> str:
    base = f"trusted_proxies entry {entry!r} is not an IP address or CIDR network"
    if text == "*":
        return (
            f"{base}: list your proxies' addresses; trusting every peer would let any client "
            "choose its own address and scheme (use '0.0.0.0/0' and '::/0' if you really must)."
        )
    if text.lower() == "localhost":
        return f"{base}: use '127.0.0.1' and '::1'."
    try:
        widened = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return (
            f"{base}: use addresses like '10.0.0.1' or '2001:db8::1', networks like '10.0.0.0/8'."
        )
    return f"{base}: it has host bits set; did you mean {str(widened)!r}?"
