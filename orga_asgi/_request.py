"""One request of the route: a small object whose methods are the stages, in order.

:meth:`Call.run` is the pipeline; read it top to bottom::

    preflight -> https -> origin -> body -> ip_limit -> authorize
      -> user_limit (in-flight, windows, upstream slot) -> mint -> respond

Each stage is a method of :class:`Call`, except the two that ``issue()`` shares with the
route, which are the :class:`~orga_asgi._mint.Minter`'s: ``user_limit`` is
:meth:`~orga_asgi._mint.Minter.admit` and ``mint`` is :meth:`~orga_asgi._mint.Minter.mint`.

Any stage ends the request by raising a :class:`RequestError`;
:meth:`~orga_asgi._refuse.Answering.handle` turns it into a refusal answered from the
endpoint's prebuilt error table (:mod:`orga_asgi._refuse`, the state and the answer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from starlette.requests import Request

from ._body import may_have_body, read_body
from ._errors import HTTPSRequired, InternalError, MethodNotAllowed, RequestError, Unauthorized
from ._log import get_logger
from ._principal import Principal
from ._proxy import is_loopback_host
from ._refuse import Answering
from ._responses import success_body
from ._sandbox import is_test_client

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._config import EndpointConfig
    from ._mint import Minter
    from ._observers import Observers
    from ._origin import OriginPolicy
    from ._principal import AuthorizeResult
    from ._proxy import ProxyResolver
    from ._ratelimit import RateLimitGate
    from ._responses import Responses
    from ._sealed import Sealer, SessionPolicy
    from ._upstream import ClientSecrets

__all__ = ["Call", "Route"]

logger = get_logger("orga_asgi")
_LENGTH, _CHUNKED = b"content-length", b"transfer-encoding"
_HTTP1 = frozenset({"1.1", "1.0", None})  # no http_version: HTTP/1.1, the ASGI default


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


class Call(Answering):
    """One request of the token route: the stages, on the state :class:`Answering` keeps."""

    async def run(self) -> None:
        """The pipeline. (The cheap tests of a stage are made here, so that a request that
        has nothing for a stage to do does not pay for the call.)"""
        route, scope, found = self.route, self.scope, self.found
        self.scheme, self.client = route.proxies.resolve(scope)
        method = scope["method"]
        if method != "GET" and method != "POST" and await self.preflight():
            return
        if self.scheme != "https":
            self.https()
        if b"origin" in found or b"sec-fetch-site" in found:
            self.origin()
        if _LENGTH in found or _CHUNKED in found or scope.get("http_version") not in _HTTP1:
            await self.body()
        gate = route.gate  # self.ip_limit(), with no coroutine on the memory path
        limit = gate.check_ip_now(self.client) if gate.local else await gate.check_ip(self.client)
        if limit is not None:
            self.limit_headers = limit
        await self.authorize()
        policy = None if route.sealer is None else await self.session_policy()
        # user limit: the principal's in-flight slot, its windows (a too_many_in_flight
        # refusal spends none), an upstream slot; held until the mint is over.
        async with route.minter.admit(self.key) as limit:
            if limit is not None:
                self.limit_headers = limit
            # mint: the key for this principal, then the exchange.
            secrets = self.secrets = await route.minter.mint(self.principal)
        if route.sealer is not None:
            secrets = await self.seal(secrets, policy)
        await self.respond(secrets)

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
        if self.scheme == "https":
            return
        config = self.route.config
        if not config.require_https:
            return
        if config.sandbox and is_test_client(self.scope):
            return  # Starlette's TestClient (http://testserver): fake tokens, no network
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
            self.limit_headers = limit

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
