"""What :class:`~.gate.RateLimitGate` does outside requests: its store, from start to close.

The shared store is made at construction (redis-py is imported only then), checked once at
startup (lifespan startup; else the first request does), emptied by :meth:`reset` between
tests of apps, and closed by :meth:`aclose`. A base of the gate, so these stay its methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from orga_asgi._errors import ConfigurationError
from orga_asgi._log import get_logger

from .admission import DONE

if TYPE_CHECKING:
    from .redis_store import SharedStore
    from .space import Space
    from .storage import StorageTarget

__all__ = ["GateLifecycle"]

logger = get_logger("orga_asgi.limits")


class GateLifecycle:
    """The gate's windows and shared store over the gate's life.

    Args:
        target: the validated storage URI; without one (``memory://``) no shared store.
        spaces: the gate's namespaces of windows (per address, per principal), if any.
        sliding: the sliding window counter instead of the moving window.
        key_prefix: prefix of every key in the shared store.
        on_storage_error: ``fallback``, ``deny`` or ``allow``.
        backoff: (first, largest) delay in seconds between probes of a failed store.
        clock: monotonic seconds.
        on_store_state: told ``False`` when the shared store fails, ``True`` when it answers.
    """

    def __init__(
        self,
        target: StorageTarget,
        spaces: tuple[Space | None, ...],
        *,
        sliding: bool,
        key_prefix: str,
        on_storage_error: str,
        backoff: tuple[float, float],
        clock: Callable[[], float],
        on_store_state: Callable[[bool], None] | None,
    ) -> None:
        self._target = target
        self._spaces = spaces
        self._key_prefix = key_prefix
        self._on_storage_error = on_storage_error
        self._shared: SharedStore | None = None
        self.local = not target.uri
        """No shared store: the gate's ``*_now`` checks stand for its coroutines, so the
        memory path (refusals included) crosses no coroutine."""
        # Also without windows: sealed session handles share the store's one client.
        if target.uri:
            from .redis_store import SharedStore  # redis-py only when it is used

            self._shared = SharedStore(
                target,
                key_prefix=key_prefix,
                sliding=sliding,
                windows={s.namespace: s.windows for s in spaces if s is not None},
                on_error=on_storage_error,
                backoff=backoff,
                clock=clock,
                logger=logger,
                on_state=on_store_state,
            )

    @property
    def shared(self) -> SharedStore | None:
        """The shared store (``None`` with ``memory://``): its client is the one client of
        the storage URI, which the sealed session handles use too."""
        return self._shared

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this gate writes in the shared store."""
        return self._key_prefix

    def reset(self) -> Awaitable[None]:
        """Forget every count: for tests of apps, between tests.

        The memory windows (the store with ``memory://``, the fallback with a shared one)
        are cleared at once, so with ``memory://`` the call alone is enough. With a shared
        store, ``await`` the result: it deletes this gate's keys (its prefix, its windows,
        every address and principal); left unawaited, it warns "never awaited". In-flight
        counts are requests still running and are left alone. Refusals this process
        remembers (the deny cache) are forgotten at once too; those other processes
        remember stay until their deadline (or until those processes reset too).

        Raises:
            RateLimiterUnavailable: (when awaited) the shared store did not answer.
        """
        for space in self._spaces:
            if space is not None:
                space.reset()
        if self._shared is None:
            return DONE
        return self._shared.reset()

    async def startup(self) -> None:
        """Check the shared store once: lifespan startup calls it (``memory://``: nothing).

        A store that does not answer (a mistyped host or port) logs one WARNING naming the
        redacted URI and what the ``on_storage_error`` policy does meanwhile. Without a
        lifespan (a mounted sub-application), the first request checks instead.

        Raises:
            ConfigurationError: the store did not answer and ``on_storage_error`` is
                ``deny``: every request would be a 503, so the server should not start.
        """
        if self._shared is None:
            return
        failure = await self._shared.check(startup=True)
        if failure is not None and self._on_storage_error == "deny":
            raise ConfigurationError(
                f"storage_uri {self._target.redacted!r} did not answer at startup "
                f"({self._shared.scrub(f'{type(failure).__name__}: {failure}')}) and "
                "on_storage_error='deny' would refuse every request with 503: start the "
                "store, fix storage_uri (host, port, password), or use "
                "on_storage_error='fallback' to limit per process while it is down"
            )

    async def aclose(self) -> None:
        """Close the shared store's connections; idempotent, the gate stays usable."""
        if self._shared is not None:
            await self._shared.aclose()
