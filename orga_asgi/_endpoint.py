"""``OrgaClientSecrets``: construction, ``issue()``, lifecycle and ASGI dispatch.

The route's pipeline itself is :mod:`orga_asgi._request` (one object per request, one
method per stage); the admission and mint sequence it shares with :meth:`issue` is
:mod:`orga_asgi._mint`. Everything here runs once, at construction, or at shutdown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Literal, cast

from . import _settings
from ._config import DEFAULT_HSTS, EndpointConfig
from ._errors import ConfigurationError
from ._middleware import answer_lifespan
from ._mint import Minter
from ._observers import Observers
from ._principal import AuthorizeHook, Principal, Secret, as_async_hook
from ._ratelimit import RateLimitGate
from ._request import Call, Route
from ._responses import Responses
from ._sealed.relay import Relay, RelayRoute
from ._sealed.sealer import Sealer, make_sealer
from ._upstream import ClientSecrets, Exchange, UpstreamSlots, default_transport
from .keys import KeyPicker, KeyProvider

if TYPE_CHECKING:
    import httpx

    from ._sealed import PolicySource
    from ._types import Receive, Scope, Send
    from .observe import AuditEvent, Observer

__all__ = ["OrgaClientSecrets"]

_DEFAULTS = {f.name: f.default for f in fields(EndpointConfig) if f.init}


class OrgaClientSecrets:
    """An ASGI app that hands a caller a short-lived Orga token and its ICE servers.

    Serve it as a route, mount it, or put it behind :class:`OrgaMiddleware`. GET and
    POST answer ``{"ephemeralToken", "iceServers"}`` (plus ``ttl`` and ``expiresAt``
    when the upstream gave a ttl); every refusal is a JSON error with a request id.

    Every keyword is a field of :class:`EndpointConfig`, with its type, default and
    meaning (``authorize`` is required; ``api_key`` defaults to ``ORGA_API_KEY``). Or pass
    one ready configuration, ``config=EndpointConfig(...)`` or
    ``config=EndpointConfig.from_env()``: then it is the only argument, and a keyword
    other than its default next to it is a ConfigurationError (change a field with
    ``dataclasses.replace(config, ...)``; keywords that equal the default cannot be told
    apart from absent ones, so they are ignored).

    Raises:
        ConfigurationError: a setting is missing, unknown (with a did-you-mean) or wrong;
            the message says how to fix it.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> OrgaClientSecrets:
        # Before __init__, so an unknown keyword gets a did-you-mean, not a TypeError.
        _settings.check_names(EndpointConfig, {k: v for k, v in kwargs.items() if k != "config"},
                              "OrgaClientSecrets")  # fmt: skip
        return super().__new__(cls)

    def __init__(
        self,
        *,
        config: EndpointConfig | None = None,
        authorize: AuthorizeHook | None = None,
        api_key: str | Secret | KeyProvider | KeyPicker | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        deadline: float = 15.0,
        retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
        require_https: bool = True,
        allow_insecure_loopback: bool = False,
        trusted_proxies: Sequence[str] | str = (),
        hsts: str | None = DEFAULT_HSTS,
        allowed_origins: Sequence[str] | str | None = None,
        max_body_size: int = 16 * 1024,
        rate_limits: Sequence[str] | str | None = ("10/minute", "200/day"),
        ip_rate_limits: Sequence[str] | str | None = ("60/minute",),
        ipv6_prefix_length: int = 64,
        storage_uri: str = "memory://",
        strategy: Literal["moving-window", "sliding-window-counter"] = "moving-window",
        on_storage_error: Literal["fallback", "deny", "allow"] = "fallback",
        max_in_flight_per_principal: int | None = 2,
        max_upstream_concurrency: int | None = 100,
        upstream_queue_timeout: float = 2.0,
        audit_log: bool = True,
        audit_key: str | None = None,
        audit_principal: Literal["hmac", "plain"] = "hmac",
        on_audit: Callable[[AuditEvent], object] | None = None,
        observers: Sequence[Observer] = (),
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
        sealed: bool = False,
        session_policy: PolicySource | None = None,
        relay_prefix: str = "/api/orga",
        relay_max_body_size: int = 64 * 1024,
    ) -> None:
        settings = {name: value for name, value in locals().items() if name in _DEFAULTS}
        if config is None:
            config = EndpointConfig(**settings)
        elif not isinstance(config, EndpointConfig):
            raise ConfigurationError("config must be an orga_asgi.EndpointConfig.")
        else:
            _no_keywords_beside(settings)
        self.config = config
        events = Observers(
            config.observers,
            audit_log=config.audit_log,
            audit_key=config.audit_key,
            on_audit=config.on_audit,
            audit_principal=config.audit_principal,
        )
        self._events = events
        self._gate = RateLimitGate(
            rate_limits=config.rate_limits,
            ip_rate_limits=config.ip_rate_limits,
            storage_uri=config.storage_uri,
            strategy=config.strategy,
            on_storage_error=config.on_storage_error,
            max_in_flight_per_principal=config.max_in_flight_per_principal,
            ipv6_prefix_length=config.ipv6_prefix_length,
            on_store_state=events.store_state,
        )
        events.client_key = self._gate.client_key
        self._exchange = Exchange(
            transport=default_transport(
                config.http_client,
                timeout=config.timeout,
                limit=config.max_upstream_concurrency or 100,
            ),
            base_url=str(config.base_url),
            timeout=config.timeout,
            deadline=config.deadline,
            retries=config.retries,
            on_attempt=events.upstream_attempt,
        )
        self._keys = config.key_provider()
        slots = UpstreamSlots(
            config.max_upstream_concurrency,
            config.upstream_queue_timeout,
            on_wait=events.upstream_queued if events.wants_queue else None,
        )
        self._minter = Minter(
            gate=self._gate,
            slots=slots,  # shared with the relay: one per-process cap on upstream calls
            exchange=self._exchange,
            keys=self._keys,
            observers=events,
        )
        hook = cast("AuthorizeHook", config.authorize)  # never None: EndpointConfig checks
        sts = (b"strict-transport-security", config.hsts.encode("latin-1")) if config.hsts else None
        responses = Responses(
            extra=config.extra_headers,
            vary=config.origins.vary_header,
            hsts=sts,
            challenge=getattr(hook, "www_authenticate", None),
        )
        self._route = Route(
            config,
            proxies=config.proxies,
            origins=config.origins,
            authorize=as_async_hook(hook),
            gate=self._gate,
            minter=self._minter,
            observers=events,
            responses=responses,
            sealer=self._sealer_for(config, events),
        )
        self.relay_path = config.relay_prefix + "/v1/realtime/calls"
        """Where :attr:`relay` is served: ``{relay_prefix}/v1/realtime/calls``."""
        self.relay: Relay | None = None
        """Sealed: the relay, an ASGI app to serve at :attr:`relay_path` (``OrgaMiddleware``
        does; a framework adapter mounts it). ``None`` when not sealed."""
        if self._route.sealer is not None:
            limits = RelayRoute(
                self._route.sealer, self._exchange, slots, config.relay_max_body_size
            )
            self.relay = Relay(self._route, limits, self.aclose)

    def _sealer_for(self, config: EndpointConfig, events: Observers) -> Sealer | None:
        if not config.sealed:
            return None
        return make_sealer(
            config.session_policy,
            shared=self._gate.shared,
            key_prefix=self._gate.key_prefix,
            on_expired=events.handles_expired,
        )

    def __repr__(self) -> str:
        return (
            f"OrgaClientSecrets(base_url={self.config.base_url!r}, api_key=Secret('**********'),"
            f" storage={self._gate!r})"
        )

    async def issue(self, principal: Principal | None = None) -> ClientSecrets:
        """Mint a token and fetch its ICE servers, for callers building their own route.

        Authorization is the caller's job. With a ``principal``, its rate limits and
        in-flight cap apply exactly as on the route (the same admission sequence); without
        one, none do. The key comes from the key provider, for ``principal``. Turn an error
        into the route's answer with :func:`orga_asgi.error_response`.

        Sealed, the answer holds a session handle, bound to ``principal`` (a callable
        ``session_policy`` is resolved for it, or for the anonymous principal without one).

        Raises:
            TooManyInFlight: ``principal`` already has that many mints running.
            RateLimited: a window of ``principal`` is exhausted (``retry_after`` set).
            Busy: no upstream slot within ``upstream_queue_timeout``.
            ApiKeyUnavailable: the key provider failed.
            UpstreamError: the upstream failed (see the error table).
        """
        key = self._minter.key_of(principal, None) if principal is not None else None
        sealer = self._route.sealer
        policy = await sealer.policy_for(principal) if sealer is not None else None
        async with self._minter.admit(key):
            secrets = await self._minter.mint(principal)
        if sealer is None:
            return secrets
        fingerprint = self._route.observers.fingerprint(secrets.ephemeral_token)
        return await sealer.seal(
            secrets, principal=principal, fingerprint=fingerprint, policy=policy
        )

    def reset_limits(self) -> Awaitable[None]:
        """Forget every rate-limit window, for tests of apps (between tests).

        With ``memory://`` the call alone is enough; with a shared store, ``await`` it (it
        deletes this endpoint's keys there). Requests in flight keep their slots.
        """
        return self._gate.reset()

    async def aclose(self) -> None:
        """Close the upstream pool (unless the user supplied it), the limit store, and the
        resources of the authorize hook (a ``jwt()`` hook's key fetcher) and of the key
        provider, when they have an ``aclose()``."""
        await self._exchange.aclose()
        if self._route.sealer is not None:
            await self._route.sealer.store.aclose()
        await self._gate.aclose()
        for owner in (self.config.authorize, self._keys):  # a hook's or a provider's client
            close = getattr(owner, "aclose", None)
            if close is not None:
                await close()
        await self._events.aclose()  # delivers what on_audit has queued, within its timeout

    async def __aenter__(self) -> OrgaClientSecrets:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await Call(self._route, scope, receive, send).handle()
        elif kind == "lifespan":
            await answer_lifespan(receive, send, on_shutdown=self.aclose)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})


def _no_keywords_beside(settings: dict[str, object]) -> None:
    """``config=`` is the whole configuration: refuse keywords that would be lost."""
    given = sorted(name for name, value in settings.items() if value != _DEFAULTS[name])
    if given:
        raise ConfigurationError(
            f"OrgaClientSecrets got config= and also {', '.join(given)}: pass the settings "
            "either as keywords or inside the config (dataclasses.replace(config, ...) or "
            "EndpointConfig.from_env(..., name=value))."
        )
