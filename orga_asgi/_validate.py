"""The one place settings are checked and normalised: :func:`normalise`, run by
:class:`~orga_asgi.EndpointConfig` itself, so an invalid configuration cannot exist.

Errors are :class:`ConfigurationError` with a hint that says how to fix them; none echoes a
value that may be a secret (a key, a storage URI).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import _sandbox as sandbox
from ._errors import ConfigurationError
from ._keys.base import as_provider
from ._keys.env import first_set
from ._middleware import normalize_path
from ._observers import check_observers
from ._origin import OriginPolicy
from ._principal import Secret
from ._proxy import ProxyResolver
from ._ratelimit import parse_storage, parse_windows
from ._sealed.policy import resolver
from .keys import validate_key

if TYPE_CHECKING:
    from ._config import EndpointConfig

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_HSTS", "headers", "is_header", "normalise"]

DEFAULT_BASE_URL = "https://api.orga-ai.com"
DEFAULT_HSTS = "max-age=63072000; includeSubDomains"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _set(config: EndpointConfig, name: str, value: object) -> None:
    object.__setattr__(config, name, value)  # frozen: normalised values are set once, here


def normalise(c: EndpointConfig) -> None:
    """Check every field of ``c`` and set its normalised value, in place (once)."""
    if c.authorize is None:
        raise ConfigurationError(
            "OrgaClientSecrets needs authorize=...: a hook that says who the caller is "
            "(see orga_asgi.auth). To mint tokens for anyone, pass "
            "authorize=orga_asgi.allow_anonymous deliberately."
        )
    if not callable(c.authorize):
        raise ConfigurationError("authorize must be a callable (see orga_asgi.auth).")
    if not sandbox.apply(c, _set):  # the sandbox brings its own key and upstream
        _api_key(c)
        _set(c, "base_url", _base_url(c.base_url or os.environ.get("ORGA_BASE_URL")))
    for name in ("timeout", "deadline", "upstream_queue_timeout"):
        _number(name, getattr(c, name), integer=False)
    for name, least, most in _INTEGERS:
        _number(name, getattr(c, name), integer=True, least=least, most=most)
    for name in ("require_https", "allow_insecure_loopback", "audit_log", "sealed"):
        if not isinstance(getattr(c, name), bool):
            raise ConfigurationError(f"{name} must be True or False, not {getattr(c, name)!r}.")
    if c.hsts is not None and (not isinstance(c.hsts, str) or not is_header(c.hsts)):
        raise ConfigurationError("hsts must be a single header value (or None to turn it off).")
    if c.audit_key is not None and (not isinstance(c.audit_key, str) or not c.audit_key):
        raise ConfigurationError("audit_key must be a non-empty string, or None.")
    if c.http_client is not None:
        import httpx

        if not isinstance(c.http_client, httpx.AsyncClient):
            raise ConfigurationError("http_client must be an httpx.AsyncClient (or None).")
    _set(c, "trusted_proxies", _strings("trusted_proxies", c.trusted_proxies) or ())
    _set(c, "allowed_origins", _strings("allowed_origins", c.allowed_origins))
    _set(c, "rate_limits", _strings("rate_limits", c.rate_limits))
    _set(c, "ip_rate_limits", _strings("ip_rate_limits", c.ip_rate_limits))
    _set(c, "observers", check_observers(c.observers))
    if c.on_audit is not None and not callable(c.on_audit):
        raise ConfigurationError(
            "on_audit must be a function taking an orga_asgi.AuditEvent (sync or async)."
        )
    _set(c, "extra_headers", headers(c.extra_headers))
    for name, choices in (
        ("strategy", ("moving-window", "sliding-window-counter")),
        ("on_storage_error", ("fallback", "deny", "allow")),
        ("audit_principal", ("hmac", "plain")),
    ):
        if getattr(c, name) not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(map(repr, choices))}.")
    if not isinstance(c.storage_uri, str):
        raise ConfigurationError("storage_uri must be a string such as 'memory://'.")
    parse_storage(c.storage_uri)  # the gate's own parsers: checked here, with their hints
    parse_windows(c.rate_limits, "rate_limits")
    parse_windows(c.ip_rate_limits, "ip_rate_limits")
    if c.session_policy is not None:
        resolver(c.session_policy)  # a SessionPolicy or a callable, else a hint
        _set(c, "sealed", True)  # a policy is only applied to sealed sessions
    _set(c, "relay_prefix", normalize_path(c.relay_prefix))
    # The parsed forms of the address settings: immutable, shared by every request.
    c.__dict__["_proxies"] = ProxyResolver(c.trusted_proxies)
    c.__dict__["_origins"] = OriginPolicy(c.allowed_origins)


def _api_key(c: EndpointConfig) -> None:
    if c.api_key is None:  # the variables keys.from_env() reads by default, in its order
        found = first_set(os.environ)
        if found is None:
            raise ConfigurationError(_NO_KEY)
        name, value = found
        _set(c, "api_key", validate_key(value, source=name))
    elif isinstance(c.api_key, (str, Secret)):
        _set(c, "api_key", validate_key(c.api_key, source="api_key"))
    else:  # a provider stays; a per-principal callable is wrapped; anything else refused
        _set(c, "api_key", as_provider(c.api_key, source="api_key"))


_NO_KEY = (
    "No Orga API key: set ORGA_API_KEY or ORGAAI_API_KEY (from the Orga dashboard, API "
    "Keys) or pass api_key=... to OrgaClientSecrets. No account yet? Try it against the "
    "built-in fake Orga with sandbox=True (or ORGA_SANDBOX=1): fake tokens, for development "
    "and tests."
)

# (name, smallest, largest); None is allowed where the field's type says so.
_INTEGERS = (
    ("max_body_size", 1, None),
    ("relay_max_body_size", 1, None),
    ("max_upstream_concurrency", 1, None),
    ("max_in_flight_per_principal", 1, None),
    ("retries", 0, 5),
    ("ipv6_prefix_length", 1, 128),
)
_OPTIONAL = frozenset({"max_upstream_concurrency", "max_in_flight_per_principal"})


def _number(
    name: str, value: object, *, integer: bool, least: int = 1, most: int | None = None
) -> None:
    if value is None and name in _OPTIONAL:
        return
    if integer:
        ok = isinstance(value, int) and least <= value and (most is None or value <= most)
        bounds = f"from {least} to {most}" if most is not None else f"of at least {least}"
        what = f"an integer {bounds}" + (", or None" if name in _OPTIONAL else "")
    else:  # seconds: positive and finite
        ok = isinstance(value, (int, float)) and 0 < value < math.inf
        what = "a positive number of seconds"
    if isinstance(value, bool) or not ok:
        raise ConfigurationError(f"{name} must be {what}, not {value!r}.")


def _strings(name: str, value: object) -> tuple[str, ...] | None:
    """One string is one entry; a sequence of strings is kept in order; ``None`` stays."""
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (Sequence, frozenset, set)) or isinstance(items, (bytes, Mapping)):
        raise ConfigurationError(f"{name} must be a string or a list of strings.")
    out = tuple(items)
    if not all(isinstance(item, str) for item in out):
        raise ConfigurationError(f"{name} must be a string or a list of strings.")
    return out


def _base_url(value: str | None) -> str:
    value = value or DEFAULT_BASE_URL
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
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


def is_header(value: str) -> bool:
    """Whether ``value`` can be sent as one header value (no line break, latin-1)."""
    return not any(c in value for c in "\r\n\0") and value == value.encode(
        "latin-1", "replace"
    ).decode("latin-1")


def headers(value: object) -> tuple[tuple[bytes, bytes], ...]:
    """``extra_headers`` as raw ASGI pairs: lower-case token names, single-line values."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise ConfigurationError("extra_headers must be a list of (name, value) byte pairs.")
    out: list[tuple[bytes, bytes]] = []
    for pair in value:
        name, text = pair if isinstance(pair, tuple) and len(pair) == 2 else (None, None)
        if isinstance(name, str):
            name = name.encode("latin-1", "replace")
        if isinstance(text, str):
            text = text.encode("latin-1", "replace")
        if not isinstance(name, bytes) or not _TOKEN.fullmatch(name.decode("latin-1")):
            raise ConfigurationError("extra_headers: each name must be a header token.")
        if not isinstance(text, bytes) or any(b in text for b in b"\r\n\0"):
            raise ConfigurationError("extra_headers: each value must be one line of bytes.")
        out.append((name.lower(), text))
    return tuple(out)
