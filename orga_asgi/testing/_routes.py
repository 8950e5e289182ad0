"""FakeOrga's routing: one table (:data:`ROUTES`), the dispatch and the route handlers.

Each row is a path, the route's name (what ``fail()`` and ``calls_to()`` take), the one
method it answers, its handler and the plausible body a dropped answer is cut from. A new
upstream route is one row plus one handler.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import anyio

from orga_asgi._keys.check import fingerprint
from orga_asgi._types import Receive, Scope, Send

from . import _asgi
from ._faults import FaultQueues, answer
from ._recording import RecordedCall, recording, remember
from ._sdp import answer_for
from ._state import DEFAULT_TTL, TOKEN_KEYS, FakeState

__all__ = ["MINT_PATH", "PATHS", "ROUTES", "FaultRoute", "Route", "serve"]

FaultRoute = Literal["client-secrets", "ice-config", "calls"]

_STUN = {"urls": "stun:stun.fake-orga.test:3478"}
_TURN_URLS = [
    "turn:turn.fake-orga.test:3478?transport=udp",
    "turn:turn.fake-orga.test:3478?transport=tcp",
]

Handler = Callable[[FakeState, RecordedCall, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    """One upstream route of the fake."""

    name: FaultRoute
    method: str
    handler: Handler
    # A plausible 2xx answer, so the half a dropped response sends is cut mid-JSON as a
    # real one would be.
    drop_body: bytes


async def serve(
    state: FakeState, faults: FaultQueues, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve one ASGI connection (http and lifespan; anything else is ignored)."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _asgi.lifespan(receive, send)
        return
    body = await _asgi.read_body(receive)
    # Raw scope only: load runs push thousands of requests/s through this function.
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    method, path = scope["method"], scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    used = None
    if path == MINT_PATH and authorization is not None:
        presented = _asgi.bearer(authorization)
        used = fingerprint(presented) if presented else None
    call = RecordedCall(method, path, query, authorization, body, used)
    state.calls.append(call)

    route = ROUTES.get(path)
    if route is None:
        await _asgi.send_json(send, 404, {"error": "Not Found"})
        return
    if method != route.method:
        extra = [(b"allow", route.method)]
        await _asgi.send_json(send, 405, {"error": "Method Not Allowed"}, extra)
        return

    fault = faults.take(route.name)
    if fault is not None:
        if fault.delay:
            await anyio.sleep(fault.delay)
        if fault.response is not None:
            await answer(send, fault.response, fault.drop)
            return
    await route.handler(state, call, send)


async def _mint(state: FakeState, call: RecordedCall, send: Send) -> None:
    api_key = _asgi.bearer(call.authorization)
    if not state.accepts(api_key):
        await _asgi.send_json(send, 401, {"error": "Unauthorized"})
        return
    lifetime = state.ttl if state.ttl is not None else DEFAULT_TTL
    token = state.tokens.mint(state.clock(), lifetime, call.key_fingerprint)
    if recording():  # a leak check is listening: tell it what must never show up
        grant = state.tokens.lookup(token, state.clock())
        remember((token, *state.keys))
        if grant is not None:
            remember((grant.username, grant.credential))
    payload: dict[str, object] = dict.fromkeys(TOKEN_KEYS[state.token_field], token)
    if state.ttl is not None:
        payload["ttl"] = state.ttl
    await _asgi.send_json(send, 200, payload)


async def _ice_config(state: FakeState, call: RecordedCall, send: Send) -> None:
    token = _asgi.bearer(call.authorization)
    grant = None if token is None else state.tokens.lookup(token, state.clock())
    if grant is None:
        await _asgi.send_json(send, 401, {"error": "Unauthorized"})
        return
    turn = {"urls": _TURN_URLS, "username": grant.username, "credential": grant.credential}
    await _asgi.send_json(send, 200, {"iceServers": [_STUN, turn]})


async def _start_call(state: FakeState, call: RecordedCall, send: Send) -> None:
    """Start a session: a token this fake minted, an offer; an SDP answer back. The
    params are recorded with the call (``calls_to("calls")``, its ``body``)."""
    token = _asgi.bearer(call.authorization)
    if token is None or state.tokens.lookup(token, state.clock()) is None:
        await _asgi.send_json(send, 401, {"error": "Unauthorized"})
        return
    try:
        request = json.loads(call.body)
        offer = request["offer"]
        sdp = offer["sdp"]
        valid = offer["type"] == "offer" and isinstance(request.get("params", {}), dict)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid or not isinstance(sdp, str) or not sdp.startswith("v=0"):
        await _asgi.send_json(send, 400, {"error": "Bad Request"})
        return
    answer = {"sdp": answer_for(sdp), "type": "answer"}
    conversation = "conv_" + secrets.token_hex(12)
    await _asgi.send_json(send, 200, {"conversation_id": conversation, "answer": answer})


# path -> route; FakeOrga answers nothing else (404), and each route one method (405).
ROUTES: dict[str, Route] = {
    "/v1/realtime/client-secrets": Route(
        "client-secrets",
        "POST",
        _mint,
        b'{"ephemeral_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9","ttl":120}',
    ),
    "/v1/realtime/ice-config": Route(
        "ice-config",
        "GET",
        _ice_config,
        b'{"iceServers":[{"urls":"stun:stun.fake-orga.test:3478"}]}',
    ),
    "/v1/realtime/calls": Route(
        "calls",
        "POST",
        _start_call,
        b'{"conversation_id":"conv_0","answer":{"sdp":"v=0\\r\\n","type":"answer"}}',
    ),
}
PATHS: dict[str, str] = {route.name: path for path, route in ROUTES.items()}
MINT_PATH = PATHS["client-secrets"]
