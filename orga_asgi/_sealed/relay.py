"""The relay: ``POST {relay_prefix}/v1/realtime/calls``, starting a session with the real token.

:meth:`RelayCall.run` is its pipeline; the front stages are the token route's own (the
per-request object of :mod:`orga_asgi._request`), the rest is the relay's::

    method -> preflight -> https -> origin -> body (SDP cap) -> ip_limit
      -> handle (shape) -> session request (shape) -> redeem -> policy
      -> upstream slot + POST /v1/realtime/calls -> answer

Cheap refusals first: a request without a handle-shaped bearer, or with a body that is not
a session request, never reaches the store, so it cannot burn anyone's handle; a handle is
spent by the redeem, whatever follows (a policy refusal, an upstream failure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from orga_asgi._errors import MethodNotAllowed, RelayMethodNotAllowed
from orga_asgi._middleware import answer_lifespan
from orga_asgi._principal import Principal
from orga_asgi._request import Call
from orga_asgi._responses import success_body

from .offer import SessionRequest, parse_request
from .sealer import bearer_handle

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from orga_asgi._request import Route
    from orga_asgi._types import Receive, Scope, Send
    from orga_asgi._upstream import Exchange, UpstreamSlots

    from .handles import Sealed
    from .sealer import Sealer

__all__ = ["Relay", "RelayCall", "RelayRoute"]

_EMPTY = b""


class RelayRoute(NamedTuple):
    """What every relay request of one endpoint shares, besides the token route's
    :class:`~orga_asgi._request.Route`."""

    sealer: Sealer
    exchange: Exchange
    slots: UpstreamSlots
    max_body_size: int


class RelayCall(Call):
    """One relay request: the token route's per-request object, with the relay's stages."""

    __slots__ = ("authorization", "relay")

    def __init__(
        self, route: Route, relay: RelayRoute, scope: Scope, receive: Receive, send: Send
    ) -> None:
        super().__init__(route, scope, receive, send)
        self.relay = relay
        self.authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                self.authorization = value
                break

    async def run(self) -> None:
        """The relay's pipeline."""
        self.scheme, self.client = self.route.proxies.resolve(self.scope)
        if await self.method():
            return
        self.https()
        self.origin()
        body = await self.relay_body()
        await self.ip_limit()
        handle = bearer_handle(self.authorization)
        request = parse_request(body)
        sealed = await self.redeem(handle)
        params = self.relay.sealer.policy_of(sealed).apply(request.params)
        answer = await self.start(sealed, request, params)
        await self.answer(answer)

    async def method(self) -> bool:
        """POST goes on; a CORS preflight is answered (``True``); anything else is 405."""
        method = self.scope["method"]
        if method != "POST" and method != "OPTIONS":
            raise RelayMethodNotAllowed(method)
        try:
            return await self.preflight()
        except MethodNotAllowed as exc:  # OPTIONS without CORS: the relay's own 405
            raise RelayMethodNotAllowed(str(exc)) from None

    async def relay_body(self) -> bytes:
        """The body under the relay's cap (an SDP offer is far larger than a token request)."""
        before = self.receive
        await self.body(self.relay.max_body_size)
        if self.receive is before:  # nothing to read: HTTP/1 without a length
            return _EMPTY
        message = await self.receive()
        return bytes(message.get("body", _EMPTY))

    async def redeem(self, handle: str) -> Sealed:
        """Take the handle's record (once); from here on the request names its token."""
        sealed = await self.relay.sealer.redeem(handle)
        self.token_fingerprint = sealed.fingerprint
        if sealed.principal is not None:
            self.principal = Principal(id=sealed.principal)
        return sealed

    async def start(
        self, sealed: Sealed, request: SessionRequest, params: dict[str, object]
    ) -> dict[str, Any]:
        """POST the offer and the policy's params with the real token, in an upstream slot."""
        body = success_body({"offer": request.offer, "params": params})
        async with self.relay.slots:  # attempts count on this request (Answering.handle)
            answer = await self.relay.exchange.start_call(sealed.token, body)
        self.conversation_id = answer["conversation_id"]
        return answer

    async def answer(self, answer: dict[str, Any]) -> None:
        """200 with ``{"conversation_id", "answer"}``."""
        await self._send(200, self.route.responses.ok, (), success_body(answer))
        self.status, self.outcome = 200, "session_started"


class Relay:
    """The relay as an ASGI app: ``endpoint.relay``, served at ``endpoint.relay_path``.

    :class:`~orga_asgi.OrgaMiddleware` serves it beside the token route; a framework adapter
    mounts it at :attr:`~orga_asgi.OrgaClientSecrets.relay_path` (or anywhere its
    ``baseUrl`` points, followed by ``/v1/realtime/calls``).
    """

    __slots__ = ("_on_shutdown", "_relay", "_route")

    def __init__(
        self, route: Route, relay: RelayRoute, on_shutdown: Callable[[], Awaitable[None]]
    ) -> None:
        self._route = route
        self._relay = relay
        self._on_shutdown = on_shutdown

    def __repr__(self) -> str:
        return "<orga_asgi relay>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await RelayCall(self._route, self._relay, scope, receive, send).handle()
        elif kind == "lifespan":
            await answer_lifespan(receive, send, on_shutdown=self._on_shutdown)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
