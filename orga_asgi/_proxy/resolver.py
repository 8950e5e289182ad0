"""The effective scheme and client address of a request, behind trusted proxies only.

Forwarding headers are read only when the direct peer is a trusted proxy. The chain is walked
right to left (each proxy appends the address it saw) and the walk stops at the first hop
that is not trusted: that hop is the client. Anything to its left was written by the client
and is never believed. The scheme is the one stated by the proxy that saw the client.
Headers are parsed in :mod:`.forwarded` (by hand, linear, never raising).
"""

from __future__ import annotations

from collections.abc import Iterable

from orga_asgi._types import Scope

from .forwarded import Address, Hop, forwarded_hops, parse_ip, parse_node
from .loopback import is_loopback
from .networks import parse_trusted

__all__ = ["ProxyResolver"]

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
        self._addresses, self._networks = parse_trusted(trusted_proxies)
        # Peers usually report the canonical text form: a set lookup skips parsing them.
        self._strings = frozenset(str(address) for address in self._addresses)
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
        if peer is None or not (self._addresses or self._networks):
            return scheme, peer
        if peer not in self._strings and not self.trusts(peer):  # the set first: no call
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
