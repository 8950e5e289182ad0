"""Validated, immutable configuration of the endpoint.

Everything is checked once, here, at construction: a request never re-validates. Errors
are :class:`ConfigurationError` with a hint that says how to fix them, and never echo the
API key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from ._errors import ConfigurationError
from ._principal import AuthorizeHook, Secret

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_HSTS", "EndpointConfig", "load_api_key", "load_base_url"]

DEFAULT_BASE_URL = "https://api.orga-ai.com"
DEFAULT_HSTS = "max-age=63072000; includeSubDomains"
API_KEY_PREFIX = "sk_orga_ai_"


def load_api_key(api_key: str | Secret | None) -> Secret:
    """Return the API key (argument, else ``ORGA_API_KEY``), checked for its prefix."""
    value = api_key.reveal() if isinstance(api_key, Secret) else api_key
    if value is None:
        value = os.environ.get("ORGA_API_KEY")
    if not value:
        raise ConfigurationError(
            "No Orga API key: set the ORGA_API_KEY environment variable (from the Orga "
            "dashboard, API Keys) or pass api_key=... to OrgaClientSecrets."
        )
    if not value.startswith(API_KEY_PREFIX) or len(value) == len(API_KEY_PREFIX):
        raise ConfigurationError(
            f"The Orga API key does not look like one: keys start with {API_KEY_PREFIX!r}. "
            "Copy it again from the Orga dashboard (API Keys) into ORGA_API_KEY."
        )
    if any(c.isspace() for c in value):
        raise ConfigurationError(
            "The Orga API key contains white space; check ORGA_API_KEY for a stray newline."
        )
    return Secret(value)


def load_base_url(base_url: str | None) -> str:
    """Return the upstream base URL (argument, ``ORGA_BASE_URL``, else the default)."""
    value = base_url or os.environ.get("ORGA_BASE_URL") or DEFAULT_BASE_URL
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"base_url must be an absolute http(s) URL such as {DEFAULT_BASE_URL!r}; "
            "check ORGA_BASE_URL."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(
            "base_url must not carry credentials, a query or a fragment; "
            "the API key goes in api_key / ORGA_API_KEY."
        )
    return value.rstrip("/")


def _positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or isinstance(value, bool) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number, got {value!r}.")


@dataclass(frozen=True)
class EndpointConfig:
    """The endpoint's settings, validated. Built by :class:`OrgaClientSecrets`."""

    authorize: AuthorizeHook
    """Decides who the caller is; ``None`` from it means 401. Required."""

    api_key: Secret
    """The Orga API key (``sk_orga_ai_...``); never leaves the server."""

    base_url: str = DEFAULT_BASE_URL
    """The Orga API origin, without a trailing slash."""

    timeout: float = 10.0
    """Seconds allowed for each upstream call (connect to last byte)."""

    deadline: float = 15.0
    """Seconds allowed for the whole exchange, retries included."""

    retries: int = 2
    """Extra attempts after a connect error or an upstream 502/503/504."""

    http_client: httpx.AsyncClient | None = None
    """An ``httpx.AsyncClient`` to use instead of the built-in aiohttp pool; the caller
    owns it and closes it."""

    require_https: bool = True
    """Refuse requests whose effective scheme is not https (403 ``https_required``)."""

    allow_insecure_loopback: bool = False
    """Let plain HTTP through when the direct peer is a loopback address (development)."""

    trusted_proxies: tuple[str, ...] = ()
    """Peers (IPs or CIDRs) whose ``Forwarded``/``X-Forwarded-*`` headers are believed."""

    hsts: str | None = DEFAULT_HSTS
    """``Strict-Transport-Security`` value sent on HTTPS responses; ``None`` turns it off."""

    allowed_origins: tuple[str, ...] | None = None
    """Origins allowed to call cross-site with credentials (CORS); ``None``: same-origin
    only."""

    max_body_size: int = 16 * 1024
    """Largest request body accepted, in bytes (413 ``payload_too_large`` beyond)."""

    rate_limits: tuple[str, ...] | None = ("10/minute", "200/day")
    """Per-principal windows in ``limits`` notation; all must pass. ``None`` turns them off."""

    ip_rate_limits: tuple[str, ...] | None = ("60/minute",)
    """Per-client-address windows, checked before ``authorize``. ``None`` turns them off."""

    storage_uri: str = field(default="memory://", repr=False)
    """Where windows are counted: ``memory://`` (one process) or a Redis/Valkey URI. Not in
    ``repr``: the URI may carry a password (the endpoint's repr shows it redacted)."""

    strategy: Literal["moving-window", "sliding-window-counter"] = "moving-window"
    """The ``limits`` strategy; the sliding window counter uses less memory."""

    on_storage_error: Literal["fallback", "deny", "allow"] = "fallback"
    """What to do when the shared store fails: limit in memory, refuse (503), or allow."""

    max_in_flight_per_principal: int | None = 2
    """Concurrent mints one caller may have; more get 429 ``too_many_in_flight``."""

    max_upstream_concurrency: int | None = 100
    """Concurrent upstream exchanges per process; ``None`` means no cap."""

    upstream_queue_timeout: float = 2.0
    """Seconds a request may wait for an upstream slot before 503 ``busy``."""

    audit_log: bool = True
    """Write one INFO line per request to the ``orga_asgi.audit`` logger."""

    extra_headers: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)
    """Headers added to every response of the route (precomputed bytes)."""

    def __post_init__(self) -> None:
        if not callable(self.authorize):
            raise ConfigurationError("authorize must be a callable (see orga_asgi.auth).")
        _positive("timeout", self.timeout)
        _positive("deadline", self.deadline)
        _positive("upstream_queue_timeout", self.upstream_queue_timeout)
        _positive("max_upstream_concurrency", self.max_upstream_concurrency, allow_none=True)
        _positive("max_body_size", self.max_body_size)
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 5:
            raise ConfigurationError(
                f"retries must be an integer from 0 to 5, not {self.retries!r}."
            )
        if self.hsts is not None and ("\r" in self.hsts or "\n" in self.hsts):
            raise ConfigurationError("hsts must be a single header value.")


def as_tuple(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """Accept one string or a sequence of strings; keep ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)
