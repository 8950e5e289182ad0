"""FakeOrga: the upstream routes of the Orga wire contract, in-process.

Routing is one table (:data:`_ROUTES`): a path, the route's name (what ``fail()`` and
``calls_to()`` take), the one method it answers, its handler and the plausible body a
dropped answer is cut from. A new upstream route is one row plus one handler method.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import anyio

from orga_asgi._keys.check import fingerprint
from orga_asgi._types import Receive, Scope, Send

from . import _asgi
from ._faults import FaultQueues, answer, build_fault
from ._recording import RecordedCall, recording, remember
from ._sdp import answer_for
from ._tokens import TokenStore

__all__ = ["FAKE_API_KEY", "FAKE_BASE_URL", "FakeOrga", "FaultRoute", "TokenField"]

FAKE_API_KEY = "sk_orga_ai_test"
FAKE_BASE_URL = "https://fake-orga.test"

TokenField = Literal["both", "ephemeralToken", "ephemeral_token"]
FaultRoute = Literal["client-secrets", "ice-config", "calls"]

_DEFAULT_TTL = 120
# token_field -> the mint response keys carrying the token
_TOKEN_KEYS: dict[str, tuple[str, ...]] = {
    "both": ("ephemeral_token", "ephemeralToken"),
    "ephemeralToken": ("ephemeralToken",),
    "ephemeral_token": ("ephemeral_token",),
}
_STUN = {"urls": "stun:stun.fake-orga.test:3478"}
_TURN_URLS = [
    "turn:turn.fake-orga.test:3478?transport=udp",
    "turn:turn.fake-orga.test:3478?transport=tcp",
]

Handler = Callable[["FakeOrga", RecordedCall, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Route:
    name: FaultRoute
    method: str
    handler: Handler
    # A plausible 2xx answer, so the half a dropped response sends is cut mid-JSON as a
    # real one would be.
    drop_body: bytes


class FakeOrga:
    """An in-process Orga upstream: ``POST /v1/realtime/client-secrets`` and
    ``GET /v1/realtime/ice-config`` and ``POST /v1/realtime/calls`` (a session start: an
    SDP answer to the offer), faithful to both the vendor SDK and the guide.

    Args:
        api_key: The key ``client-secrets`` accepts (as ``Authorization: Bearer``).
        api_keys: Several keys accepted at once (one per tenant, or the old and the new
            one of a rotation), instead of ``api_key``. Change them at runtime with
            :meth:`rotate_key`. Each recorded mint call says which key it used
            (:attr:`RecordedCall.key_fingerprint`), each token which key minted it
            (:meth:`minted_with`).
        token_field: Which token field the mint response carries: ``"both"`` (default),
            ``"ephemeralToken"`` (the guide) or ``"ephemeral_token"`` (the Node SDK).
            Also a settable attribute.
        ttl: Seconds a token lives, sent as ``ttl``. ``None`` omits the field (tokens then
            live 120 s). Also a settable attribute.
        clock: Wall-clock source in seconds; inject one to expire tokens in tests.
        max_tokens: Cap on live tokens held; the oldest are forgotten first.
        max_calls: How many of the most recent calls :attr:`calls` keeps.

    Example:
        >>> fake = FakeOrga()
        >>> fake.fail("ice-config", status=503, headers={"Retry-After": "7"})
    """

    def __init__(
        self,
        *,
        api_key: str = FAKE_API_KEY,
        api_keys: Iterable[str] | None = None,
        token_field: TokenField = "both",  # noqa: S107 - a field name, not a password
        ttl: int | None = _DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
        max_tokens: int = 100_000,
        max_calls: int = 10_000,
    ) -> None:
        keys = [api_key] if api_keys is None else list(api_keys)
        if not keys or not all(isinstance(key, str) and key for key in keys):
            raise ValueError("api_keys must be non-empty strings, at least one")
        self._keys: dict[str, bytes] = {key: key.encode() for key in keys}
        self.token_field = token_field
        self.ttl = ttl
        self._clock = clock
        self._tokens = TokenStore(max_tokens)
        self._calls: deque[RecordedCall] = deque(maxlen=max_calls)
        self._faults = FaultQueues(_PATHS)
        remember(keys)

    def rotate_key(self, new: str, *, revoke: str | None = None) -> None:
        """Accept ``new`` from now on and, if given, stop accepting ``revoke``.

        ``rotate_key(new)`` is the dashboard's "create key" (both keys work meanwhile);
        ``rotate_key(new, revoke=old)`` also revokes the old one: mints with it get 401.
        """
        if not isinstance(new, str) or not new:
            raise ValueError("new must be a non-empty string")
        self._keys[new] = new.encode()
        remember((new,))
        if revoke is not None and revoke != new:
            self._keys.pop(revoke, None)

    @property
    def accepted_keys(self) -> list[str]:
        """The fingerprints of the keys accepted now (never the keys themselves)."""
        return [fingerprint(key) for key in self._keys]

    def minted_with(self, token: str) -> str | None:
        """The fingerprint of the key that minted ``token``, while the fake holds it."""
        grant = self._tokens.lookup(token, self._clock())
        return None if grant is None else grant.key

    @property
    def token_field(self) -> TokenField:
        """The token field(s) the mint response carries; settable at runtime."""
        return self._token_field

    @token_field.setter
    def token_field(self, value: TokenField) -> None:
        if value not in _TOKEN_KEYS:
            raise ValueError(f"token_field must be one of {tuple(_TOKEN_KEYS)}")
        self._token_field = value

    @property
    def ttl(self) -> int | None:
        """Token lifetime in seconds sent as ``ttl``; ``None`` omits it. Settable."""
        return self._ttl

    @ttl.setter
    def ttl(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ValueError("ttl must be a positive number of seconds or None")
        self._ttl = value

    def set_token_field(self, token_field: TokenField) -> None:
        """Switch the mint response shape; same as assigning :attr:`token_field`."""
        self.token_field = token_field

    @property
    def calls(self) -> list[RecordedCall]:
        """A snapshot of the calls received, oldest first (the last ``max_calls``)."""
        return list(self._calls)

    def calls_to(self, route: FaultRoute) -> list[RecordedCall]:
        """The recorded calls to ``"client-secrets"``, ``"ice-config"`` or ``"calls"``."""
        path = _PATHS[route]
        return [call for call in self._calls if call.path == path]

    def issued_secrets(self) -> set[str]:
        """The tokens and TURN credentials this fake has handed out and still holds.

        Leak checks use it: none of these may appear in a log line or an error body.
        """
        return self._tokens.secrets()

    @property
    def token_count(self) -> int:
        """Tokens currently held (expired ones linger until pruned on the next mint)."""
        return len(self._tokens)

    def fail(
        self,
        route: FaultRoute,
        *,
        status: int | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int | None = 1,
    ) -> None:
        """Queue a fault for the next ``times`` requests to ``route``.

        Faults on a route apply in the order queued; wrong-method calls do not consume them.

        Args:
            route: ``"client-secrets"``, ``"ice-config"`` or ``"calls"``.
            status: Answer with this status; the default body is ``{"error": <phrase>}``
                for 4xx/5xx, ``{}`` otherwise.
            body: Raw response body; alone (no ``status``) it comes with a 200, which is how
                to send malformed JSON or a JSON missing required fields.
            headers: Extra response headers, e.g. ``{"Retry-After": "7"}``; they replace
                defaults of the same name.
            delay: Seconds to sleep before answering. Alone, the normal answer follows.
            drop: Start the response (status, default 200) announcing a longer
                ``content-length`` than it sends, send half the body, then raise
                ``ConnectionResetError``: a real server closes the socket mid-body,
                ``httpx.ASGITransport`` hands the exception to the client.
            times: How many requests the fault applies to; ``None`` means until
                :meth:`clear_faults` or :meth:`reset`.

        Raises:
            ValueError: Unknown route, out-of-range argument, or a fault that does nothing.
        """
        if route not in _PATHS:
            raise ValueError(f"route must be one of {tuple(_PATHS)}")
        drop_body = _ROUTES[_PATHS[route]].drop_body
        fault = build_fault(
            status=status,
            body=body,
            headers=headers,
            delay=delay,
            drop=drop,
            times=times,
            drop_body=drop_body,
        )
        self._faults.add(route, fault)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def reset(self) -> None:
        """Forget recorded calls, queued faults and minted tokens."""
        self._calls.clear()
        self.clear_faults()
        self._tokens.clear()

    def __repr__(self) -> str:
        # Never the API key: reprs end up in logs and assertion messages.
        return (
            f"FakeOrga(token_field={self._token_field!r}, ttl={self._ttl!r}, "
            f"calls={len(self._calls)}, tokens={len(self._tokens)})"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (http and lifespan; anything else is ignored)."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _asgi.lifespan(receive, send)
            return
        body = await _asgi.read_body(receive)
        # Raw scope only: load runs push thousands of requests/s through this method.
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        used = None
        if path == _MINT_PATH and authorization is not None:
            presented = _asgi.bearer(authorization)
            used = fingerprint(presented) if presented else None
        call = RecordedCall(method, path, query, authorization, body, used)
        self._calls.append(call)

        route = _ROUTES.get(path)
        if route is None:
            await _asgi.send_json(send, 404, {"error": "Not Found"})
            return
        if method != route.method:
            extra = [(b"allow", route.method)]
            await _asgi.send_json(send, 405, {"error": "Method Not Allowed"}, extra)
            return

        fault = self._faults.take(route.name)
        if fault is not None:
            if fault.delay:
                await anyio.sleep(fault.delay)
            if fault.response is not None:
                await answer(send, fault.response, fault.drop)
                return
        await route.handler(self, call, send)

    def _accepts(self, api_key: str | None) -> bool:
        if api_key is None:
            return False
        given = api_key.encode()
        # Every key compared, in constant time each: which one matched shows in no timing.
        return sum(hmac.compare_digest(given, key) for key in self._keys.values()) > 0

    async def _mint(self, call: RecordedCall, send: Send) -> None:
        api_key = _asgi.bearer(call.authorization)
        if not self._accepts(api_key):
            await _asgi.send_json(send, 401, {"error": "Unauthorized"})
            return
        lifetime = self._ttl if self._ttl is not None else _DEFAULT_TTL
        token = self._tokens.mint(self._clock(), lifetime, call.key_fingerprint)
        if recording():  # a leak check is listening: tell it what must never show up
            grant = self._tokens.lookup(token, self._clock())
            remember((token, *self._keys))
            if grant is not None:
                remember((grant.username, grant.credential))
        payload: dict[str, object] = dict.fromkeys(_TOKEN_KEYS[self._token_field], token)
        if self._ttl is not None:
            payload["ttl"] = self._ttl
        await _asgi.send_json(send, 200, payload)

    async def _ice_config(self, call: RecordedCall, send: Send) -> None:
        token = _asgi.bearer(call.authorization)
        grant = None if token is None else self._tokens.lookup(token, self._clock())
        if grant is None:
            await _asgi.send_json(send, 401, {"error": "Unauthorized"})
            return
        turn = {"urls": _TURN_URLS, "username": grant.username, "credential": grant.credential}
        await _asgi.send_json(send, 200, {"iceServers": [_STUN, turn]})

    async def _start_call(self, call: RecordedCall, send: Send) -> None:
        """Start a session: a token this fake minted, an offer; an SDP answer back. The
        params are recorded with the call (``calls_to("calls")``, its ``body``)."""
        token = _asgi.bearer(call.authorization)
        if token is None or self._tokens.lookup(token, self._clock()) is None:
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
_ROUTES: dict[str, _Route] = {
    "/v1/realtime/client-secrets": _Route(
        "client-secrets",
        "POST",
        FakeOrga._mint,
        b'{"ephemeral_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9","ttl":120}',
    ),
    "/v1/realtime/ice-config": _Route(
        "ice-config",
        "GET",
        FakeOrga._ice_config,
        b'{"iceServers":[{"urls":"stun:stun.fake-orga.test:3478"}]}',
    ),
    "/v1/realtime/calls": _Route(
        "calls",
        "POST",
        FakeOrga._start_call,
        b'{"conversation_id":"conv_0","answer":{"sdp":"v=0\\r\\n","type":"answer"}}',
    ),
}
_PATHS: dict[str, str] = {route.name: path for path, route in _ROUTES.items()}
_MINT_PATH = _PATHS["client-secrets"]
