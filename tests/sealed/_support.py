"""Helpers of the sealed-session tests: a browser's offer, an app serving both routes, and
the two requests a browser makes (mint, then start through the relay)."""

from __future__ import annotations

from typing import Any

import httpx

from orga_asgi import OrgaClientSecrets, OrgaMiddleware
from orga_asgi.testing import FakeOrga
from orga_asgi.testing._recording import remember
from tests._support import make_endpoint

TOKEN_ROUTE = "/api/orga-client-secrets"
RELAY = "/api/orga/v1/realtime/calls"

# What Chromium 14x offers for one audio transceiver and a data channel (its createOffer()).
OFFER_SDP = (
    "v=0\r\no=- 7161294330057421734 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:cFl+\r\na=ice-pwd:eBd3Htbn/vjC/eMaKQbZW2ON\r\n"
    "a=ice-options:trickle\r\na=fingerprint:sha-256 27:9A:DC:D3:C5:42:50:C4:97:E9:A2:30:8C:"
    "AE:43:A2:05:D5:1F:B3:91:ED:50:C7:58:BC:5F:B1:81:E0:CD:05\r\na=setup:actpass\r\n"
    "a=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:cFl+\r\na=ice-pwd:eBd3Htbn/vjC/eMaKQbZW2ON\r\na=ice-options:trickle\r\n"
    "a=setup:actpass\r\na=mid:1\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n"
)
# What the vendor's @orga-ai/core sends: every param, its defaults filled in.
SDK_PARAMS: dict[str, Any] = {
    "voice": "Sofía",
    "model": "orga-1-beta",
    "temperature": 0.5,
    "return_transcription": False,
    "instructions": None,
    "modalities": ["audio", "video"],
    "history": True,
}


def session_body(**params: Any) -> dict[str, Any]:
    """The vendor SDK's body for ``/v1/realtime/calls``, ``params`` over its defaults."""
    candidate = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.4 50000 typ host",
                 "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "cFl+"}  # fmt: skip
    offer = {"sdp": OFFER_SDP, "type": "offer", "candidates": [candidate]}
    return {"offer": offer, "params": {**SDK_PARAMS, **params}}


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def sealed_app(fake: FakeOrga, **options: Any) -> tuple[OrgaMiddleware, OrgaClientSecrets]:
    """``OrgaMiddleware`` serving a sealed endpoint against ``fake`` in front of a 404 app."""
    endpoint = make_endpoint(fake, **{"sealed": True, **options})
    return OrgaMiddleware(_not_found, endpoint=endpoint), endpoint


async def mint(client: httpx.AsyncClient, **kwargs: Any) -> str:
    """Mint through the token route; the handle, registered with the leak guard."""
    response = await client.post(TOKEN_ROUTE, **kwargs)
    assert response.status_code == 200, response.text
    handle = response.json()["ephemeralToken"]
    remember((handle,))  # a credential: it may show in a 200 body, nowhere else
    return str(handle)


async def start(
    client: httpx.AsyncClient, handle: str | None, body: Any = None, **kwargs: Any
) -> httpx.Response:
    """The browser's ``POST {baseUrl}/v1/realtime/calls`` to the relay."""
    headers = {"authorization": f"Bearer {handle}"} if handle is not None else {}
    headers.update(kwargs.pop("headers", {}))
    return await client.post(
        RELAY, json=session_body() if body is None else body, headers=headers, **kwargs
    )
