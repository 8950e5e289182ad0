"""The effective scheme and client address of a request, behind trusted proxies only.

Forwarding headers are read only when the direct peer is a trusted proxy. The chain is walked
right to left (each proxy appends the address it saw) and the walk stops at the first hop
that is not trusted: that hop is the client. Anything to its left was written by the client
and is never believed. The scheme is the one stated by the proxy that saw the client.
Headers are parsed in :mod:`orga_asgi._forwarded` (by hand, linear, never raising).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TypeAlias

from ._errors import ConfigurationError
from ._forwarded import Address, Hop, forwarded_hops, parse_ip, parse_node
from ._types import Scope

__all__ = ["ProxyResolver", "is_loopback", "is_loopback_host"]

_Network: TypeAlias = "ipaddress.IPv4Network | ipaddress.IPv6Network"

# Headers a reverse proxy adds: their presence means the peer is relaying someone else.
_FORWARDING = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-server",
        b"x-real-ip",
        b"via",
    }
)
_KNOWN = 1024  # resolved header sets remembered (see ProxyResolver.resolve)
_CACHEABLE = 256  # bytes of forwarding header values beyond which a set is not remembered
_HEX_COLON = b"0123456789abcdefABCDEF:"
_DIGITS_DOTS = b"0123456789."
_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")
_LOCALHOST = (b"localhost", b"localhost.")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback IP literal (127.0.0.0/8, ``::1``, ``::ffff:127.x.x.x``).

    Names are never loopback, ``"localhost"`` included: ASGI servers put the peer's IP in
    ``scope["client"]``, so a name there was not verified by anyone. ``None`` (no client, as
    on a Unix socket, where a local reverse proxy may be relaying remote clients) is not either.
    """
    if not host:
        return False
    address = parse_ip(host)
    return address is not None and address.is_loopback


def is_loopback_host(host: bytes | None) -> bool:
    """Whether a ``Host`` header names this machine: ``localhost``, ``127.x.x.x`` or ``[::1]``.

    Against DNS rebinding: a page on ``evil.example`` whose name the attacker re-points at
    127.0.0.1 reaches a loopback server from the victim's browser, same-origin as far as the
    browser knows, but its requests still say ``Host: evil.example``. Only these spellings
    pass, each with an optional ``:port`` (1-65535): ``localhost`` and ``localhost.`` (any
    case), a dotted-quad IPv4 literal in 127.0.0.0/8, and ``[::1]`` (any IPv6 spelling of it,
    without a zone). Everything else is ``False``: other names, ``*.localhost``, userinfo,
    white space, non-ASCII, shorthand IPv4 such as ``127.1``, an empty port, ``None``.
    """
    if not host or len(host) > 64:
        return False
    if host.startswith(b"["):
        end = host.find(b"]")
        inner, rest = host[1:end], host[end + 1 :]
        if end < 0 or not inner or inner.translate(None, _HEX_COLON):
            return False
        try:
            found = ipaddress.IPv6Address(inner.decode("ascii")) == _IPV6_LOOPBACK
        except ValueError:
            return False
    else:
        name, colon, port = host.partition(b":")
        rest = colon + port
        if name.lower() in _LOCALHOST:
            found = True
        elif name.startswith(b"127.") and not name.translate(None, _DIGITS_DOTS):
            try:
                found = ipaddress.IPv4Address(name.decode("ascii")).is_loopback
            except ValueError:
                return False
        else:
            return False
    return found and _is_port_suffix(rest)


def _is_port_suffix(rest: bytes) -> bool:
    if not rest:
        return True
    digits = rest[1:]
    return (
        rest[:1] == b":" and 0 < len(digits) <= 5 and digits.isdigit() and 0 < int(digits) < 65536
    )


def _scheme(proto: str) -> str:
    # Anything but http/https from a trusted hop is a misconfiguration: fail closed.
    return "https" if proto.strip().lower() == "https" else "http"


