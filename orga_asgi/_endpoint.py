"""``OrgaClientSecrets``: construction, ``issue()``, lifecycle and ASGI dispatch.

The route's pipeline itself is :mod:`orga_asgi._request` (one object per request, one
method per stage); the admission and mint sequence it shares with :meth:`issue` is
:mod:`orga_asgi._mint`; the parts are wired from the configuration by
:mod:`orga_asgi._assembly`. Everything here runs once, at construction, or at shutdown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Literal

from . import _settings
from ._assembly import assemble
from ._config import DEFAULT_HSTS, EndpointConfig
from ._errors import ConfigurationError
from ._middleware import answer_lifespan
from ._principal import AuthorizeHook, Principal, Secret
from ._request import Call
from ._sandbox import warn as sandbox_warning
from ._sealed.relay import Relay
from ._upstream import ClientSecrets
from .keys import KeyPicker, KeyProvider

if TYPE_CHECKING:
    import httpx

    from ._sealed import PolicySource
    from ._types import Receive, Scope, Send
    from .observe import AuditEvent, Observer
    from .testing import FakeOrga

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
        sandbox: bool | None = None,
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
        max_upstream_concurrency: int | None = 512,
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
        parts = assemble(config, close=self.aclose)
        self._events, self._gate, self._exchange = parts.events, parts.gate, parts.exchange
        self._keys, self._minter, self._route = parts.keys, parts.minter, parts.route
        self._sandbox = parts.sandbox
        self.relay_path = config.relay_prefix + "/v1/realtime/calls"
        """Where :attr:`relay` is served: ``{relay_prefix}/v1/realtime/calls``."""
        self.relay: Relay | None = parts.relay
        """Sealed: the relay, an ASGI app to serve at :attr:`relay_path` (``OrgaMiddleware``
        does; a framework adapter mounts it). ``None`` when not sealed."""
        if self._sandbox is not None:
            sandbox_warning()  # once per endpoint, however many test sessions it serves

    @property
    def fake_orga(self) -> FakeOrga | None:
        """In the sandbox, the :class:`~orga_asgi.testing.FakeOrga` this endpoint runs
        against (created on first use), to queue faults on and read the calls it received;
        ``None`` otherwise."""
        return self._sandbox.fake if self._sandbox is not None else None

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
        deletes this endpoint's keys there). Requests in flight keep their slots. In the
        sandbox, ``fake_orga.reset()`` also forgets the fake's calls, faults and tokens.
        """
        return self._gate.reset()

    async def startup(self) -> None:
        """Check the rate limit store once; lifespan startup calls it (``OrgaMiddleware``
        and the endpoint served alone). Without a lifespan, the first request checks.

        A shared store that does not answer logs one WARNING (limits are per process
        meanwhile, under the default ``on_storage_error="fallback"``).

        Raises:
            ConfigurationError: the store did not answer and ``on_storage_error`` is
                ``"deny"`` (every request would be a 503): the server should not start.
        """
        await self._gate.startup()

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
            await answer_lifespan(receive, send, on_startup=self.startup, on_shutdown=self.aclose)
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
