"""A syntactically valid SDP answer to a browser's offer, for FakeOrga's ``calls`` route.

Enough for ``RTCPeerConnection.setRemoteDescription()`` to accept it (Chromium checks the
answer against its offer: the same m-lines, in order, with their mids, a BUNDLE group over
accepted ones, ICE credentials, a DTLS fingerprint and role, rtcp-mux); no media ever flows,
since nobody answers ICE. Each audio or video section keeps the offer's first codec.
"""

from __future__ import annotations

import os
import secrets

__all__ = ["answer_for"]

_CRLF = "\r\n"
# What the answerer echoes of a codec, besides its rtpmap.
_CODEC_ATTRIBUTES = ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")
_DIRECTION = {
    "sendrecv": "recvonly",
    "sendonly": "recvonly",
    "recvonly": "inactive",
    "inactive": "inactive",
}


def _sections(offer: str) -> list[list[str]]:
    """The offer's media sections, each its lines from ``m=`` on (session lines dropped)."""
    sections: list[list[str]] = []
    for line in offer.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            sections.append([line])
        elif sections and line:
            sections[-1].append(line)
    return sections


def _attribute(lines: list[str], name: str) -> str | None:
    prefix = f"a={name}:"
    return next((line[len(prefix) :] for line in lines if line.startswith(prefix)), None)


def answer_for(offer: str) -> str:
    """An SDP answer (``\\r\\n`` line ends) accepting every m-line the offer did not reject."""
    ufrag = secrets.token_hex(4)
    pwd = secrets.token_hex(12)
    fingerprint = ":".join(f"{b:02X}" for b in os.urandom(32))
    session_id = int.from_bytes(os.urandom(7), "big")
    media: list[str] = []
    accepted: list[str] = []
    for index, lines in enumerate(_sections(offer)):
        kind, port, proto, *formats = lines[0][2:].split(" ")
        mid = _attribute(lines, "mid") or str(index)
        if port == "0" or not formats:  # rejected in the offer: rejected in the answer
            media += [f"m={kind} 0 {proto} {formats[0] if formats else '0'}", f"a=mid:{mid}"]
            continue
        accepted.append(mid)
        chosen = formats[0]
        media += [f"m={kind} 9 {proto} {chosen}", "c=IN IP4 0.0.0.0", f"a=mid:{mid}"]
        media += [f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}"]
        media += [f"a=fingerprint:sha-256 {fingerprint}", "a=setup:active"]
        if kind == "application":
            media += ["a=sctp-port:5000", "a=max-message-size:262144"]
            continue
        offered = next((d for d in _DIRECTION if f"a={d}" in lines), "sendrecv")
        media += [f"a={_DIRECTION[offered]}", "a=rtcp-mux"]
        media += [
            line
            for line in lines
            if line.startswith(_CODEC_ATTRIBUTES) and line.split(":", 1)[1].startswith(chosen + " ")
        ]
    head = ["v=0", f"o=- {session_id} 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    if accepted:
        head.append("a=group:BUNDLE " + " ".join(accepted))
    return _CRLF.join(head + media) + _CRLF
