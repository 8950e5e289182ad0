"""Loopback addresses and ``Host`` headers: what ``allow_insecure_loopback`` relies on.

Both checks are strict spellings on purpose: a name is never believed to be loopback, and a
``Host`` header passes only in the few forms a browser sends for this machine.
"""

from __future__ import annotations

import ipaddress

from .forwarded import parse_ip

__all__ = ["is_loopback", "is_loopback_host"]

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
