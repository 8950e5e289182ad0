"""Shared rate limit windows in Redis or Valkey, through limits' async storage with redis-py.

One round trip per window checked (one ``EVALSHA``: :mod:`.redis_client` says why), none
for a key it has refused until that window can have room (:mod:`.deny`); a refusal ends
the check.

Failures of the store (refused connection, timeout, error reply, no asyncio loop) never escape
as such: the ``on_storage_error`` policy answers instead (:mod:`.redis_policy`: per-process
memory fallback, deny with 503, or allow, and the re-probes of a store that is down).
The store is checked once (a ``PING``) at lifespan startup, or before the first hit when no
lifespan ran: a mistyped URI logs one WARNING then, not at the first refusal that should
have happened (under ``deny`` at startup, :meth:`RateLimitGate.startup` raises instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orga_asgi._errors import RateLimiterUnavailable

from .redis_client import StoreClient, outcome
from .redis_policy import StorePolicy

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from .config import Window
    from .deny import DenyCache
    from .memory import MemoryWindow, Outcome
    from .storage import StorageTarget

__all__ = ["SharedStore"]


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
        self._client = StoreClient(target, key_prefix=key_prefix, sliding=sliding, windows=windows)
        self._target = target
        self._sliding = sliding
        self._clock = clock
        self._policy = StorePolicy(
            target,
            on_error=on_error,
            backoff=backoff,
            clock=clock,
            logger=logger,
            on_state=on_state,
        )
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
        policy = self._policy
        probe = False
        if policy.down:
            if policy.probing or self._clock() < policy.next_probe:
                return policy.degraded(fallback, ident)
            policy.probing = probe = True
        started = self._clock()
        try:
            reply = await self._client.storage().acquire(
                namespace, index, ident, window.limit, window.expiry
            )
        except Exception as exc:  # any store failure goes to the policy, never to a 500
            policy.failed(exc, probe)
            return policy.degraded(fallback, ident)
        finally:
            if probe:
                policy.probing = False
        if probe:
            policy.recovered()
        result = outcome(window, reply, sliding=self._sliding)
        if not result.allowed:
            # From the clock before the round trip: never later than the store's deadline.
            denied.add(ident, started + result.reset, index)
        return result

    def client(self) -> Any:
        """The redis-py asyncio client of this store, on the running loop (created lazily);
        the sealed session handles' store shares it, so one URI has one client."""
        return self._client.storage().client

    def scrub(self, text: str) -> str:
        """``text`` with the URI's secrets masked (for messages about this store)."""
        return self._target.scrub(text)

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
            await self._client.storage().client.ping()
        except Exception as exc:  # whatever fails, the policy answers: never a 500
            quiet = startup and self._policy.on_error == "deny"
            self._policy.failed(
                exc, False, "" if quiet else "at startup" if startup else "on first use"
            )
            return exc
        return None

    def _describe(self, exc: Exception) -> str:
        return self._policy.describe(exc)

    async def reset(self) -> None:
        """Delete the keys of every window of this store (all identifiers).

        Raises:
            RateLimiterUnavailable: the store did not answer.
        """
        try:
            await self._client.storage().reset()
        except Exception as exc:
            raise RateLimiterUnavailable(
                f"could not reset the shared rate limit store ({self._describe(exc)})"
            ) from None

    async def aclose(self) -> None:
        """Close every client of the storage; the next hit opens a new one."""
        await self._client.aclose()
