"""Shared rate limit windows in Redis or Valkey, through limits' async storage with redis-py.

One round trip per window checked, none for a key it has refused until that window can have
room (:mod:`.deny`). limits' strategies answer ``hit()`` with a bool; the
remaining count and reset time of the RateLimit headers would cost a second round trip
(``get_window_stats()``), and limits offers no call that does both. So the storage is limits'
own (:mod:`.backend`: URI parsing, TLS, cluster and sentinel wiring, key prefix, minimum
versions) and, on that storage's own redis-py client, one Lua script (``lua/*.lua``)
performs limits' acquire on limits' key layout and returns the window's state in the same
reply. A window then costs exactly one ``EVALSHA`` whether it passes or refuses, and a
refusal ends the check. Rejected: ``hit()`` + ``get_window_stats()`` (two round trips, and
not atomic); a memory-side estimate of the remaining count (wrong as soon as a second
process shares the window, which is the point of a shared store); one script for all
windows of a check (one round trip per check, but the windows' keys would need a common
cluster hash tag, leaving limits' key layout).

Failures of the store (refused connection, timeout, error reply, no asyncio loop) never escape
as such: the ``on_storage_error`` policy answers instead (per-process memory fallback, deny
with 503, or allow). The first failure logs one WARNING, marks the store down and tells
``on_state(False)``; while down, requests take the policy at once and one request at a time
re-probes the store (with its own hit: no extra command), after a backoff that doubles up to
a cap. When a probe answers, one INFO line and ``on_state(True)`` mark the switch back.
The store is checked once (a ``PING``) at lifespan startup, or before the first hit when no
lifespan ran: a mistyped URI logs one WARNING then, not at the first refusal that should
have happened (under ``deny`` at startup, :meth:`RateLimitGate.startup` raises instead).
Socket timeouts default to one second (a rate limiter must not hold a request for long);
``?socket_timeout=`` and ``?socket_connect_timeout=`` in the URI override them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from math import ceil
from typing import TYPE_CHECKING, Any

# Imported when a shared store is configured, i.e. at construction: redis-py takes most of a
# second to import, which the first request should not pay.
import redis
from packaging.version import Version
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from orga_asgi._errors import ConfigurationError, RateLimiterUnavailable

from .backend import LimitsStorage
from .memory import MemoryWindow, Outcome, sliding_reset, sliding_wait

if TYPE_CHECKING:
    from .config import Window
    from .deny import DenyCache
    from .storage import StorageTarget

__all__ = ["SharedStore"]

_TIMEOUT = 1.0
_REDIS_PY = Version("5.2.0")  # limits' own minimum for implementation="redispy"
_ACTIONS = {
    "fallback": "limiting per process in memory (each process counts alone) until it answers",
    "deny": "refusing requests with 503 until it answers",
    "allow": "letting requests through unlimited until it answers",
}


class SharedStore:
    """The shared windows, with the ``on_storage_error`` policy around every call.

    Args:
        target: the validated storage URI.
        key_prefix: prefix of every key (limits' ``key_prefix``).
        sliding: use the sliding window counter instead of the moving window.
        windows: the windows of each namespace, in check order.
        on_error: ``fallback``, ``deny`` or ``allow``.
        backoff: (first, largest) delay in seconds between probes of a failed store.
        clock: monotonic seconds.
        logger: where the WARNING on failure and the INFO on recovery go.
        on_state: told ``False`` when the store goes down, ``True`` when it answers again.
    """

    def __init__(
        self,
        target: StorageTarget,
        *,
        key_prefix: str,
        sliding: bool,
        windows: dict[str, tuple[Window, ...]],
        on_error: str,
        backoff: tuple[float, float],
        clock: Callable[[], float],
        logger: logging.Logger,
        on_state: Callable[[bool], None] | None = None,
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
        self._on_error = on_error
        self._backoff_first, self._backoff_max = backoff
        self._clock = clock
        self._logger = logger
        self._on_state = on_state
        self._storage: LimitsStorage | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down = False
        self._probing = False
        self._delay = 0.0
        self._next_probe = 0.0
        self._checked = False  # check() ran: at startup, or before the first hit

    async def hit(
        self,
        namespace: str,
        index: int,
        window: Window,
        ident: str,
        fallback: MemoryWindow[Any],
        denied: DenyCache,
    ) -> Outcome | None:
        """Count one hit in window ``index`` of ``namespace``, or follow the policy.

        A refusal by the store is remembered in ``denied`` until the window can have room
        (a refusal by the fallback is not: it is per process, and cheap already).

        Returns:
            The outcome, or ``None`` when the store is down and the policy is ``allow``.

        Raises:
            RateLimiterUnavailable: the store is down and the policy is ``deny``.
        """
        if not self._checked:
            await self.check(startup=False)
        probe = False
        if self._down:
            if self._probing or self._clock() < self._next_probe:
                return self._degraded(fallback, ident)
            self._probing = probe = True
        started = self._clock()
        try:
            reply = await self._connect().acquire(
                namespace, index, ident, window.limit, window.expiry
            )
        except Exception as exc:  # any store failure goes to the policy, never to a 500
            self._failed(exc, probe)
            return self._degraded(fallback, ident)
        finally:
            if probe:
                self._probing = False
        if probe:
            self._down = False
            self._logger.info("Shared rate limit store %s answers again", self._target.redacted)
            self._tell(True)
        outcome = self._outcome(window, reply)
        if not outcome.allowed:
            # From the clock before the round trip: never later than the store's deadline.
            denied.add(ident, started + outcome.reset, index)
        return outcome

    def _outcome(self, window: Window, reply: list[Any]) -> Outcome:
        if not self._sliding:
            allowed, remaining, reset_ms = reply
            return Outcome(bool(allowed), int(remaining), int(reset_ms) / 1000)
        allowed, prev, prev_ttl, curr, curr_ttl = (int(value) for value in reply)
        expiry = window.expiry
        prev_s, roll_in = prev_ttl / 1000, max(0.0, curr_ttl / 1000 - expiry)
        if not allowed:
            # Same arithmetic as the memory counter: when the weighted count leaves room.
            return Outcome(
                False, 0, sliding_wait(window.limit, expiry, prev, prev_s, curr, roll_in)
            )
        remaining = window.limit - (prev * prev_ttl // (expiry * 1000) + curr)
        return Outcome(True, max(0, remaining), sliding_reset(expiry, prev, prev_s, curr, roll_in))

    def client(self) -> Any:
        """The redis-py asyncio client of this store, on the running loop (created lazily);
        the sealed session handles' store shares it, so one URI has one client."""
        return self._connect().client

    def scrub(self, text: str) -> str:
        """``text`` with the URI's secrets masked (for messages about this store)."""
        return self._target.scrub(text)

    def _connect(self) -> LimitsStorage:
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

    async def check(self, *, startup: bool) -> Exception | None:
        """PING the store once; if it fails, mark it down and log one WARNING.

        Runs at lifespan startup, or before the first hit when no lifespan ran (a mounted
        sub-application gets none), so a mistyped ``storage_uri`` shows at once rather than
        as limits quietly kept per process. Bounded by the client's own (short) timeouts.
        At startup under ``deny`` nothing is logged: the gate fails the startup instead.

        Returns:
            The failure, or ``None`` when the store answered.
        """
        self._checked = True
        try:
            await self._connect().client.ping()
        except Exception as exc:  # whatever fails, the policy answers: never a 500
            quiet = startup and self._on_error == "deny"
            self._failed(exc, False, "" if quiet else "at startup" if startup else "on first use")
            return exc
        return None

    def _failed(self, exc: Exception, probe: bool, checked: str | None = None) -> None:
        now = self._clock()
        if not self._down:
            self._down = True
            self._delay = self._backoff_first
            self._next_probe = now + self._delay
            if checked:
                self._logger.warning(
                    "Shared rate limit store %s did not answer %s (%s); %s. Check "
                    "storage_uri (host, port, password) and that the store is running",
                    self._target.redacted,
                    checked,
                    self._describe(exc),
                    _ACTIONS[self._on_error],
                )
            elif checked is None:
                self._logger.warning(
                    "Shared rate limit store %s failed (%s); %s",
                    self._target.redacted,
                    self._describe(exc),
                    _ACTIONS[self._on_error],
                )
            self._tell(False)
        elif probe:
            self._delay = min(self._delay * 2, self._backoff_max)
            self._next_probe = now + self._delay
            self._logger.debug("Shared rate limit store still failing (%s)", self._describe(exc))

    def _tell(self, up: bool) -> None:
        hook = self._on_state
        if hook is None:
            return
        try:
            hook(up)
        except Exception as exc:
            # An observer's bug must not turn into a failed request; its message may quote
            # anything, so only its type is logged.
            self._logger.warning("on_store_state(%s) raised %s; ignored", up, type(exc).__name__)

    def _describe(self, exc: Exception) -> str:
        # Masked first, then cut (StorageTarget.scrub): a cut through a password hides it
        # from the replacement.
        return self._target.scrub(f"{type(exc).__name__}: {exc}")

    def _degraded(self, fallback: MemoryWindow[Any], ident: str) -> Outcome | None:
        if self._on_error == "fallback":
            return fallback.hit(ident)
        if self._on_error == "allow":
            return None
        wait = max(1, ceil(self._next_probe - self._clock()))
        raise RateLimiterUnavailable("shared rate limit store unavailable", retry_after=wait)

    async def reset(self) -> None:
        """Delete the keys of every window of this store (all identifiers).

        Raises:
            RateLimiterUnavailable: the store did not answer.
        """
        try:
            await self._connect().reset()
        except Exception as exc:
            raise RateLimiterUnavailable(
                f"could not reset the shared rate limit store ({self._describe(exc)})"
            ) from None

    async def aclose(self) -> None:
        """Close every client of the storage; the next hit opens a new one."""
        storage, self._storage = self._storage, None
        if storage is not None:
            await storage.aclose()
