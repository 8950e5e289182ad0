"""Cross-origin refusal and CORS with credentials.

Browsers say where a request comes from (``Origin``, ``Sec-Fetch-Site``); non-browser
callers usually say nothing and pass. A browser request from a site that is neither this
origin nor in ``allowed_origins`` is refused before any work, so a page elsewhere cannot make
a logged-in visitor's browser mint tokens, even ones it could not read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from ._errors import ConfigurationError, CrossOriginForbidden

__all__ = ["VARY_ORIGIN", "OriginPolicy"]

Header = tuple[bytes, bytes]

VARY_ORIGIN: Header = (b"vary", b"Origin")
"""Send on every response when CORS is enabled: responses differ by ``Origin``."""

_ALLOW_CREDENTIALS: Header = (b"access-control-allow-credentials", b"true")
_EXPOSE: Header = (
    b"access-control-expose-headers",
    b"X-Request-ID, RateLimit, RateLimit-Policy, Retry-After",
)
_ALLOW_METHODS: Header = (b"access-control-allow-methods", b"GET, POST")
_MAX_AGE: Header = (b"access-control-max-age", b"600")
# The allowed headers echoed depend on Access-Control-Request-Headers too.
_VARY_PREFLIGHT: Header = (b"vary", b"Access-Control-Request-Headers")
_REQUEST_HEADERS = (b"Authorization", b"Content-Type", b"X-Request-ID")
_HEADER_BITS = {name.lower(): 1 << i for i, name in enumerate(_REQUEST_HEADERS)}
_LABEL_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789-"
# What a browser may put in Host (after IDNA): names (underscores occur, e.g. compose service
# names), IPv4, bracketed IPv6, and a port. Nothing else can be this server's own origin.
_AUTHORITY_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:[]"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _show(value: bytes) -> str:
    # Caller-controlled text for the operator's log: bounded and escaped.
    return repr(value[:100].decode("latin-1"))


class OriginPolicy:
    """Which browser origins may call the route, and the CORS headers they get.

    Args:
        allowed_origins: origins such as ``"https://app.example.com"`` or
            ``"http://localhost:5173"`` allowed to call cross-origin with credentials; a string
            is read as a comma-separated list. ``None`` or empty: same-origin only.

    Raises:
        ConfigurationError: an entry is ``"*"``, has a path, or is not ``scheme://host[:port]``.
    """

    __slots__ = ("_allow_headers", "_allowed", "_cors", "_preflight")

    def __init__(self, allowed_origins: Iterable[str] | None) -> None:
        if isinstance(allowed_origins, str):
            allowed_origins = [part for part in allowed_origins.split(",") if part.strip()]
        origins = [_normalize(entry) for entry in allowed_origins or ()]
        # Everything a response needs is built here; a request only picks prebuilt tuples.
        self._allowed: dict[bytes, str] = {origin.encode("ascii"): origin for origin in origins}
        self._cors: dict[str, tuple[Header, ...]] = {}
        self._preflight: dict[str, tuple[Header, ...]] = {}
        for origin in self._allowed.values():
            self._cors[origin] = _cors_headers(origin)
            self._preflight[origin] = _preflight_headers(origin)
        self._allow_headers: dict[int, bytes] = {
            mask: b", ".join(n for i, n in enumerate(_REQUEST_HEADERS) if mask & (1 << i))
            for mask in range(1, 1 << len(_REQUEST_HEADERS))
        }

    @property
    def enabled(self) -> bool:
        """Whether any cross-origin caller is allowed (CORS is answered)."""
        return bool(self._allowed)

    @property
    def vary_header(self) -> Header | None:
        """``Vary: Origin`` when CORS is enabled, for every response; else ``None``."""
        return VARY_ORIGIN if self._allowed else None

    def check(
        self, *, origin: bytes | None, sec_fetch_site: bytes | None, scheme: str, host: bytes | None
    ) -> str | None:
        """Refuse cross-origin browser requests that are not allowed.

        Args:
            origin: the ``Origin`` header, raw.
            sec_fetch_site: the ``Sec-Fetch-Site`` header, raw.
            scheme: the effective scheme of the request (after trusted proxies).
            host: the ``Host`` header, raw; with ``scheme`` it makes this server's own origin.

        Returns:
            The allowed origin to echo in CORS headers, or ``None`` for a same-origin or
            non-browser request (no CORS headers needed).

        Raises:
            CrossOriginForbidden: ``Origin`` is ``null``, or another origin than this one that
                is not allowed; or ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site`` (a
                sibling subdomain is another origin) without an allowed ``Origin``.
        """
        if origin is not None:
            allowed = self._allowed.get(origin)
            if allowed is not None:
                return allowed
        if sec_fetch_site == b"cross-site" or sec_fetch_site == b"same-site":
            raise CrossOriginForbidden(f"Sec-Fetch-Site: {_show(sec_fetch_site)}")
        if origin is None:
            return None  # no Origin: a same-origin GET, a navigation, or not a browser
        if origin != b"null" and _is_own_origin(origin, scheme, host):
            return None
        raise CrossOriginForbidden(f"origin {_show(origin)} is not allowed")

    def cors_headers(self, origin: str) -> list[Header]:
        """CORS headers for an actual response to ``origin`` (a value :meth:`check` returned).

        ``Vary: Origin`` is not among them: add :attr:`vary_header` to *every* response, since
        caches must keep refusals and same-origin answers apart from CORS answers too.
        """
        prebuilt = self._cors.get(origin)
        return list(prebuilt if prebuilt is not None else _cors_headers(origin))

    def preflight_headers(self, origin: str, request_headers: bytes | None) -> list[Header]:
        """Headers answering a preflight ``OPTIONS`` from ``origin`` (as :meth:`check` returned).

        Args:
            origin: the allowed origin.
            request_headers: the ``Access-Control-Request-Headers`` header, raw. Only the
                allowed ones among them (Authorization, Content-Type, X-Request-ID) are echoed;
                the browser then refuses to send any other.

        Returns:
            ``Access-Control-Allow-Origin``/``-Credentials``/``-Methods``/``-Max-Age`` (600 s),
            ``-Allow-Headers`` when any requested header is allowed, and
            ``Vary: Access-Control-Request-Headers``. As with :meth:`cors_headers`, add
            :attr:`vary_header` too.
        """
        prebuilt = self._preflight.get(origin)
        headers = list(prebuilt if prebuilt is not None else _preflight_headers(origin))
        mask = 0
        if request_headers:
            for name in request_headers.split(b","):
                mask |= _HEADER_BITS.get(name.strip().lower(), 0)
        if mask:
            headers.append((b"access-control-allow-headers", self._allow_headers[mask]))
        return headers


def _cors_headers(origin: str) -> tuple[Header, ...]:
    return ((b"access-control-allow-origin", origin.encode("ascii")), _ALLOW_CREDENTIALS, _EXPOSE)


def _preflight_headers(origin: str) -> tuple[Header, ...]:
    allow_origin = (b"access-control-allow-origin", origin.encode("ascii"))
    return (allow_origin, _ALLOW_CREDENTIALS, _ALLOW_METHODS, _MAX_AGE, _VARY_PREFLIGHT)


def _is_own_origin(origin: bytes, scheme: str, host: bytes | None) -> bool:
    """Whether ``origin`` is ``{scheme}://{host}``, default ports ignored on both sides.

    A ``Host`` that is not a plain authority (userinfo, a list, white space, non-ASCII) is
    nobody's origin: no browser sends one, so it matches nothing.
    """
    if not host or len(host) > 300 or host.translate(None, _AUTHORITY_CHARS):
        return False
    prefix = b"https://" if scheme == "https" else b"http://"
    if not origin.startswith(prefix):
        return False
    default = b":443" if scheme == "https" else b":80"
    theirs = origin[len(prefix) :].lower()
    ours = host.lower()
    return theirs.removesuffix(default) == ours.removesuffix(default)


def _normalize(entry: object) -> str:
    """``scheme://host[:port]`` as browsers serialize it: lowercase, default port dropped."""
    if not isinstance(entry, str):
        raise ConfigurationError(
            f"allowed_origins entries must be strings, not {type(entry).__name__}."
        )
    text = entry.strip()
    if text == "*":
        raise ConfigurationError(
            "allowed_origins cannot contain '*': responses carry credentials, which browsers "
            "refuse with a wildcard. List each origin, e.g. 'https://app.example.com'."
        )
    hint = f"allowed_origins entry {entry!r} must be scheme://host[:port], e.g. 'https://app.example.com'"
    try:
        parts = urlsplit(text)  # newer Pythons validate bracketed IPv6 hosts here
    except ValueError:
        raise ConfigurationError(f"{hint}: the host is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
        raise ConfigurationError(f"{hint}.")
    if parts.path or "?" in text or "#" in text:
        raise ConfigurationError(f"{hint}, without a path (not even a trailing '/').")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{hint}: the port is not valid.") from None
    host = parts.hostname or ""
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise ConfigurationError(f"{hint}: the IPv6 address is not valid.") from None
    elif not _is_hostname(host):
        raise ConfigurationError(
            f"{hint}: the host must be ASCII (punycode for international names), without wildcards."
        )
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _is_hostname(host: str) -> bool:
    """Dot-separated LDH labels (letters, digits, inner hyphens), lowercase ASCII."""
    if not host.isascii():
        return False
    labels = host.encode("ascii").split(b".")
    return all(
        0 < len(label) <= 63
        and not label.translate(None, _LABEL_CHARS)
        and not label.startswith(b"-")
        and not label.endswith(b"-")
        for label in labels
    )
