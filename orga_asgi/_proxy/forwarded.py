"""Parsing of forwarding headers (RFC 7239 ``Forwarded``, ``X-Forwarded-For`` nodes).

Caller text, parsed by hand in one pass without regular expressions: the cost is linear in
the header's length whatever it contains, and malformed input yields ``None`` hops (which
stop a walk), never an exception.
"""

from __future__ import annotations

import ipaddress
from typing import TypeAlias

__all__ = ["Address", "Hop", "forwarded_hops", "parse_ip", "parse_node"]

Address: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
Hop: TypeAlias = "tuple[str | None, str | None] | None"
"""``(for, proto)`` of one hop, as written; ``None``: the element was malformed."""

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_VALUE_END = frozenset(';,"')


def parse_ip(text: str) -> Address | None:
    """An IP address from its text form, IPv4-mapped IPv6 as IPv4; ``None`` if it is none."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_node(node: str) -> Address | None:
    """An address from ``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:4711`` or ``2001:db8::1``."""
    node = node.strip()
    if "%" in node:  # a zone id is local to the proxy; varying it must not vary the client
        return None
    if node.startswith("["):
        end = node.find("]")
        if end < 0 or (end + 1 < len(node) and node[end + 1] != ":"):
            return None
        return parse_ip(node[1:end])
    if node.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        node = node.partition(":")[0]
    return parse_ip(node)


def _skip_ows(line: str, pos: int) -> int:
    end = len(line)
    while pos < end and (line[pos] == " " or line[pos] == "\t"):
        pos += 1
    return pos


def _quoted(line: str, pos: int) -> tuple[str | None, int]:
    """The quoted-string opening at ``line[pos]``, unescaped, and the position after it.

    Unclosed: ``(None, pos)``. Linear over the whole header even though the caller resyncs
    inside an unclosed string: any element opened to its right starts with ``="`` (an
    unescaped quote that would have closed it), so no later element scans that far again.
    """
    parts: list[str] = []
    i, end = pos + 1, len(line)
    start = i
    while i < end:
        char = line[i]
        if char == '"':
            parts.append(line[start:i])
            return "".join(parts), i + 1
        if char == "\\" and i + 1 < end:
            parts.append(line[start:i])
            start = i + 1  # keep the escaped character, drop the backslash
            i += 2
            continue
        i += 1
    return None, pos


def _element(line: str, pos: int) -> tuple[Hop, int]:
    """One ``Forwarded`` element from ``pos``: its hop (``None`` if malformed) and the
    position of the ``,`` or end that closes it (or of the fault)."""
    end = len(line)
    node: str | None = None
    proto: str | None = None
    seen: set[str] = set()
    while True:
        pos = start = _skip_ows(line, pos)
        while pos < end and line[pos] in _TCHAR:
            pos += 1
        key = line[start:pos].lower()
        pos = _skip_ows(line, pos)
        if not key or pos >= end or line[pos] != "=":
            return None, pos
        pos = _skip_ows(line, pos + 1)
        value: str | None
        if pos < end and line[pos] == '"':
            value, pos = _quoted(line, pos)
            if value is None:
                return None, pos
        else:
            start = pos
            while pos < end and line[pos] not in _VALUE_END and not line[pos].isspace():
                pos += 1
            value = line[start:pos]
        pos = _skip_ows(line, pos)
        if key in seen:  # RFC 7239 allows each parameter once per element
            return None, pos
        seen.add(key)
        if key == "for":
            node = value
        elif key == "proto":
            proto = value
        if pos < end and line[pos] == ";":
            pos += 1
            continue
        if pos < end and line[pos] != ",":
            return None, pos
        return (node, proto), pos


def forwarded_hops(line: str) -> list[Hop]:
    """The elements of one ``Forwarded`` header line, left to right."""
    hops: list[Hop] = []
    pos, end = 0, len(line)
    while True:
        hop, pos = _element(line, pos)
        hops.append(hop)
        if hop is None:
            # A bad element stops any walk that reaches it, so resyncing at the next comma
            # (even one inside a quoted string) cannot make a forged hop believed.
            pos = line.find(",", pos)
            if pos < 0:
                return hops
        if pos >= end:
            return hops
        pos += 1
