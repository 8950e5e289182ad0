"""One refresh at a time: :class:`Flight` coalesces callers onto the refresh under way,
:func:`spawn` runs a refresh in the background, :func:`backoff` spaces out retries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import anyio
import sniffio

__all__ = ["BACKOFF_FIRST", "BACKOFF_MOST", "Flight", "backoff", "spawn"]

BACKOFF_FIRST = 1.0  # seconds before the first retry of a failed refresh
BACKOFF_MOST = 60.0  # the longest wait: a recovered source is noticed within a minute

# Background tasks must be referenced until they end: asyncio keeps only weak references.
_RUNNING: set[asyncio.Task[None]] = set()


def backoff(streak: int) -> float:
    """Seconds to wait after the ``streak``-th failure in a row: 1, 2, 4 ... 60."""
    return float(min(BACKOFF_MOST, BACKOFF_FIRST * 2 ** min(streak - 1, 16)))


class Flight:
    """At most one refresh in flight; callers that arrive meanwhile wait for it.

    The event exists only while a refresh runs, in the event loop running it, so a provider
    built outside any loop (at import time) holds no loop-bound primitive.
    """

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done: anyio.Event | None = None

    @property
    def running(self) -> bool:
        """Whether a refresh is in flight."""
        return self._done is not None

    def begin(self) -> bool:
        """Mark a refresh as in flight, now; ``False`` if one already is."""
        if self._done is not None:
            return False
        self._done = anyio.Event()
        return True

    def end(self) -> None:
        """The refresh is over: wake whoever waits for it."""
        done, self._done = self._done, None
        if done is not None:
            done.set()

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work``, or, if a refresh is in flight, wait for that one instead."""
        if not self.begin():
            await self.wait()
            return
        try:
            await work()
        finally:
            self.end()

    async def wait(self) -> None:
        """Wait for the refresh in flight, if any."""
        if self._done is not None:
            await self._done.wait()


def spawn(work: Callable[[], Awaitable[None]]) -> bool:
    """Start ``work`` in a task of its own, which no request's cancellation reaches.

    ``work`` must catch its own exceptions. Returns ``False`` (nothing started) on an event
    loop that is neither asyncio nor trio; the caller then runs it inline.
    """
    library = sniffio.current_async_library()
    if library == "asyncio":
        task = asyncio.get_running_loop().create_task(_run(work))
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)
        return True
    if library == "trio":
        import trio

        trio.lowlevel.spawn_system_task(work)
        return True
    return False  # pragma: no cover - anyio supports only these two


async def _run(work: Callable[[], Awaitable[None]]) -> None:
    await work()