class ProxyResolver:
    """Resolve the effective scheme and client address of requests.

    Args:
        trusted_proxies: IP addresses and CIDR networks (IPv4 or IPv6) of the reverse proxies
            in front of the app; a string is read as a comma-separated list. Empty: forwarding
            headers are ignored and the ASGI scope is the truth.

    Raises:
        ConfigurationError: an entry is not an IP address or a network.
    """

    __slots__ = ("_addresses", "_known", "_networks", "_strings")

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        entries = (
            trusted_proxies.split(",") if isinstance(trusted_proxies, str) else trusted_proxies
        )
        addresses: set[Address] = set()
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
        # Answers already worked out, by peer, scheme and forwarding headers as received:
        # behind a proxy every request walks the same few hops, so a repeat costs one scan
        # of the headers and a lookup. Emptied when full, so it stays bounded.
        self._known: dict[tuple[object, ...], tuple[str, str | None]] = {}

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
        address = parse_ip(host)
        return address is not None and self._trusts(address)

    def _trusts(self, address: Address) -> bool:
        return address in self._addresses or any(address in net for net in self._networks)

    def resolve(self, scope: Scope) -> tuple[str, str | None]:
        """Return the effective ``(scheme, client host)`` of an HTTP request.

        When the direct peer is trusted, ``Forwarded`` (RFC 7239) and ``X-Forwarded-For`` /
        ``X-Forwarded-Proto`` are walked right to left. When a request carries both kinds,
        the client is believed only if ``Forwarded`` and ``X-Forwarded-For`` name the same
        one: otherwise a client forged one of them (or the proxy sets only
        ``X-Forwarded-Proto`` and passed the client's ``Forwarded`` through), and the client
        is the peer itself; the scheme is https only if every stated proto says so. An
        unknown or obfuscated hop (``for=unknown``, ``for=_hidden``) ends the walk at the
        proxy that reported it.
        """
        client = scope.get("client")
        peer: str | None = client[0] if client else None
        scheme: str = scope.get("scheme", "http")
        if peer is None or not (self._addresses or self._networks) or not self.trusts(peer):
            return scheme, peer
        stated = [
            (name, value)
            for name, value in scope.get("headers", ())
            if name == b"x-forwarded-proto" or name == b"x-forwarded-for" or name == b"forwarded"
        ]
        if not stated:
            return scheme, peer
        key = (peer, scheme, *stated)
        found = self._known.get(key)
        if found is None:
            found = self._resolve(stated, peer, scheme)
            if sum(len(value) for _, value in stated) <= _CACHEABLE:  # long ones: not kept
                if len(self._known) >= _KNOWN:
                    self._known.clear()
                self._known[key] = found
        return found

    def _resolve(
        self, headers: list[tuple[bytes, bytes]], peer: str, scheme: str
    ) -> tuple[str, str | None]:
        forwarded: list[Hop] = []
        xff: list[str] = []
        xfp: list[str] = []
        for name, value in headers:
            if name == b"forwarded":
                forwarded.extend(forwarded_hops(value.decode("latin-1")))
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
        stated = [proto for _, proto in results if proto is not None]
        if stated:
            scheme = "https" if all(proto == "https" for proto in stated) else "http"
        if len(results) == 2 and (not xff or results[0][0] != results[1][0]):
            return scheme, peer
        return scheme, results[0][0]

    def _walk_x_forwarded(
        self, xff: list[str], xfp: list[str], peer: str
    ) -> tuple[str, str | None]:
        if len(xfp) > 1:  # one proto per hop, aligned from the right
            offset = len(xff) - len(xfp)
            hops: list[Hop] = [
                (node, xfp[i - offset] if 0 <= i - offset < len(xfp) else None)
                for i, node in enumerate(xff)
            ]
            if not xff:
                hops = [(None, xfp[-1])]
            return self._walk(hops, peer)
        found, proto = self._walk([(node, None) for node in xff], peer)
        return found, (_scheme(xfp[0]) if xfp else proto)

    def _walk(self, hops: list[Hop], peer: str) -> tuple[str, str | None]:
        client, proto = peer, None
        for hop in reversed(hops):
            # `client` is trusted here: it is the proxy that wrote this hop.
            if hop is None:
                break
            node, hop_proto = hop
            # Only the proto of the hop we end on describes the client's own connection; one
            # stated further right describes a link between proxies.
            proto = _scheme(hop_proto) if hop_proto is not None else None
            address = parse_node(node) if node else None
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
        The ``Host`` is not checked here: see :func:`is_loopback_host`.
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
