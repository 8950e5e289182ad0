"""A per-process cap on concurrent upstream exchanges, with a bounded wait."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

from orga_asgi._errors import Busy

__all__ = ["UpstreamSlots"]


class UpstreamSlots:
    """``async with slots:`` holds one of ``limit`` slots, or raises :class:`Busy`.

    A request that finds every slot taken waits at most ``queue_timeout`` seconds: a
    bounded queue keeps a burst from piling up requests that would time out anyway.
    """

    def __init__(
        self,
        limit: int | None,
        queue_timeout: float,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self._limit = limit
        self._queue_timeout = queue_timeout
        # Told the seconds an entry waited when every slot was taken (refused ones too); not
        # told when a slot was free, which is the common case and costs nothing here.
        self._on_wait = on_wait
        # Created on first use, inside the running event loop (asyncio or trio).
        self._semaphore: anyio.Semaphore | None = None

    def take(self) -> bool:
        """Take a free slot at once (``True``, also with no limit), else ``False``: then
        :meth:`wait`. The common case costs no coroutine."""
        limit = self._limit
        if limit is None:
            return True
        semaphore = self._semaphore
        if semaphore is None:
            semaphore = self._sem(limit)
        try:
            semaphore.acquire_nowait()
        except anyio.WouldBlock:
            return False
        return True

    async def wait(self) -> None:
        """Wait for a slot, at most ``queue_timeout`` seconds (after :meth:`take` failed).

        Raises:
            Busy: no slot within the queue timeout.
        """
        if self._limit is None:
            return
        semaphore = self._sem(self._limit)
        on_wait = self._on_wait
        started = time.perf_counter()
        try:
            with anyio.move_on_after(self._queue_timeout):
                await semaphore.acquire()
                return
        finally:
            if on_wait is not None:
                on_wait(time.perf_counter() - started)
        raise Busy("no upstream slot within the queue timeout") from None

    def _sem(self, limit: int) -> anyio.Semaphore:
        semaphore = self._semaphore
        if semaphore is None:
            semaphore = self._semaphore = anyio.Semaphore(limit)
        return semaphore

    def give(self) -> None:
        """Give a taken slot back."""
        if self._semaphore is not None and self._limit is not None:
            self._semaphore.release()

    async def __aenter__(self) -> None:
        if not self.take():
            await self.wait()

    async def __aexit__(self, *exc_info: object) -> None:
        self.give()
