"""The ``trusted_proxies`` setting: IP addresses and CIDR networks, checked at startup.

A wrong entry is a :class:`ConfigurationError` saying what to write instead: trusting the
wrong peers would let clients choose their own address and scheme.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TypeAlias

from orga_asgi._errors import ConfigurationError

from .forwarded import Address

__all__ = ["Network", "parse_trusted"]

Network: TypeAlias = "ipaddress.IPv4Network | ipaddress.IPv6Network"


def parse_trusted(trusted_proxies: Iterable[str]) -> tuple[frozenset[Address], tuple[Network, ...]]:
    """The single addresses and the wider networks of ``trusted_proxies``.

    A string is read as a comma-separated list. Single addresses are kept apart: a set
    lookup answers for them, where a network needs a containment test.

    Raises:
        ConfigurationError: an entry is not an IP address or a network.
    """
    entries = trusted_proxies.split(",") if isinstance(trusted_proxies, str) else trusted_proxies
    addresses: set[Address] = set()
    networks: list[Network] = []
    for entry in entries:
        network = _parse_network(entry)
        if network.num_addresses == 1:
            addresses.add(network.network_address)
        else:
            networks.append(network)
    return frozenset(addresses), tuple(networks)


def _parse_network(entry: object) -> Network:
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
