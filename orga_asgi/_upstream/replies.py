"""What the two upstream calls answer, validated into :class:`ClientSecrets`.

Everything here reads bytes the upstream chose, and the result reaches a browser, so every
check is a bounded, linear one and every failure is :class:`UpstreamInvalidResponse`: JSON
that is not strictly RFC 8259 (NaN, duplicate keys, invalid UTF-8, nesting deep enough to
exhaust the recursion limit), a token that is not a bearer credential, a ttl outside 1 s ..
24 h, ICE servers a browser would refuse or that are not ICE at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from orga_asgi._errors import UpstreamInvalidResponse
from orga_asgi._strict_json import loads, parse, unique_keys

__all__ = [
    "MAX_TTL",
    "ClientSecrets",
    "check_content_type",
    "parse_ice_servers",
    "parse_token",
    "strict_object",
]

MAX_TTL = 24 * 3600  # seconds; a "short-lived" token living longer is not Orga's answer
_MAX_TOKEN = 8192  # a JWT of a few hundred bytes; it is sent back as a header
# RFC 6750 b64token: what an Authorization: Bearer header may carry. Linear: one class,
# then "=", which the class does not contain.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# An ICE url as browsers take it: stun:, stuns:, turn: or turns: (RFC 7064, RFC 7065), then
# printable ASCII with no space. Linear: fixed words, then one class.
_ICE_URL = re.compile(r"(?:stuns?|turns?):[!-~]+")
# Any case of the scheme; ASCII folding only (Unicode's would let "\u017f" pass as "s").
_ICE_URL_ANY_CASE = re.compile(r"(stuns?|turns?)(:[!-~]+)", re.ASCII | re.IGNORECASE)
_CREDENTIALS = ("username", "credential")
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


_NOT_JSON = object()


def _json_object(body: bytes, route: str) -> tuple[dict[str, Any], str]:
    """The body's JSON object and its text; repeated keys are ruled out with
    :func:`~orga_asgi._strict_json.unique_keys` once the caller has counted the keys it read."""
    try:
        data, text = parse(body)
    except (ValueError, RecursionError):
        # ValueError: bad JSON, bad UTF-8, an integer past the 4300-digit limit.
        data, text = _NOT_JSON, ""
    if type(data) is not dict:
        _not_an_object(data, route)
    return data, text


def _not_an_object(data: object, route: str) -> NoReturn:
    # Raised here, outside the parser's handler: a JSONDecodeError holds the whole body
    # (.doc), which must not ride along as this exception's __context__.
    if data is _NOT_JSON:
        _invalid(f"{route}: body is not JSON")
    _invalid(f"{route}: body is not a JSON object")


def _repeated(route: str) -> NoReturn:
    _invalid(f"{route}: body is not JSON (a key repeats)")


def strict_object(body: bytes, route: str) -> dict[str, Any]:
    """The body as one strict JSON object (repeated keys refused as it is parsed), for an
    answer read once per session rather than on every mint.

    Raises:
        UpstreamInvalidResponse: not strict JSON, or not an object.
    """
    try:
        data = loads(body)
    except (ValueError, RecursionError):
        data = _NOT_JSON
    if type(data) is not dict:
        _not_an_object(data, route)
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
    data, text = _json_object(body, "client-secrets")
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
    if not unique_keys(text, len(data)):
        _repeated("client-secrets")
    return token, ttl


def parse_ice_servers(body: bytes) -> list[dict[str, Any]]:
    """Validate ``iceServers`` as RTCIceServer dictionaries, keeping the known members."""
    data, text = _json_object(body, "ice-config")
    servers = data.get("iceServers")
    if not isinstance(servers, list) or len(servers) > _MAX_SERVERS:
        _invalid("ice-config: iceServers is not a list of at most 32 servers")
    # A loop rather than a comprehension: this runs on every mint, and a comprehension is
    # a frame of its own (before Python 3.12).
    clean = []
    keys = len(data)
    for server in servers:
        clean.append(_ice_server(server))
        keys += len(server)  # a dict by now
    if not unique_keys(text, keys):
        _repeated("ice-config")
    return clean


def _ice_server(server: object) -> dict[str, Any]:
    if not isinstance(server, dict):
        _invalid("ice-config: an ICE server is not an object")
    urls = server.get("urls")
    single = isinstance(urls, str)
    listed = [urls] if single else urls
    if not isinstance(listed, list) or not 0 < len(listed) <= _MAX_URLS:
        _invalid("ice-config: urls is not a string or a list of 1 to 32 strings")
    clean: list[str] = []
    turn = False
    for url in listed:
        # One C call for the usual spelling (lowercase scheme); anything else is checked,
        # and its scheme lowercased, by _ice_url.
        if type(url) is not str or len(url) > _MAX_URL or _ICE_URL.fullmatch(url) is None:
            url = _ice_url(url)
        clean.append(url)
        if url[0] == "t":  # turn: or turns: (the scheme is lowercase by now)
            turn = True
    entry: dict[str, Any] = {"urls": clean[0] if single else clean}
    for key in _CREDENTIALS:
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
    """``url`` checked as :data:`_ICE_URL` checks it, in any case (RFC 3986 section 3.1:
    schemes are case-insensitive; not every client's matching is), scheme lowercased."""
    if not isinstance(url, str) or len(url) > _MAX_URL:
        _invalid("ice-config: an ICE url is not a printable ASCII string")
    found = _ICE_URL_ANY_CASE.fullmatch(url)
    if found is None:
        if not url.isascii() or not url.isprintable() or " " in url:
            _invalid("ice-config: an ICE url is not a printable ASCII string")
        # javascript:, https:, data: ... would reach RTCPeerConnection or worse.
        _invalid("ice-config: an ICE url is not stun:, stuns:, turn: or turns:")
    return found[1].lower() + found[2]
