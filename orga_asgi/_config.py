"""The endpoint's settings: one typed, frozen dataclass, validated once, at construction.

:class:`EndpointConfig` is the one place where settings are checked and normalised:
``OrgaClientSecrets(**settings)`` builds one, ``OrgaClientSecrets(config=...)`` takes one
whole, :meth:`EndpointConfig.from_env` reads one from ``ORGA_*`` variables. Errors are
:class:`ConfigurationError` with a hint that says how to fix them, and never echo a secret.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import _settings
from ._keys.base import as_provider
from ._principal import AuthorizeHook, Secret
from ._validate import DEFAULT_BASE_URL, DEFAULT_HSTS, normalise
from .keys import KeyPicker, KeyProvider

if TYPE_CHECKING:
    import httpx

    from ._origin import OriginPolicy
    from ._proxy import ProxyResolver
    from ._sealed import PolicySource
    from .observe import AuditEvent, Observer

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_HSTS", "EndpointConfig"]


@dataclass(frozen=True, kw_only=True)
class EndpointConfig:
    """Every setting of :class:`~orga_asgi.OrgaClientSecrets`, validated at construction.

    Each field is also a keyword of ``OrgaClientSecrets`` with the same name, type and
    default, and an environment variable ``ORGA_<NAME>`` read by :meth:`from_env`.

    Raises:
        ConfigurationError: a setting is missing, unknown (with a did-you-mean) or wrong.
    """

    authorize: AuthorizeHook | None = None
    """Who the caller is: a callable taking a Starlette ``Request``, sync or async,
    returning a :class:`~orga_asgi.Principal` or ``None`` (401). Required; pass
    :func:`~orga_asgi.allow_anonymous` to let everyone in deliberately. Code only."""

    api_key: str | Secret | KeyProvider | KeyPicker | None = None
    """The Orga API key (``sk_orga_ai_...``), a key provider of :mod:`orga_asgi.keys`
    (``from_env``, ``from_file``, ``cached``) or a callable picking the key per principal;
    default ``ORGA_API_KEY``. Once validated: a ``Secret``, or a provider."""

    base_url: str | None = None
    """The Orga API origin; default ``ORGA_BASE_URL``, else ``https://api.orga-ai.com``.
    Once validated: the URL without a trailing slash."""

    timeout: float = 10.0
    """Seconds allowed for each upstream call (connect to last byte)."""

    deadline: float = 15.0
    """Seconds allowed for the whole exchange, retries included."""

    retries: int = 2
    """Extra attempts (0 to 5) after a connect error or an upstream 502/503/504."""

    http_client: httpx.AsyncClient | None = None
    """An ``httpx.AsyncClient`` to use instead of the built-in aiohttp pool; you own it and
    close it. Code only."""

    sandbox: bool | None = None
    """Run against an in-process fake Orga (:class:`~orga_asgi.testing.FakeOrga`, created on
    first use, closed with the endpoint): fake tokens, no account and no API key, plain HTTP
    from loopback and from Starlette's ``TestClient``. Development and tests only: one
    WARNING says so at construction. Refused next to a real ``api_key``, a key provider,
    another ``base_url`` or an ``http_client``. Default ``ORGA_SANDBOX``, else off."""

    require_https: bool = True
    """Refuse requests whose effective scheme is not https (403 ``https_required``)."""

    allow_insecure_loopback: bool = False
    """Let plain HTTP through when the direct peer is a loopback address, nothing was
    forwarded and ``Host`` is a loopback name (development; DNS rebinding stays out)."""

    trusted_proxies: Sequence[str] | str = ()
    """Peers (IPs or CIDRs) whose ``Forwarded``/``X-Forwarded-*`` headers are believed; a
    single string is one entry (the environment variable is comma-separated)."""

    hsts: str | None = DEFAULT_HSTS
    """``Strict-Transport-Security`` value sent on HTTPS responses; ``None`` turns it off."""

    allowed_origins: Sequence[str] | str | None = None
    """Origins allowed to call cross-site with credentials (CORS); ``None``: same-origin
    only. A single string is one origin."""

    max_body_size: int = 16 * 1024
    """Largest request body read, in bytes, for any method (413 ``payload_too_large``)."""

    rate_limits: Sequence[str] | str | None = ("10/minute", "200/day")
    """Per-principal windows in ``limits`` notation; all must pass. ``None`` turns them off.
    Anonymous callers are keyed on their client address."""

    ip_rate_limits: Sequence[str] | str | None = ("60/minute",)
    """Per-client-address windows, checked before ``authorize``. ``None`` turns them off."""

    ipv6_prefix_length: int = 64
    """IPv6 clients are limited per prefix of this length (one /64 is one client); 128
    keys on the full address."""

    storage_uri: str = field(default="memory://", repr=False)
    """Where windows are counted: ``memory://`` (one process) or a Redis/Valkey URI. Not in
    ``repr``: the URI may carry a password."""

    strategy: Literal["moving-window", "sliding-window-counter"] = "moving-window"
    """The ``limits`` strategy; the sliding window counter uses less memory."""

    on_storage_error: Literal["fallback", "deny", "allow"] = "fallback"
    """What to do when the shared store fails: limit in memory, refuse (503), or allow."""

    max_in_flight_per_principal: int | None = 2
    """Concurrent mints one caller may have; more get 429 ``too_many_in_flight`` (which
    spends no rate-limit window). ``None`` means no cap."""

    max_upstream_concurrency: int | None = 512
    """Concurrent upstream exchanges per process (and the built-in pool's connections);
    ``None`` means no cap. Size it by Little's law: mints per second x the seconds one
    exchange holds its slot (two upstream calls: about twice Orga's latency). 512 covers
    ~2,500 mints/s at 100 ms per call, more than one process mints on its CPU, so a burst
    waits for CPU rather than for a slot (1,000 callers at 100 ms per call: no 503). Lower
    it only to shield the upstream; excess requests wait ``upstream_queue_timeout``."""

    upstream_queue_timeout: float = 2.0
    """Seconds a request may wait for an upstream slot before 503 ``busy``."""

    audit_log: bool = True
    """Write one INFO logfmt line per request to the ``orga_asgi.audit`` logger."""

    audit_key: str | None = field(default=None, repr=False)
    """Key of the HMAC that fingerprints issued tokens and hashes principals in audit events;
    default a random key per process (they then match only within one process). Set the same
    one in every process to match a token seen elsewhere to its audit record."""

    audit_principal: Literal["hmac", "plain"] = "hmac"
    """How audit events name the principal: ``hmac`` (HMAC-SHA256 of the id under
    ``audit_key``, 16 hex characters) or ``plain`` (the id itself)."""

    on_audit: Callable[[AuditEvent], object] | None = None
    """Given one :class:`~orga_asgi.AuditEvent` per request, issued or refused; sync or
    ``async``. Runs off the response path with a timeout and a bounded queue: a hook that
    raises, hangs or falls behind never fails or holds a response. Code only."""

    observers: Sequence[Observer] = ()
    """More observers of requests, upstream attempts, the store and issued tokens, beside
    the audit line (see :mod:`orga_asgi.observe`). Code only."""

    extra_headers: Sequence[tuple[bytes, bytes]] = field(default=(), repr=False)
    """Headers added to every response of the route, as raw ``(name, value)`` bytes.
    Code only."""

    sealed: bool = False
    """Sealed sessions: the route answers a single-use session handle instead of the Orga
    token, which stays server-side, and the relay (``relay_prefix``) starts the session
    with it. Implied by ``session_policy``."""

    session_policy: PolicySource | None = field(default=None, repr=False)
    """A :class:`~orga_asgi.SessionPolicy` applied to every sealed session's params, or a
    callable ``(Principal) -> SessionPolicy`` (sync or async) resolved at the mint; implies
    ``sealed``. Code only."""

    relay_prefix: str = "/api/orga"
    """Where the relay is served: ``POST {relay_prefix}/v1/realtime/calls`` (the browser
    SDK's ``baseUrl`` is this prefix on your origin)."""

    relay_max_body_size: int = 64 * 1024
    """Largest relay body read, in bytes (an SDP offer with its candidates; 413
    ``payload_too_large``)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> EndpointConfig:
        _settings.check_names(cls, kwargs, "EndpointConfig")
        return super().__new__(cls)

    def __post_init__(self) -> None:
        normalise(self)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, Any] = os.environ,
        prefix: str = "ORGA_",
        **overrides: Any,
    ) -> EndpointConfig:
        """Read every setting from ``<prefix><FIELD_NAME_UPPER>`` (``ORGA_RATE_LIMITS``...).

        Lists are comma-separated; booleans are ``1``/``0``/``true``/``false``; an empty
        value or ``none`` is ``None``. ``authorize``, ``http_client``, ``observers`` and
        ``extra_headers`` are code only: pass them in ``overrides``, which win over the
        environment. Unknown ``<prefix>*`` variables are logged with a did-you-mean.

        Args:
            environ: where to read: ``os.environ``, or any mapping (values that are not
                text, as in Quart's ``app.config``, are taken as they are).
            prefix: the variables' prefix.
            **overrides: settings given in code.

        Raises:
            ConfigurationError: a variable cannot be parsed, or a setting is wrong.
        """
        values = _settings.read_env(cls, environ, prefix)
        _settings.check_names(cls, overrides, "EndpointConfig.from_env")
        return cls(**{**values, **overrides})

    @classmethod
    def settings_table(cls, prefix: str = "ORGA_") -> str:
        """The settings as a Markdown table: name, variable, type, default, description."""
        return _settings.table(cls, prefix)

    def key_provider(self) -> KeyProvider:
        """The provider of the API key: the one given (or the callable, wrapped), else a
        :class:`~orga_asgi.keys.StaticKey`."""
        return as_provider(self.api_key)

    @property
    def proxies(self) -> ProxyResolver:
        """``trusted_proxies``, parsed."""
        return self.__dict__["_proxies"]  # type: ignore[no-any-return]

    @property
    def origins(self) -> OriginPolicy:
        """``allowed_origins``, parsed."""
        return self.__dict__["_origins"]  # type: ignore[no-any-return]
