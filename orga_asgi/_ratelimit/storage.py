"""Validation of the storage URI, and the redaction of its credentials.

Runs once, at construction, and raises :class:`ConfigurationError` with a fix hint. Messages
show a storage URI only through :func:`redact_uri`, and text that may quote it only through
:meth:`StorageTarget.scrub`: a password in it must never reach a log line, an exception or a
repr.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote

from orga_asgi._errors import ConfigurationError

from .backend import parse_uri

__all__ = ["StorageTarget", "parse_storage", "redact_uri"]

_SHARED_SCHEMES = {
    "redis": "redis",
    "rediss": "rediss",
    "redis+unix": "redis+unix",
    "redis+cluster": "redis+cluster",
    "redis+sentinel": "redis+sentinel",
    # Valkey speaks the same protocol: redis-py drives it, no second client library needed.
    "valkey": "redis",
    "valkeys": "rediss",
    "valkey+unix": "redis+unix",
    "valkey+cluster": "redis+cluster",
    "valkey+sentinel": "redis+sentinel",
}
_USAGE = (
    "use 'memory://' (one process) or a shared store such as 'redis://host:6379/0' "
    "(also rediss://, redis+cluster://, redis+sentinel://, valkey://)"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
_HOSTLIKE = re.compile(r"[A-Za-z0-9.:\[\]_-]{1,255}")
_SHOWN = 200  # characters of a redacted URI shown at most
_SECRET_PARAM = re.compile(r"pass|secret|token|auth|cred", re.IGNORECASE)


@dataclass(frozen=True)
class StorageTarget:
    """A validated storage URI.

    Attributes:
        uri: the URI for limits' storage (``async+redis://...``); empty for ``memory://``.
            Holds the password: never log or repr it.
        redacted: the URI with user info, query and fragment replaced by ``***``, safe to show.
        secrets: every form of every credential in the URI (as written, percent-decoded,
            re-encoded), longest first, for :meth:`scrub`.
    """

    uri: str
    redacted: str
    secrets: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:
        return f"StorageTarget({self.redacted!r})"

    def scrub(self, text: str, limit: int = 300) -> str:
        """``text`` with every secret of the URI masked, then cut to ``limit`` characters.

        Masking comes first: a cut through the middle of a password would leave its start
        unmatched, and shown.
        """
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text[:limit]


def redact_uri(uri: str) -> str:
    """Return ``uri`` with any user info, query string and fragment replaced by ``***``.

    A password may hold ``/``, ``?``, ``#``, ``@`` or ``:`` unescaped, so nothing that
    precedes the *last* ``@`` is shown; query and fragment, which may carry a password too,
    are masked whole, and when a ``?`` or ``#`` comes before that ``@`` (a query holding
    ``@``, or a password holding ``?``: indistinguishable) nothing past the scheme is shown.
    Masking comes before any shortening of the result.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        # Not a URI: shown only if it looks like a bare host[:port].
        return uri if _HOSTLIKE.fullmatch(uri) else "***"
    userinfo = ""
    at = rest.rfind("@")
    if at >= 0:
        if 0 <= _query_start(rest) < at:
            # Either the "@" is in the query (valid: the text after it is query) or the
            # password holds "?" or "#" (the text after it is the host): nothing can tell.
            return f"{scheme}://***"
        userinfo, rest = "***@", rest[at + 1 :]
    cut = _query_start(rest)
    cut = cut if cut >= 0 else len(rest)
    masked = f"{rest[cut]}***" if cut < len(rest) else ""
    shown = rest[:cut]
    if len(shown) > _SHOWN:
        shown = shown[:_SHOWN] + "..."
    return f"{scheme}://{userinfo}{shown}{masked}"


def _query_start(text: str) -> int:
    """Index of the first ``?`` or ``#`` in ``text``, or -1."""
    found = [i for i in (text.find("?"), text.find("#")) if i >= 0]
    return min(found) if found else -1


def _secrets(uri: str, password: str) -> tuple[str, ...]:
    rest = uri.partition("://")[2]
    found = {password, quote(password, safe=""), unquote(password)}
    userinfo = rest[: rest.rfind("@")] if "@" in rest else ""
    if userinfo:
        found |= {userinfo, userinfo.partition(":")[2], unquote(userinfo.partition(":")[2])}
    after = rest[rest.rfind("@") + 1 :]
    query = after.partition("?")[2].partition("#")[0]
    for name, value in parse_qsl(query, keep_blank_values=False):
        if _SECRET_PARAM.search(name):
            found |= {value, quote(value, safe="")}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def parse_storage(uri: str) -> StorageTarget:
    """Validate ``storage_uri`` without any I/O.

    Raises:
        ConfigurationError: the URI is not a supported store, cannot be parsed, or needs
            redis-py that is not installed; the message shows only :func:`redact_uri`'s form.
    """
    if not isinstance(uri, str):
        raise ConfigurationError(f"storage_uri must be a string; {_USAGE}")
    redacted = redact_uri(uri)
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower().removeprefix("async+")
    if scheme == "memory":
        if rest:
            raise ConfigurationError(f"storage_uri {redacted!r}: write just 'memory://'")
        return StorageTarget("", "memory://")
    target = _SHARED_SCHEMES.get(scheme) if sep else None
    if target is None:
        raise ConfigurationError(f"storage_uri {redacted!r} is not supported; {_USAGE}")
    if importlib.util.find_spec("redis") is None:
        raise ConfigurationError(
            f"storage_uri {redacted!r} needs redis-py; install it with "
            "pip install 'orga-asgi[redis]'"
        )
    full = f"async+{target}://{rest}"
    parsed = parse_uri(full)
    if parsed is None or (target != "redis+unix" and not parsed.has_locations):
        raise ConfigurationError(
            f"storage_uri {redacted!r} has no usable host:port; write the port explicitly, "
            "e.g. 'redis://localhost:6379/0' or 'redis+cluster://h1:6379,h2:6379'"
        )
    if target == "redis+sentinel" and not parsed.path.strip("/"):
        raise ConfigurationError(
            f"storage_uri {redacted!r} names no service; end it with the sentinel service, "
            "e.g. 'redis+sentinel://h1:26379,h2:26379/mymaster'"
        )
    return StorageTarget(full, redacted, _secrets(uri, parsed.password))
