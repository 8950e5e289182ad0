"""Reading answers: the token body as the vendor SDK reads it, secret-looking text, headers.

Nothing here returns text taken from a token answer: tokens, TURN credentials and ICE URLs are
described by shape and count only. Every scan is linear: one ``re.split`` on a single
character class, then plain string methods per word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

__all__ = [
    "RATE_LIMIT_HEADERS",
    "REQUEST_ID_HEADERS",
    "TokenBody",
    "carries_token",
    "directives",
    "error_code",
    "present",
    "read_token_body",
    "secret_findings",
    "show",
    "token_shape",
]

RATE_LIMIT_HEADERS = (
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "retry-after",
)
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "x-amzn-requestid",
    "x-amz-cf-id",
    "cf-ray",
    "fly-request-id",
    "x-vercel-id",
    "x-cloud-trace-context",
    "traceparent",
)
# Text only an upstream answer, a stack trace or the exchange's internals would put in a body.
_UPSTREAM_MARKERS = (
    "orga-ai.com",
    "/v1/realtime",
    "ice-config",
    "ephemeral_token",
    "traceback (most recent call last)",
    "node_modules",
    "\n    at ",
    "econnrefused",
    "fetch failed",
)
_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
_NOT_WORD = re.compile(r"[^A-Za-z0-9._~+/=-]+")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_MIN_SECRET = 8  # shorter "known secrets" would match ordinary words


def show(value: str | None, limit: int = 60) -> str:
    """Server-chosen header text fit to print: printable ASCII only, bounded."""
    if value is None:
        return "absent"
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in value[:limit])
    return cleaned + ("..." if len(value) > limit else "")


def directives(value: str | None) -> set[str]:
    """The directive names of a ``Cache-Control``-like header, lowercased."""
    if not value:
        return set()
    return {part.partition("=")[0].strip().lower() for part in value.split(",")}


def token_shape(token: str) -> str:
    """What a token looks like, never what it is: its class and length."""
    if token.startswith("sk_orga_ai_"):
        return f"an Orga API key (sk_orga_ai_..., {len(token)} chars)"
    parts = token.split(".")
    if len(parts) == 3 and token.startswith("eyJ") and all(parts):
        return f"JWT-shaped, {len(token)} chars"
    return f"opaque, {len(token)} chars"


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def error_code(body: bytes) -> str:
    """`` (error: code)`` for a JSON error whose ``error`` is a short code, else ``""``."""
    data = _json(body)
    code = data.get("error") if isinstance(data, dict) else None
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code) and not secret_findings(code):
        return f" (error: {code})"
    return ""


def carries_token(body: bytes) -> str | None:
    """The shape of the token a body carries (either spelling), or ``None``."""
    data = _json(body)
    if not isinstance(data, dict):
        return None
    for key in ("ephemeralToken", "ephemeral_token"):
        token = data.get(key)
        if isinstance(token, str) and token:
            return token_shape(token)
    return None


@dataclass(slots=True)
class TokenBody:
    """A 200 body read as the vendor SDK reads it."""

    problems: list[str] = field(default_factory=list)  # the SDK or WebRTC would refuse it
    warnings: list[str] = field(default_factory=list)
    summary: str = ""
    secrets: set[str] = field(default_factory=set)  # token and TURN credentials, to look for


def read_token_body(body: bytes, truncated: bool) -> TokenBody:
    """Check ``ephemeralToken`` and ``iceServers`` (RTCIceServer dictionaries)."""
    result = TokenBody()
    data = _json(body) if not truncated else None
    if not isinstance(data, dict):
        why = "is over 64 KiB" if truncated else "is not a JSON object"
        result.problems.append(f"the body {why}")
        return result
    token, servers = data.get("ephemeralToken"), data.get("iceServers")
    if isinstance(token, str) and token:
        result.secrets.add(token)
        shape = token_shape(token)
        if token.startswith("sk_orga_ai_"):
            result.problems.append(f"ephemeralToken is {shape}: the route hands out its API key")
    else:
        shape = "missing"
        snake = (
            " (only ephemeral_token, the upstream's spelling)" if "ephemeral_token" in data else ""
        )
        result.problems.append(f"ephemeralToken is not a non-empty string{snake}")
    if not isinstance(servers, list):
        result.problems.append("iceServers is not a list")
        result.summary = f"ephemeralToken {shape}"
        return result
    kinds = {"stun": 0, "turn": 0}
    for index, server in enumerate(servers[:50]):
        _read_ice_server(index, server, kinds, result)
    if not servers:
        result.warnings.append("iceServers is empty: peers behind NAT cannot connect")
    result.summary = (
        f"ephemeralToken {shape}; {len(servers)} ICE server(s): "
        f"{kinds['stun']} stun, {kinds['turn']} turn URL(s)"
    )
    return result


def _read_ice_server(index: int, server: object, kinds: dict[str, int], out: TokenBody) -> None:
    # RTCPeerConnection throws on a bad URL scheme (SyntaxError) and on a turn: URL without
    # username and credential (InvalidAccessError): the session would never start.
    if not isinstance(server, dict):
        out.problems.append(f"iceServers[{index}] is not an object")
        return
    urls = server.get("urls")
    url_list = [urls] if isinstance(urls, str) else urls
    if not isinstance(url_list, list) or not url_list:
        out.problems.append(f"iceServers[{index}].urls is not a string or a list of strings")
        return
    needs_credentials = False
    for url in url_list[:50]:
        if not isinstance(url, str) or not url.lower().startswith(_ICE_SCHEMES):
            out.problems.append(f"iceServers[{index}] has a URL that is not stun:/turn:")
            continue
        kind = "turn" if url.lower().startswith("turn") else "stun"
        kinds[kind] += 1
        needs_credentials |= kind == "turn"
    for name in ("username", "credential"):
        value = server.get(name)
        if value is None:
            if needs_credentials:
                out.problems.append(f"iceServers[{index}] has a turn: URL but no {name}")
        elif not isinstance(value, str):
            out.problems.append(f"iceServers[{index}].{name} is not a string")
        elif len(value) >= _MIN_SECRET:
            out.secrets.add(value)


def secret_findings(text: str, known: Iterable[str] = ()) -> list[str]:
    """Names of what in ``text`` looks secret or upstream-made; never the text itself."""
    found: list[str] = []
    if "sk_orga_ai_" in text:
        found.append("an Orga API key (sk_orga_ai_...)")
    words = _NOT_WORD.split(text)
    for word in words:
        start = word.find("eyJ")
        if start >= 0:
            segments = word[start:].split(".")
            if len(segments) >= 3 and all(segments[:3]):
                found.append("a JWT-shaped string")
                break
    for word, after in zip(words, [*words[1:], ""], strict=True):
        if word.lower() == "bearer" and len(after) >= 16:
            found.append("a Bearer credential")
            break
    if any(secret in text for secret in known if len(secret) >= _MIN_SECRET):
        found.append("a credential doctor sent or received")
    lowered = text.lower()
    found += [
        f"upstream or internal text ({marker.strip()!r})"
        for marker in _UPSTREAM_MARKERS
        if marker in lowered
    ]
    return found


def present(headers: httpx.Headers, names: Iterable[str]) -> list[str]:
    """The ones of ``names`` present in ``headers``."""
    return [name for name in names if name in headers]
