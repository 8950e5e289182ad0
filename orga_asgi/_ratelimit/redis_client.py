"""The shared store's client side: limits' storage on the running loop, and its replies.

limits' strategies answer ``hit()`` with a bool; the remaining count and reset time of the
RateLimit headers would cost a second round trip (``get_window_stats()``), and limits offers
no call that does both. So the storage is limits' own (:mod:`.backend`: URI parsing, TLS,
cluster and sentinel wiring, key prefix, minimum versions) and, on that storage's own
redis-py client, one Lua script (``lua/*.lua``) performs limits' acquire on limits' key
layout and returns the window's state in the same reply, which :func:`outcome` reads. A
window then costs exactly one ``EVALSHA`` whether it passes or refuses. Rejected:
``hit()`` + ``get_window_stats()`` (two round trips, and not atomic); a memory-side
estimate of the remaining count (wrong as soon as a second process shares the window,
which is the point of a shared store); one script for all windows of a check (one round
trip per check, but the windows' keys would need a common cluster hash tag, leaving
limits' key layout).

Socket timeouts default to one second (a rate limiter must not hold a request for long);
``?socket_timeout=`` and ``?socket_connect_timeout=`` in the URI override them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

# Imported when a shared store is configured, i.e. at construction: redis-py takes most of a
# second to import, which the first request should not pay.
import redis
from packaging.version import Version
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from orga_asgi._errors import ConfigurationError

from .backend import LimitsStorage
from .memory import Outcome, sliding_reset, sliding_wait

if TYPE_CHECKING:
    from .config import Window
    from .storage import StorageTarget

__all__ = ["StoreClient", "outcome"]

_TIMEOUT = 1.0
_REDIS_PY = Version("5.2.0")  # limits' own minimum for implementation="redispy"


class StoreClient:
    """limits' storage of the shared windows, made lazily on the running loop.

    Args:
        target: the validated storage URI.
        key_prefix: prefix of every key (limits' ``key_prefix``).
        sliding: use the sliding window counter instead of the moving window.
        windows: the windows of each namespace, in check order.

    Raises:
        ConfigurationError: the installed redis-py is older than limits supports.
    """

    def __init__(
        self,
        target: StorageTarget,
        *,
        key_prefix: str,
        sliding: bool,
        windows: dict[str, tuple[Window, ...]],
    ) -> None:
        if Version(redis.__version__) < _REDIS_PY:
            raise ConfigurationError(
                f"storage_uri {target.redacted!r} needs redis-py >= {_REDIS_PY} (found "
                f"{redis.__version__}); upgrade it: pip install -U 'redis>=5.2'"
            )
        self._target = target
        self._prefix = key_prefix
        self._sliding = sliding
        self._windows = {
            ns: tuple((w.limit, w.multiples, w.unit) for w in ws) for ns, ws in windows.items()
        }
        self._storage: LimitsStorage | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def storage(self) -> LimitsStorage:
        """limits' storage with the script, created lazily on the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # redis-py is asyncio-only; under trio the policy answers instead.
            raise RuntimeError("the shared store needs asyncio; trio is not supported") from None
        if self._storage is not None and self._loop is loop:
            return self._storage
        options: dict[str, Any] = {
            "socket_timeout": _TIMEOUT,
            "socket_connect_timeout": _TIMEOUT,
            # One immediate retry on a dropped connection (a stale pooled one after a
            # restart), none on a timeout (it would double the wait), instead of redis-py's
            # default of ten with backoff: the policy answers sooner than a retry loop.
            "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        }
        storage = LimitsStorage(
            self._target.uri,
            key_prefix=self._prefix,
            sliding=self._sliding,
            windows=self._windows,
            options=options,
        )
        # A storage made on another loop is unusable on this one: it is replaced, not closed
        # (its loop is usually gone). Serve one gate from one loop and aclose() it there.
        self._storage, self._loop = storage, loop
        return storage

    async def aclose(self) -> None:
        """Close every client of the storage; the next :meth:`storage` opens a new one."""
        storage, self._storage = self._storage, None
        if storage is not None:
            await storage.aclose()


def outcome(window: Window, reply: list[Any], *, sliding: bool) -> Outcome:
    """The outcome of one hit, from the acquire script's reply for ``window``."""
    if not sliding:
        allowed, remaining, reset_ms = reply
        return Outcome(bool(allowed), int(remaining), int(reset_ms) / 1000)
    allowed, prev, prev_ttl, curr, curr_ttl = (int(value) for value in reply)
    expiry = window.expiry
    prev_s, roll_in = prev_ttl / 1000, max(0.0, curr_ttl / 1000 - expiry)
    if not allowed:
        # Same arithmetic as the memory counter: when the weighted count leaves room.
        return Outcome(False, 0, sliding_wait(window.limit, expiry, prev, prev_s, curr, roll_in))
    remaining = window.limit - (prev * prev_ttl // (expiry * 1000) + curr)
    return Outcome(True, max(0, remaining), sliding_reset(expiry, prev, prev_s, curr, roll_in))
