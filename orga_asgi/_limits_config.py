"""Validation of the rate limit configuration: windows, storage URI, names for the headers.

Everything here runs once, at construction, and raises :class:`ConfigurationError` with a
fix hint. Messages show a storage URI only through :func:`redact_uri`: a password in it must
never reach a log line, an exception or a repr.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass

import limits

# limits' own URI parser: the storage will parse the URI with it, so validate with it too.
from limits._storage_scheme import parse_storage_uri
from limits.errors import ConfigurationError as LimitsConfigurationError

from ._errors import ConfigurationError

__all__ = ["StorageTarget", "Window", "parse_storage", "parse_windows", "redact_uri"]

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


@dataclass(frozen=True)
class Window:
    """One validated rate limit window.

    Attributes:
        spec: the limit as written by limits (``"5 per 1 minute"``), for reprs.
        limit: hits allowed per window.
        expiry: window length in seconds.
        name: the policy name in the RateLimit headers (``"5-per-minute"``).
        key_tail: the end of limits' own key for this window (``"/5/1/minute"``).
    """

    spec: str
    limit: int
    expiry: int
    name: str
    key_tail: str


def parse_windows(value: Sequence[str] | str | None, option: str) -> tuple[Window, ...]:
    """Parse ``("5/minute", "100/day")`` into windows sorted shortest first.

    ``None`` or an empty sequence disables the limit. A single string may hold several
    limits separated by ``;`` or ``,``.
    """
    if value is None:
        return ()
    specs = [value] if isinstance(value, str) else list(value)
    items: list[limits.RateLimitItem] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise ConfigurationError(
                f"{option} takes strings such as '5/minute'; got {type(spec).__name__}"
            )
        try:
            items.extend(limits.parse_many(spec))
        except ValueError:
            raise ConfigurationError(
                f"{option}: {spec!r} is not a rate limit; write it like '5/minute', "
                "'100 per day' or '10/5 minutes'"
            ) from None
    windows: list[Window] = []
    for item in items:
        if item.amount < 1:
            raise ConfigurationError(f"{option}: {item} allows nothing; use a positive amount")
        unit = item.GRANULARITY.name
        per = f"{item.multiples}-{unit}s" if item.multiples != 1 else unit
        window = Window(
            spec=str(item),
            limit=item.amount,
            expiry=item.get_expiry(),
            name=f"{item.amount}-per-{per}",
            key_tail=f"/{item.amount}/{item.multiples}/{unit}",
        )
        if any(w.name == window.name for w in windows):
            raise ConfigurationError(f"{option}: {item} is listed twice; keep one")
        windows.append(window)
    # Shortest first: a caller hammering a short window is refused there, before a long
    # window is charged.
    windows.sort(key=lambda w: (w.expiry, w.limit))
    return tuple(windows)


@dataclass(frozen=True)
class StorageTarget:
    """A validated storage URI.

    Attributes:
        uri: the URI for ``limits.storage.storage_from_string`` (``async+redis://...``);
            empty for ``memory://``. Holds the password: never log or repr it.
        redacted: the URI with credentials replaced by ``***``, safe to show.
        secret: the password, to scrub from error messages; empty when there is none.
    """

    uri: str
    redacted: str
    secret: str

    def __repr__(self) -> str:
        return f"StorageTarget({self.redacted!r})"


def redact_uri(uri: str) -> str:
    """Return ``uri`` with any user info and any query string replaced by ``***``."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "***" if ("@" in uri or "?" in uri) else uri
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    path, qmark, _query = tail.partition("?")
    return f"{scheme}://{netloc}{path}{'?***' if qmark else ''}"


def parse_storage(uri: str) -> StorageTarget:
    """Validate ``storage_uri`` without any I/O."""
    if not isinstance(uri, str):
        raise ConfigurationError(f"storage_uri must be a string; {_USAGE}")
    redacted = redact_uri(uri)
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower().removeprefix("async+")
    if scheme == "memory":
        if rest:
            raise ConfigurationError(f"storage_uri {redacted!r}: write just 'memory://'")
        return StorageTarget("", "memory://", "")
    target = _SHARED_SCHEMES.get(scheme) if sep else None
    if target is None:
        raise ConfigurationError(f"storage_uri {redacted!r} is not supported; {_USAGE}")
    if importlib.util.find_spec("redis") is None:
        raise ConfigurationError(
            f"storage_uri {redacted!r} needs redis-py; install it with "
            "pip install 'orga-asgi[redis]'"
        )
    full = f"async+{target}://{rest}"
    try:
        parsed = parse_storage_uri(full)
    except (LimitsConfigurationError, ValueError):
        parsed = None
    if parsed is None or (target != "redis+unix" and not parsed.locations):
        raise ConfigurationError(
            f"storage_uri {redacted!r} has no usable host:port; write the port explicitly, "
            "e.g. 'redis://localhost:6379/0' or 'redis+cluster://h1:6379,h2:6379'"
        )
    if target == "redis+sentinel" and not (parsed.path or "").strip("/"):
        raise ConfigurationError(
            f"storage_uri {redacted!r} names no service; end it with the sentinel service, "
            "e.g. 'redis+sentinel://h1:26379,h2:26379/mymaster'"
        )
    return StorageTarget(full, redacted, parsed.password or "")
