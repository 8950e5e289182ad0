"""The bucket key of a client address: IPv4 whole, IPv6 on its prefix (``/64`` by default).

One host usually holds a whole IPv6 /64 and can rotate through it at will, so keying each
address would let it pass any per-address limit and fill the tables (Caddy's rate limiter
and Zulip key on a prefix for the same reason). Forms that carry an IPv4 address are keyed
on that address: IPv4-mapped (``::ffff:192.0.2.1``, what a dual-stack socket reports) and
the well-known NAT64 prefix ``64:ff9b::/96`` (a translator in front of the server). Zone ids
(``fe80::1%eth0``) and brackets are dropped. The deprecated IPv4-compatible form
(``::192.0.2.1``) is plain IPv6: it is never on the wire, and shares ``::1``'s /64.

An IPv6 key is every hextet of the masked prefix, ``2001:db8:1:2::/64`` or ``fe80:0:0:0::/64``
(``/128``: the whole address, no suffix): a valid CIDR, and the same text on every platform.

Anything that is not an IP address (a name from a test client, a Unix socket path, junk) is
its own bucket, ``name:`` and the text, through :func:`~._ratelimit.space.key_id` (hashed if
long or unusual), so a key is always at most 64 characters from a small alphabet.

Keys are computed once per distinct address text and kept in a small table, so a repeat
caller (the refusal flood of one address) costs one dict lookup and no allocation.
"""

from __future__ import annotations

from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from struct import Struct

from orga_asgi._errors import ConfigurationError

from .space import NO_ADDRESS, key_id

__all__ = ["ClientKeys", "check_prefix_length"]

# Distinct address texts remembered; the table is emptied when full. Small: a flood of
# distinct addresses refills it over and over, and each entry holds two strings.
_CACHE_SIZE = 1024
_CACHEABLE = 64  # longer texts (not addresses anyway) are not remembered
# Prefix of the key of anything that is not an address: no such key can equal an address's
# ("2001:db8::/64" written as text by a server) or the no-address bucket ("-").
_NAME = "name:"
_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96, IPv4-mapped
_NAT64 = b"\x00\x64\xff\x9b" + bytes(8)  # 64:ff9b::/96, the well-known NAT64 prefix


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

    __slots__ = ("_bytes", "_format", "_unpack", "cache")

    def __init__(self, prefix_length: int = 64) -> None:
        check_prefix_length(prefix_length)
        self._bytes = divmod(prefix_length, 8)  # whole bytes kept, bits of the next one
        groups = -(-prefix_length // 16)
        self._unpack = Struct(f"!{groups}H").unpack
        # "::" stands for the zero hextets after the prefix; there are none from /113 on.
        suffix = f"{'::' if groups < 8 else ''}/{prefix_length}" if prefix_length < 128 else ""
        self._format = ":".join(["%x"] * groups) + suffix.replace("%", "%%")
        self.cache: dict[str | None, str] = {None: NO_ADDRESS, "": NO_ADDRESS}
        """Keys already computed; callers on the hot path look here first (one dict
        lookup, no call). Always the same dict object: it is emptied in place."""

    def __call__(self, client: str | None) -> str:
        """The bucket key of ``client``; ``None`` or empty is the shared no-address bucket."""
        cache = self.cache
        key = cache.get(client)
        if key is not None:
            return key
        if not client:  # never here: None and "" are always in the cache
            return NO_ADDRESS
        key = self._compute(client)
        if len(client) <= _CACHEABLE:
            if len(cache) >= _CACHE_SIZE:
                # Emptied, not evicted one by one: O(1) amortized, and a flood of distinct
                # addresses cannot make the table grow past the bound.
                cache.clear()
                cache[None] = cache[""] = NO_ADDRESS
            cache[client] = key
        return key

    def _compute(self, client: str) -> str:
        # inet_pton, not ipaddress: strict (no leading zeros, four parts) and ~20x faster,
        # which a flood of distinct addresses (each one a miss) pays on every request.
        if ":" not in client:
            try:
                packed = inet_pton(AF_INET, client)
            except (OSError, ValueError, UnicodeError):
                return key_id(_NAME + client)
            canonical = inet_ntop(AF_INET, packed)
            return client if canonical == client else canonical  # reuse the caller's text
        text = client.partition("%")[0]  # the zone id of a link-local address
        if text[:1] == "[" and text[-1:] == "]":
            text = text[1:-1]
        try:
            packed = inet_pton(AF_INET6, text)
        except (OSError, ValueError, UnicodeError):
            return key_id(_NAME + client)
        head = packed[:12]
        if head in (_MAPPED, _NAT64):
            return inet_ntop(AF_INET, packed[12:])
        whole, bits = self._bytes
        network = packed[:whole]
        if bits:
            network += bytes((packed[whole] & (0xFF00 >> bits) & 0xFF,))
        if len(network) % 2:
            network += b"\x00"
        # Every hextet of the prefix, no zero run compressed ("fe80:0:0:0::/64"), rather
        # than RFC 5952's form: the same bytes give the same key on every platform and
        # version (a shared store depends on that), and it is still a valid CIDR.
        return self._format % self._unpack(network)
