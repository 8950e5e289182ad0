"""The bucket key of a client address: IPv4 whole, IPv6 on its prefix (``/64`` by default).

One host usually holds a whole IPv6 /64 and can rotate through it at will, so keying each
address would let it pass any per-address limit and fill the tables (Caddy's rate limiter
and Zulip key on a prefix for the same reason). Forms that carry an IPv4 address are keyed
on that address: IPv4-mapped (``::ffff:192.0.2.1``, what a dual-stack socket reports) and
the well-known NAT64 prefix ``64:ff9b::/96`` (a translator in front of the server). Zone ids
(``fe80::1%eth0``) and brackets are dropped. The deprecated IPv4-compatible form
(``::192.0.2.1``) is plain IPv6: it is never on the wire, and falls in ``::/64``.

Anything that is not an IP address (a name from a test client, a Unix socket path, junk) is
its own bucket, by :func:`~._ratelimit.space.key_id` (hashed if long or unusual), so a key is
always at most 64 characters from a small alphabet.

Keys are computed once per distinct address text and kept in a small table, so a repeat
caller (the refusal flood of one address) costs one dict lookup and no allocation.
"""

from __future__ import annotations

import ipaddress

from orga_asgi._errors import ConfigurationError

from .space import NO_ADDRESS, key_id

__all__ = ["ClientKeys", "check_prefix_length"]

_CACHE_SIZE = 4096  # distinct address texts remembered; the table is emptied when full
_CACHEABLE = 64  # longer texts (not addresses anyway) are not remembered
_NAT64 = int(ipaddress.IPv6Address("64:ff9b::")) >> 32


def check_prefix_length(value: object) -> int:
    """Validate ``ipv6_prefix_length``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 128:
        raise ConfigurationError(
            f"ipv6_prefix_length must be an int from 1 to 128, not {value!r}: 64 (the "
            "default) keys a whole /64, what one host usually holds; 56 or 48 for a site; "
            "128 keys each address"
        )
    return value


class ClientKeys:
    """Map client address texts to bucket keys.

    Args:
        prefix_length: IPv6 prefix length to key on; 128 keys each address.
    """

    __slots__ = ("_cache", "_shift", "_suffix")

    def __init__(self, prefix_length: int = 64) -> None:
        check_prefix_length(prefix_length)
        self._shift = 128 - prefix_length
        self._suffix = f"/{prefix_length}" if prefix_length < 128 else ""
        self._cache: dict[str, str] = {}

    def __call__(self, client: str | None) -> str:
        """The bucket key of ``client``; ``None`` or empty is the shared no-address bucket."""
        if not client:
            return NO_ADDRESS
        key = self._cache.get(client)
        if key is None:
            key = self._compute(client)
            if len(client) <= _CACHEABLE:
                cache = self._cache
                if len(cache) >= _CACHE_SIZE:
                    # Emptied, not evicted one by one: O(1) amortized, and a flood of
                    # distinct addresses cannot make the table grow past the bound.
                    cache.clear()
                cache[client] = key
        return key

    def _compute(self, client: str) -> str:
        text = client.partition("%")[0]  # the zone id of a link-local address
        if text[:1] == "[" and text[-1:] == "]":
            text = text[1:-1]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return key_id(client)
        if isinstance(address, ipaddress.IPv4Address):
            if text != client:  # a zone id or brackets around IPv4: not an address form
                return key_id(client)
            canonical = str(address)
            return client if canonical == client else canonical  # reuse the caller's text
        mapped = address.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        number = int(address)
        if number >> 32 == _NAT64:
            return str(ipaddress.IPv4Address(number & 0xFFFFFFFF))
        shift = self._shift
        return str(ipaddress.IPv6Address(number >> shift << shift)) + self._suffix
