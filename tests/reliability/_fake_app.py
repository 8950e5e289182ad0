"""FakeOrga as a separate server process, with deterministic faults driven over HTTP.

``python -m uvicorn _fake_app:app``. A process of its own cannot be driven by Python calls, so
two control routes stand beside the Orga routes:

* ``POST /_control?fail_every=N&delay=S``: from now on every N-th upstream call (0: none)
  fails with the next kind of :data:`KINDS`, and client-secrets calls wait S seconds first;
  resets the counters.
* ``GET /_stats``: ``{"calls": n, "injected": {kind: n}}``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from urllib.parse import parse_qs

from orga_asgi.testing import FakeOrga

# Transient faults retries should hide (502/503/504) and a few they must not (500, 429, a
# connection cut mid-body): every one that surfaces must be a mapped JSON error.
KINDS: tuple[int | str, ...] = (503, 502, 504, 503, 500, 502, 504, 429, 503, "drop")
_UPSTREAM = ("/v1/realtime/client-secrets", "/v1/realtime/ice-config")


class Chaos:
    def __init__(self) -> None:
        self.fake = FakeOrga()
        self.fail_every = 0
        self.delay = 0.0
        self.calls = 0
        self.injected: Counter[str] = Counter()

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.fake(scope, receive, send)
            return
        path = scope["path"]
        if path == "/_control":
            query = parse_qs(scope["query_string"].decode())
            self.fail_every = int(query.get("fail_every", ["0"])[0])
            self.delay = float(query.get("delay", ["0"])[0])
            self.calls = 0
            self.injected.clear()
            await _json(send, 200, {"ok": True})
            return
        if path == "/_stats":
            await _json(send, 200, {"calls": self.calls, "injected": dict(self.injected)})
            return
        if path not in _UPSTREAM:
            await self.fake(scope, receive, send)
            return
        self.calls += 1
        number = self.calls
        if self.delay and path == _UPSTREAM[0]:
            await asyncio.sleep(self.delay)
        if self.fail_every and number % self.fail_every == 0:
            kind = KINDS[(number // self.fail_every) % len(KINDS)]
            self.injected[str(kind)] += 1
            await _drain(receive)
            if kind == "drop":
                body = b'{"iceServers":[{"urls":"stun:stun.fake-orga.test:3478"}]}'
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body[:20], "more_body": True})
                raise ConnectionResetError("injected: connection cut mid-body")
            await _json(send, int(kind), {"error": "injected"})
            return
        await self.fake(scope, receive, send)


async def _drain(receive):  # type: ignore[no-untyped-def]
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _json(send, status, payload):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = Chaos()
