"""What the two upstream calls answer, validated into :class:`ClientSecrets`.

Everything here reads bytes the upstream chose, and the result reaches a browser, so every
check is a bounded, linear one and every failure is :class:`UpstreamInvalidResponse`: JSON
that is not strictly RFC 8259 (NaN, duplicate keys, invalid UTF-8, nesting deep enough to
exhaust the recursion limit), a token that is not a bearer credential, a ttl outside 1 s ..
24 h, ICE servers a browser would refuse or that are not ICE at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from orga_asgi._errors import UpstreamInvalidResponse

__all__ = [
    "MAX_TTL",
    "ClientSecrets",
    "check_content_type",
    "parse_ice_servers",
    "parse_token",
]

MAX_TTL = 24 * 3600  # seconds; a "short-lived" token living longer is not Orga's answer
_MAX_TOKEN = 8192  # a JWT of a few hundred bytes; it is sent back as a header
# RFC 6750 b64token: what an Authorization: Bearer header may carry. Linear: one class,
# then "=", which the class does not contain.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_ICE_SCHEMES = frozenset({"stun", "stuns", "turn", "turns"})  # RFC 7064, RFC 7065
_MAX_SERVERS = 32  # every TURN server costs the browser allocations: more is a DoS on it
_MAX_URLS = 32
_MAX_URL = 2048
_MAX_FIELD = 4096  # username, credential


@dataclass(frozen=True)
class ClientSecrets:
    """What one exchange produced: the token and the ICE servers that belong to it.

    Attributes:
        ephemeral_token: the short-lived token for the browser (a secret: not in repr).
        ice_servers: RTCIceServer dictionaries, TURN credentials included.
        ttl: the token's lifetime in seconds, when the upstream said.
        expires_at: when the token expires (UTC), when the upstream gave a ttl.
    """

    ephemeral_token: str = field(repr=False)
    ice_servers: list[dict[str, Any]] = field(repr=False)
    ttl: int | None = None
    expires_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"ClientSecrets(ephemeral_token=<redacted>, ice_servers=<{len(self.ice_servers)}>,"
            f" ttl={self.ttl!r}, expires_at={self.expires_at!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The camelCase body browsers and the vendor SDKs expect."""
        body: dict[str, Any] = {
            "ephemeralToken": self.ephemeral_token,
            "iceServers": self.ice_servers,
        }
        if self.ttl is not None and self.expires_at is not None:
            body["ttl"] = self.ttl
            body["expiresAt"] = self.expires_at.isoformat().replace("+00:00", "Z")
        return body


def _invalid(detail: str) -> NoReturn:
    raise UpstreamInvalidResponse(detail)


def _no_constant(name: str) -> NoReturn:
    raise ValueError("NaN and Infinity are not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers (a proxy's, ours) may pick different values for a repeated key.
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("duplicate key")
    return data


_decode = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant).decode


def _json_object(body: bytes, route: str) -> dict[str, Any]:
    try:
        # Strict UTF-8 (RFC 8259 section 8.1): json.loads(bytes) would accept UTF-16 and
        # let lone surrogates through, which some JSON encoders downstream refuse.
        data = _decode(body.decode("utf-8"))
    except (ValueError, RecursionError):
        # ValueError: bad JSON, bad UTF-8, an integer past the 4300-digit limit.
        _invalid(f"{route}: body is not JSON")
    if not isinstance(data, dict):
        _invalid(f"{route}: body is not a JSON object")
    return data


def check_content_type(content_type: str | None, route: str) -> None:
    """Refuse a 2xx that says it is not JSON: a captive portal, a CDN's or a proxy's page,
    a ``base_url`` pointing at a website. No ``Content-Type`` at all is tolerated."""
    if not content_type or content_type == "application/json":  # the usual answer: at once
        return
    media = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        _invalid(f"{route}: the body is not declared as JSON")


def parse_token(body: bytes) -> tuple[str, int | None]:
    """Read ``ephemeralToken``/``ephemeral_token`` and an optional ``ttl`` (seconds)."""
    data = _json_object(body, "client-secrets")
    if "ephemeralToken" in data:
        token = data["ephemeralToken"]
        if "ephemeral_token" in data and data["ephemeral_token"] != token:
            _invalid("client-secrets: two different tokens")
    else:
        token = data.get("ephemeral_token")
    if (
        not isinstance(token, str)
        or not 0 < len(token) <= _MAX_TOKEN
        or _B64TOKEN.fullmatch(token) is None
    ):
        _invalid("client-secrets: missing or invalid token")
    ttl = data.get("ttl")
    if ttl is not None and (
        isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL
    ):
        _invalid(f"client-secrets: ttl is not an integer from 1 to {MAX_TTL}")
    return token, ttl


def parse_ice_servers(body: bytes) -> list[dict[str, Any]]:
    """Validate ``iceServers`` as RTCIceServer dictionaries, keeping the known members."""
    servers = _json_object(body, "ice-config").get("iceServers")
    if not isinstance(servers, list) or len(servers) > _MAX_SERVERS:
        _invalid("ice-config: iceServers is not a list of at most 32 servers")
    return [_ice_server(server) for server in servers]


def _ice_server(server: object) -> dict[str, Any]:
    if not isinstance(server, dict):
        _invalid("ice-config: an ICE server is not an object")
    urls = server.get("urls")
    listed = [urls] if isinstance(urls, str) else urls
    if not isinstance(listed, list) or not 0 < len(listed) <= _MAX_URLS:
        _invalid("ice-config: urls is not a string or a list of 1 to 32 strings")
    clean = [_ice_url(url) for url in listed]
    turn = False
    for url in clean:  # a loop, not any() over a generator: this runs on every mint
        if url.startswith("turn"):
            turn = True
            break
    entry: dict[str, Any] = {"urls": clean[0] if isinstance(urls, str) else clean}
    for key in ("username", "credential"):
        if key in server:
            value = server[key]
            if not isinstance(value, str) or len(value) > _MAX_FIELD or not value.isprintable():
                _invalid(f"ice-config: {key} is not a printable string")
            entry[key] = value
    # A browser refuses the whole configuration (InvalidAccessError) for a TURN server
    # without both, so it would fail in the client instead of here.
    if turn and not ("username" in entry and "credential" in entry):
        _invalid("ice-config: a TURN server lacks username or credential")
    return entry


def _ice_url(url: object) -> str:
    if (
        not isinstance(url, str)
        or not 0 < len(url) <= _MAX_URL
        or not url.isascii()
        or not url.isprintable()
        or " " in url
    ):
        _invalid("ice-config: an ICE url is not a printable ASCII string")
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not colon or not rest or scheme not in _ICE_SCHEMES:
        # javascript:, https:, data: ... would reach RTCPeerConnection or worse.
        _invalid("ice-config: an ICE url is not stun:, stuns:, turn: or turns:")
    # Scheme matching is case-insensitive (RFC 3986 section 3.1); not every client's is.
    return f"{scheme}:{rest}"
