"""One request of the route: a small object whose methods are the stages, in order.

:meth:`Call.run` is the pipeline; read it top to bottom::

    preflight -> https -> origin -> body -> ip_limit -> authorize
      -> user_limit (in-flight, windows, upstream slot) -> mint -> respond

Any stage ends the request by raising a :class:`RequestError`; :meth:`Call.handle` turns
it into :meth:`Call.refuse`, which answers from the endpoint's prebuilt error table. Headers
are assembled once, when the answer is sent, from what the stages recorded (CORS, the
RateLimit headers of the last window checked): none is added and later taken back.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, NamedTuple

import anyio
from starlette.requests import Request

from ._body import ClientGone, may_have_body, read_body
from ._errors import (
    Busy,
    HTTPSRequired,
    InternalError,
    MethodNotAllowed,
    RequestError,
    Unauthorized,
)
from ._log import get_logger
from ._observers import counting_attempts
from ._principal import Principal
from ._proxy import is_loopback_host
from ._request_id import request_id_var, resolve_request_id
from ._responses import error_headers, success_body

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractAsyncContextManager

    from ._config import EndpointConfig
    from ._errors import Header
    from ._mint import Minter
    from ._observers import Observers
    from ._origin import OriginPolicy
    from ._principal import AuthorizeResult
    from ._proxy import ProxyResolver
    from ._ratelimit import LimitHeaders, RateLimitGate
    from ._responses import Responses
    from ._sealed import Sealer, SessionPolicy
    from ._types import Receive, Scope, Send
    from ._upstream import ClientSecrets

__all__ = ["Call", "Route"]

logger = get_logger("orga_asgi")
_WANTED = frozenset(
    {b"x-request-id", b"origin", b"sec-fetch-site", b"host", b"content-length",
     b"transfer-encoding", b"access-control-request-headers"}
)  # fmt: skip


class Route(NamedTuple):
    """What every request of one endpoint shares; built once, by the endpoint."""

    config: EndpointConfig
    proxies: ProxyResolver
    origins: OriginPolicy
    authorize: Callable[[Request], Awaitable[AuthorizeResult]]
    gate: RateLimitGate
    minter: Minter
    observers: Observers
    responses: Responses
    sealer: Sealer | None = None
    """Set when ``sealed``: the token is kept and a session handle handed out instead."""


class Call:
    """The state of one request: read by the stages, set by them, sent once."""

    __slots__ = (
        "answered", "client", "conversation_id", "cors", "found", "key", "limit_headers",
        "outcome", "principal", "receive", "request_id", "route", "scheme", "scope", "secrets",
        "send", "started", "status", "token_fingerprint", "upstream_attempts",
    )  # fmt: skip

    def __init__(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        self.route = route
        self.scope = scope
        self.receive = receive
        self.send = send
        self.started = perf_counter()
        self.found = {k: v for k, v in scope["headers"] if k in _WANTED}
        self.request_id = resolve_request_id(self.found.get(b"x-request-id"))
        self.scheme = "http"
        self.client: str | None = None
        self.principal: Principal | None = None
        self.key: str | None = None
        self.cors: Sequence[Header] = ()
        # The RateLimit headers to report: the last window checked (the principal's over
        # the address's); a 429 reports the window that refused instead.
        self.limit_headers: Sequence[Header] = ()
        self.secrets: ClientSecrets | None = None
        self.status = 500
        self.outcome = "internal_error"
        self.upstream_attempts = 0
        self.answered = False
        # Sealed sessions: the real token's fingerprint (the secrets hold a handle), and the
        # conversation a relay request started.
        self.token_fingerprint: str | None = None
        self.conversation_id: str | None = None

    async def run(self) -> None:
        """The pipeline."""
        self.scheme, self.client = self.route.proxies.resolve(self.scope)
        if await self.preflight():
            return
        self.https()
        self.origin()
        await self.body()
        await self.ip_limit()
        await self.authorize()
        policy = await self.session_policy()
        async with self.user_limit() as limit:
            if limit is not None:
                self.limit_headers = limit.headers
            secrets = await self.mint()
        await self.respond(await self.seal(secrets, policy))

    async def preflight(self) -> bool:
        """Answer a CORS preflight (``True``), refuse methods other than GET and POST."""
        method = self.scope["method"]
        if method == "GET" or method == "POST":
            return False
        origins, origin = self.route.origins, self.found.get(b"origin")
        if method != "OPTIONS" or not origins.enabled or origin is None:
            raise MethodNotAllowed(method)
        allowed = origins.check(
            origin=origin, sec_fetch_site=self.found.get(b"sec-fetch-site"),
            scheme=self.scheme, host=self.found.get(b"host"),
        )  # fmt: skip
        if allowed is None:
            raise MethodNotAllowed("OPTIONS without a cross-origin request")
        extra = origins.preflight_headers(
            allowed, self.found.get(b"access-control-request-headers")
        )
        await self._send(204, self.route.responses.ok, extra, b"")
        self.status, self.outcome = 204, "preflight"
        return True

    def https(self) -> None:
        """Refuse plain HTTP, unless from this machine to a loopback ``Host`` when allowed:
        the peer is loopback, nothing was forwarded, and ``Host`` names this machine (a
        rebound DNS name does not)."""
        config = self.route.config
        if self.scheme == "https" or not config.require_https:
            return
        if not (
            config.allow_insecure_loopback
            and self.route.proxies.is_loopback_request(self.scope)
            and is_loopback_host(self.found.get(b"host"))
        ):
            raise HTTPSRequired

    def origin(self) -> None:
        """Refuse cross-site browsers that are not allowed; remember CORS for the answer."""
        found = self.found
        origin, site = found.get(b"origin"), found.get(b"sec-fetch-site")
        if origin is None and site is None:
            return
        origins = self.route.origins
        allowed = origins.check(
            origin=origin, sec_fetch_site=site, scheme=self.scheme, host=found.get(b"host")
        )
        if allowed is not None:
            self.cors = origins.cors_headers(allowed)

    async def body(self, limit: int | None = None) -> None:
        """Bound the body (``max_body_size``, or ``limit``) for every method; what was read
        is replayed to whoever reads next (the hook)."""
        limit = self.route.config.max_body_size if limit is None else limit
        if may_have_body(self.found, self.scope, limit):
            self.receive = await read_body(self.receive, limit)

    async def ip_limit(self) -> None:
        """Count the request against its client address's windows."""
        limit = await self.route.gate.check_ip(self.client)
        if limit is not None:
            self.limit_headers = limit.headers

    async def authorize(self) -> None:
        """Ask the hook who the caller is; ``None`` is 401, a broken contract is 500."""
        try:
            principal: object = await self.route.authorize(Request(self.scope, self.receive))
        except RequestError:
            raise
        except Exception:
            # A hook's own failure is a server fault, not the caller's: 500, logged.
            logger.exception("the authorize hook raised")
            raise InternalError("the authorize hook raised") from None
        if principal is None:
            raise Unauthorized
        if (
            not isinstance(principal, Principal)
            or type(principal.id) is not str
            or not principal.id
        ):
            # Before anything is minted: an id that is not text would break the limits'
            # keys and the audit line after the 200. A hook bug, so a 500.
            logger.error("the authorize hook returned %s (id: %s), not a Principal with a "
                         "non-empty string id", type(principal).__name__,
                         type(getattr(principal, "id", None)).__name__)  # fmt: skip
            raise InternalError("authorize hook contract")
        self.principal = principal
        self.key = self.route.minter.key_of(principal, self.client)

    def user_limit(self) -> AbstractAsyncContextManager[LimitHeaders | None]:
        """Admission, held until the mint is over: the principal's in-flight slot, its
        windows (a ``too_many_in_flight`` refusal spends none), an upstream slot."""
        return self.route.minter.admit(self.key)

    async def mint(self) -> ClientSecrets:
        """The key for this principal, then the exchange (its attempts counted here)."""
        token = counting_attempts.set(self)
        try:
            self.secrets = await self.route.minter.mint(self.principal)
        finally:
            counting_attempts.reset(token)
        return self.secrets

    async def session_policy(self) -> SessionPolicy | None:
        """Sealed, with a callable ``session_policy``: this principal's policy, resolved
        before the mint so a refusal spends no token."""
        sealer = self.route.sealer
        return None if sealer is None else await sealer.policy_for(self.principal)

    async def seal(self, secrets: ClientSecrets, policy: SessionPolicy | None) -> ClientSecrets:
        """Sealed: keep the token, answer a single-use session handle in its place."""
        sealer = self.route.sealer
        if sealer is None:
            return secrets
        self.token_fingerprint = self.route.observers.fingerprint(secrets.ephemeral_token)
        return await sealer.seal(
            secrets, principal=self.principal, fingerprint=self.token_fingerprint, policy=policy
        )

    async def respond(self, secrets: ClientSecrets) -> None:
        """200 with the credentials."""
        body = success_body(secrets.to_dict())
        await self._send(200, self.route.responses.ok, self.limit_headers, body)
        self.status, self.outcome = 200, "issued"

    async def refuse(self, exc: BaseException) -> None:
        """Answer ``exc`` from the error table (anything unmapped: 500 ``internal_error``)."""
        refusal = self.route.responses.refusal(exc)
        self.status = refusal.status
        self.outcome = refusal.code
        if self.answered:  # the answer had started: nothing more can be said
            return
        extra = self.limit_headers
        if isinstance(exc, RequestError) and (exc.headers or exc.retry_after is not None):
            extra = error_headers(exc, extra)  # its own headers, Retry-After
        try:
            body = refusal.body(self.request_id, exc)
            await self._send(refusal.status, refusal.blocks, extra, body)
        except Exception:
            logger.debug("could not send the error response", exc_info=True)

    async def handle(self) -> None:
        """Run the pipeline; refuse what it raised; tell the observers; reset the id."""
        token = request_id_var.set(self.request_id)
        try:
            await self.run()
        except RequestError as exc:
            await self.refuse(exc)
        except ClientGone:
            self.status, self.outcome = 499, "client_disconnected"
        except Exception as exc:
            logger.exception("orga-asgi request failed")
            await self.refuse(exc)
        except BaseException as exc:
            # Cancelled by the server (graceful-shutdown timeout): answer with a JSON error
            # while the connection is still there, then let the cancellation through.
            if self.answered or not isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            with anyio.CancelScope(shield=True):
                await self.refuse(Busy("cancelled by the server"))
            raise
        finally:
            self.route.observers.request_finished(self)  # builds the event only if heard
            request_id_var.reset(token)

    async def _send(
        self,
        status: int,
        blocks: tuple[tuple[Header, ...], tuple[Header, ...]],
        extra: Sequence[Header],
        body: bytes,
    ) -> None:
        headers = [
            *blocks[self.scheme == "https"],
            (b"x-request-id", self.request_id.encode("ascii")),
            *self.cors,
            *extra,
            (b"content-length", b"%d" % len(body)),
        ]
        self.answered = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})
