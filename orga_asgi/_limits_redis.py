"""Shared rate limit windows in Redis or Valkey, through limits' async storage with redis-py.

One round trip per window checked. limits' strategies answer ``hit()`` with a bool; the
remaining count and reset time of the RateLimit headers would cost a second round trip
(``get_window_stats()``), and limits offers no call that does both. So the storage is limits'
own (``RedisStorage`` with ``implementation="redispy"``: URI parsing, TLS, cluster and
sentinel wiring, key prefix, minimum versions) and, on that storage's own redis-py client,
this module registers one Lua script (:mod:`._limits_scripts`) that performs limits' acquire
on limits' key layout and returns the window's state in the same reply. A window then costs
exactly one ``EVALSHA`` whether it passes or refuses, and a refusal ends the check. Rejected:
``hit()`` + ``get_window_stats()`` (two round trips, and not atomic); a memory-side estimate
of the remaining count (wrong as soon as a second process shares the window, which is the
point of a shared store); one script for all windows of a check (one round trip per check,
but the windows' keys would need a common cluster hash tag, leaving limits' key layout).

Failures of the store (refused connection, timeout, error reply, no asyncio loop) never escape
as such: the ``on_storage_error`` policy answers instead (per-process memory fallback, deny
with 503, or allow). The first failure logs one WARNING and marks the store down; while down,
requests take the policy at once and one request at a time re-probes the store (with its own
hit: no extra command), after a backoff that doubles up to a cap. When a probe answers, one
INFO line marks the switch back. Socket timeouts default to one second (a rate limiter must
not hold a request for long); ``?socket_timeout=`` and ``?socket_connect_timeout=`` in the
URI override them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from math import ceil
from typing import TYPE_CHECKING, Any, cast

# Imported when a shared store is configured, i.e. at construction: redis-py takes most of a
# second to import, which the first request should not pay.
import redis
from limits.aio.storage import RedisClusterStorage, RedisSentinelStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from packaging.version import Version
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ._errors import ConfigurationError, RateLimiterUnavailable
from ._limits_memory import MemoryWindow, Outcome, sliding_reset, sliding_wait
from ._limits_scripts import MOVING_WINDOW_LUA, SLIDING_WINDOW_LUA

if TYPE_CHECKING:
    from ._limits_config import StorageTarget, Window

__all__ = ["SharedStore"]

_TIMEOUT = 1.0
_REDIS_PY = Version("5.2.0")  # limits' own minimum for implementation="redispy"


# limits' storages import *every* client library they know (coredis, valkey, redis-py) when
# instantiated; with coredis installed that is two more seconds on the first request. These
# subclasses declare the one library used here. (No STORAGE_SCHEME: they register nothing.)
class _Basic(RedisStorage):
    DEPENDENCIES = {"redis": _REDIS_PY}  # noqa: RUF012 - overrides limits' attribute


class _Cluster(RedisClusterStorage):
    DEPENDENCIES = {"redis": _REDIS_PY}  # noqa: RUF012 - overrides limits' attribute


class _Sentinel(RedisSentinelStorage):
    DEPENDENCIES = {"redis": _REDIS_PY}  # noqa: RUF012 - overrides limits' attribute


_STORAGES: dict[str, type[RedisStorage]] = {"cluster": _Cluster, "sentinel": _Sentinel}


class SharedStore:
    """The shared windows, with the ``on_storage_error`` policy around every call.

    Args:
        target: the validated storage URI.
        key_prefix: prefix of every key (limits' ``key_prefix``).
        sliding: use the sliding window counter instead of the moving window.
        on_error: ``fallback``, ``deny`` or ``allow``.
        backoff: (first, largest) delay in seconds between probes of a failed store.
        clock: monotonic seconds.
        logger: where the WARNING on failure and the INFO on recovery go.
    """

    def __init__(
        self,
        target: StorageTarget,
        *,
        key_prefix: str,
        sliding: bool,
        on_error: str,
        backoff: tuple[float, float],
        clock: Callable[[], float],
        logger: logging.Logger,
    ) -> None:
        if Version(redis.__version__) < _REDIS_PY:
            raise ConfigurationError(
                f"storage_uri {target.redacted!r} needs redis-py >= {_REDIS_PY} (found "
                f"{redis.__version__}); upgrade it: pip install -U 'redis>=5.2'"
            )
        self._target = target
        self._prefix = key_prefix
        self._sliding = sliding
        self._on_error = on_error
        self._backoff_first, self._backoff_max = backoff
        self._clock = clock
        self._logger = logger
        self._storage: RedisStorage | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script: Any = None
        self._down = False
        self._probing = False
        self._delay = 0.0
        self._next_probe = 0.0

    async def hit(
        self, namespace: str, window: Window, ident: str, fallback: MemoryWindow[Any]
    ) -> Outcome | None:
        """Count one hit in the shared window, or follow the policy if the store fails.

        Returns:
            The outcome, or ``None`` when the store is down and the policy is ``allow``.

        Raises:
            RateLimiterUnavailable: the store is down and the policy is ``deny``.
        """
        probe = False
        if self._down:
            if self._probing or self._clock() < self._next_probe:
                return self._degraded(fallback, ident)
            self._probing = probe = True
        try:
            outcome = await self._call(namespace, window, ident)
        except Exception as exc:  # any store failure goes to the policy, never to a 500
            self._failed(exc, probe)
            return self._degraded(fallback, ident)
        finally:
            if probe:
                self._probing = False
        if probe:
            self._down = False
            self._logger.info("Shared rate limit store %s answers again", self._target.redacted)
        return outcome

    async def _call(self, namespace: str, window: Window, ident: str) -> Outcome:
        script = self._connect()
        key = f"LIMITER/{namespace}/{ident}{window.key_tail}"
        if not self._sliding:
            allowed, remaining, reset_ms = await script(
                keys=[f"{self._prefix}:{key}"], args=[window.limit, window.expiry]
            )
            return Outcome(bool(allowed), int(remaining), int(reset_ms) / 1000)
        current = f"{self._prefix}:{{{key}}}"
        allowed, prev, prev_ttl, curr, curr_ttl = await script(
            keys=[f"{current}/-1", current], args=[window.limit, window.expiry]
        )
        expiry = window.expiry
        prev_s, roll_in = int(prev_ttl) / 1000, max(0.0, int(curr_ttl) / 1000 - expiry)
        if not allowed:
            # Same arithmetic as the memory counter: when the weighted count leaves room.
            wait = sliding_wait(window.limit, expiry, int(prev), prev_s, int(curr), roll_in)
            return Outcome(False, 0, wait)
        remaining = window.limit - (int(prev) * int(prev_ttl) // (expiry * 1000) + int(curr))
        reset = sliding_reset(expiry, int(prev), prev_s, int(curr), roll_in)
        return Outcome(True, max(0, remaining), reset)

    def _connect(self) -> Any:
        """The script on limits' storage, created lazily on the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # redis-py is asyncio-only; under trio the policy answers instead.
            raise RuntimeError("the shared store needs asyncio; trio is not supported") from None
        if self._storage is not None and self._loop is loop:
            return self._script
        options: dict[str, Any] = {
            "socket_timeout": _TIMEOUT,
            "socket_connect_timeout": _TIMEOUT,
            # One immediate retry on a dropped connection (a stale pooled one after a
            # restart), none on a timeout (it would double the wait), instead of redis-py's
            # default of ten with backoff: the policy answers sooner than a retry loop.
            "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        }
        scheme = self._target.uri.partition("://")[0]
        kind = _STORAGES.get(scheme.rpartition("+")[2], _Basic)
        if kind is _Sentinel:
            # The sentinels themselves get the same short timeouts: with redis-py's defaults
            # an unreachable sentinel holds the request for about seven seconds.
            options["sentinel_kwargs"] = dict(options)
        storage = kind(
            self._target.uri, implementation="redispy", key_prefix=self._prefix, **options
        )
        client = cast(RedispyBridge, storage.bridge).get_connection()
        source = SLIDING_WINDOW_LUA if self._sliding else MOVING_WINDOW_LUA
        self._script = client.register_script(source.encode())
        # A storage made on another loop is unusable on this one: it is replaced, not closed
        # (its loop is usually gone). Serve one gate from one loop and aclose() it there.
        self._storage, self._loop = storage, loop
        return self._script

    def _failed(self, exc: Exception, probe: bool) -> None:
        now = self._clock()
        if not self._down:
            self._down = True
            self._delay = self._backoff_first
            self._next_probe = now + self._delay
            action = {
                "fallback": "limiting per process in memory until it answers",
                "deny": "refusing requests with 503 until it answers",
                "allow": "letting requests through unlimited until it answers",
            }[self._on_error]
            self._logger.warning(
                "Shared rate limit store %s failed (%s); %s",
                self._target.redacted,
                self._describe(exc),
                action,
            )
        elif probe:
            self._delay = min(self._delay * 2, self._backoff_max)
            self._next_probe = now + self._delay
            self._logger.debug("Shared rate limit store still failing (%s)", self._describe(exc))

    def _describe(self, exc: Exception) -> str:
        text = f"{type(exc).__name__}: {exc}"[:300]
        secret = self._target.secret
        return text.replace(secret, "***") if secret else text

    def _degraded(self, fallback: MemoryWindow[Any], ident: str) -> Outcome | None:
        if self._on_error == "fallback":
            return fallback.hit(ident)
        if self._on_error == "allow":
            return None
        wait = max(1, ceil(self._next_probe - self._clock()))
        raise RateLimiterUnavailable("shared rate limit store unavailable", retry_after=wait)

    async def aclose(self) -> None:
        """Close every client of the storage; the next hit opens a new one."""
        storage, self._storage, self._script = self._storage, None, None
        if storage is None:
            return
        bridge: Any = storage.bridge
        clients = [bridge.storage, getattr(bridge, "storage_replica", None)]
        sentinel = getattr(bridge, "sentinel", None)
        clients.extend(getattr(sentinel, "sentinels", ()))
        for client in clients:
            if client is not None:
                with suppress(Exception):  # closing a broken connection must not fail shutdown
                    await client.aclose()
