"""The browser's session request to the relay, checked before anything is redeemed.

``{"offer": {"sdp", "type": "offer", "candidates"?}, "params": {...}}``, strict JSON
(RFC 8259: no NaN, no duplicate keys, UTF-8); every member of the offer is checked and
copied, nothing else is kept (``params`` goes to the policy, which drops what it does not
know). Every check is linear in the body's size; the body is capped before it is read.
Orga's answer is checked on the upstream side (:mod:`orga_asgi._upstream.sessions`).
"""

from __future__ import annotations

from typing import Any, NamedTuple, NoReturn

from orga_asgi._errors import InvalidRequestBody
from orga_asgi._strict_json import loads

__all__ = ["SDP_START", "SessionRequest", "is_sdp", "parse_request"]

_MAX_CANDIDATES = 256
_MAX_CANDIDATE = 1024  # one a=candidate line: far shorter in practice
_MAX_ID = 256  # sdpMid, usernameFragment


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        data = loads(body)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, too deep, a huge integer
        return None
    return data if isinstance(data, dict) else None


class SessionRequest(NamedTuple):
    """A checked session request: the offer as it is sent on, the params for the policy."""

    offer: dict[str, Any]
    params: dict[str, Any]


def _bad(detail: str) -> NoReturn:
    raise InvalidRequestBody(detail)


SDP_START = "v=0"


def is_sdp(value: object) -> bool:
    """Text that starts as every SDP does (RFC 8866: ``v=0`` first) and holds no NUL."""
    return isinstance(value, str) and value.startswith(SDP_START) and "\x00" not in value


def _short(value: object, limit: int = _MAX_ID) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= limit)


def parse_request(body: bytes) -> SessionRequest:
    """Check the browser's body.

    Raises:
        InvalidRequestBody: it is not a JSON object of that shape.
    """
    data = _object(body)
    if data is None:
        _bad("the body is not a JSON object")
    offer = data.get("offer")
    if not isinstance(offer, dict) or offer.get("type") != "offer" or not is_sdp(offer.get("sdp")):
        _bad("offer is not {sdp, type: offer}")
    clean: dict[str, Any] = {"sdp": offer["sdp"], "type": "offer"}
    if "candidates" in offer:
        clean["candidates"] = _candidates(offer["candidates"])
    params = data.get("params", {})
    if not isinstance(params, dict):
        _bad("params is not an object")
    return SessionRequest(clean, params)


def _candidates(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > _MAX_CANDIDATES:
        _bad("offer.candidates is not a list of at most 256 candidates")
    out = []
    for item in value:
        # RTCIceCandidateInit: its four members, each optional; nothing else is sent on.
        if not isinstance(item, dict) or not _short(item.get("candidate"), _MAX_CANDIDATE):
            _bad("an offer candidate is not an RTCIceCandidateInit")
        index = item.get("sdpMLineIndex")
        if not (_short(item.get("sdpMid")) and _short(item.get("usernameFragment"))) or not (
            index is None or (type(index) is int and 0 <= index <= 1024)
        ):
            _bad("an offer candidate is not an RTCIceCandidateInit")
        out.append({k: item[k] for k in _CANDIDATE_KEYS if k in item})
    return out


_CANDIDATE_KEYS = ("candidate", "sdpMid", "sdpMLineIndex", "usernameFragment")
