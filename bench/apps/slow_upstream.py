"""Slow upstream for the latency regime when nginx's echo module is not installed.

Answers the same routes, bodies and 4xx as ``upstream.conf.in`` after ``DELAY`` seconds per
call (a timer per request, not a sleeping task), plus ``/nginx_status`` in stub_status format
so run.py reads its counters the same way. Standard library (uvloop when importable), HTTP/1.1
keep-alive, loopback only; ``PORT`` and ``DELAY`` come from the environment.
"""

from __future__ import annotations

import asyncio
import json
import os

from _common import API_KEY, CALLS_ANSWER, CLIENT_SECRETS, ICE_CONFIG

DELAY = float(os.environ.get("DELAY", "0.1"))
STATS = {"accepts": 0, "requests": 0, "active": 0}


def _body(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


ROUTES = {
    "/v1/realtime/client-secrets": _body(CLIENT_SECRETS),
    "/v1/realtime/ice-config": _body(ICE_CONFIG),
    "/v1/realtime/calls": _body(CALLS_ANSWER),
}


def _response(status: int, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""
        STATS["accepts"] += 1
        STATS["active"] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        STATS["active"] -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            size = int(headers.get("content-length", "0"))
            if len(rest) < size:
                return  # the body is still coming
            self.buf = rest[size:]
            STATS["requests"] += 1
            self.answer(method, path, headers.get("authorization", ""))

    def answer(self, method: str, path: str, auth: str) -> None:
        if path == "/nginx_status":
            text = (
                f"Active connections: {STATS['active']}\nserver accepts handled requests\n"
                f" {STATS['accepts']} {STATS['accepts']} {STATS['requests']} \n"
            )
            self.transport.write(_response(200, text.encode()))
            return
        body = ROUTES.get(path)
        if body is None:
            out = _response(404, b'{"error":{"message":"not found"}}')
        elif path != "/v1/realtime/ice-config" and method != "POST":
            out = _response(405, b'{"error":{"message":"Method not allowed"}}')
        elif path == "/v1/realtime/client-secrets" and auth != f"Bearer {API_KEY}":
            out = _response(401, b'{"error":{"message":"Incorrect API key"}}')
        elif path != "/v1/realtime/client-secrets" and not auth.startswith("Bearer eyJ"):
            out = _response(401, b'{"error":{"message":"Invalid ephemeral token"}}')
        else:
            out = _response(200, body)
        # Responses leave in request order: every one waits the same DELAY.
        asyncio.get_running_loop().call_later(DELAY, self._send, out)

    def _send(self, out: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(out)


async def main() -> None:
    port = int(os.environ["PORT"])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
