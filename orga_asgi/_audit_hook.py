"""``on_audit=``: the user's hook, given each :class:`AuditEvent` off the response path.

The request only appends its event to a bounded queue; one worker task, started on the
running loop at the first event, calls the hook with a timeout: an ``async`` hook in the
loop, a plain one in a worker thread (so a blocking one never stalls the loop). Whatever the
hook does (raise, hang, fall behind), the response was already sent and the request's task
ends at once. Each kind of failure is logged once and counted; :meth:`AuditHook.aclose`
delivers what is queued (within the timeout) and logs the counts.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import sniffio

from ._errors import ConfigurationError
from ._log import get_logger
from .observe import AuditEvent, Observer

__all__ = ["AuditHook"]

logger = get_logger("orga_asgi.observe")

DEFAULT_TIMEOUT = 5.0
"""Seconds one call of the hook may take before it is abandoned."""
DEFAULT_QUEUE = 1024
"""Events waiting for the hook; more are dropped (counted, logged once)."""
_MAX_STUCK = 2  # abandoned sync calls still running: beyond that, events are dropped


def _is_async(hook: object) -> bool:
    call = getattr(hook, "__call__", None)  # noqa: B004 - an async __call__ counts too
    return inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(call)


def _owner() -> object:
    """The running event loop (asyncio) or trio's token: what the worker belongs to."""
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_trio_token()
    return asyncio.get_running_loop()


class AuditHook(Observer):
    """Runs ``hook(event)`` for every request, off the request's task.

    Args:
        hook: a callable taking an :class:`AuditEvent`, sync or ``async``.
        timeout: seconds one call may take; a slower one is abandoned (counted).
        queue_size: events that may wait for the hook; more are dropped (counted).

    Raises:
        ConfigurationError: ``hook`` is not callable, or a bound is not positive.
    """

    def __init__(
        self,
        hook: Callable[[AuditEvent], object],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        queue_size: int = DEFAULT_QUEUE,
    ) -> None:
        if not callable(hook):
            raise ConfigurationError(
                "on_audit must be a function taking an orga_asgi.AuditEvent (sync or async)."
            )
        if not timeout > 0 or queue_size < 1:
            raise ConfigurationError("on_audit needs a positive timeout and queue size.")
        self._hook = hook
        self._async = _is_async(hook)
        self._timeout = float(timeout)
        self._size = queue_size
        self._pending: deque[AuditEvent] = deque()
        self._owner: object = None
        self._wake: anyio.Event | None = None
        self._drained: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._task: object = None  # asyncio keeps only weak references to tasks
        self._limiter: anyio.CapacityLimiter | None = None
        self._lock = threading.Lock()
        self._stuck = 0
        self._busy = False
        self._logged: set[str] = set()
        self.delivered = self.dropped = self.failed = self.timed_out = 0
        self._told: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return f"AuditHook({getattr(self._hook, '__qualname__', type(self._hook).__name__)})"

    def on_request(self, event: AuditEvent) -> None:
        """Queue ``event`` for the hook (drop it when the queue is full)."""
        if len(self._pending) >= self._size:
            self._drop("full", f"its queue of {self._size} events is full")
            return
        try:
            owner = _owner()
        except Exception:  # not in an event loop: nobody could run the hook
            self._drop("loop", "no event loop is running")
            return
        self._pending.append(event)
        if owner is not self._owner:
            self._start(owner)  # first event, or a new loop (the old worker died with its own)
        elif self._wake is not None:
            self._wake.set()

    def _start(self, owner: object) -> None:
        self._owner, self._wake, self._drained, self._limiter = owner, None, None, None
        if isinstance(owner, asyncio.AbstractEventLoop):
            # An empty context: the worker must not inherit the first request's (its id,
            # the current span).
            self._task = contextvars.Context().run(owner.create_task, self._run())
        else:
            import trio

            trio.lowlevel.spawn_system_task(self._run, context=contextvars.Context())

    async def _run(self) -> None:
        if self._owner is None:  # closed before this worker got to run
            return
        with anyio.CancelScope() as scope:
            self._scope = scope
            while True:
                while self._pending:
                    await self._deliver(self._pending.popleft())
                if self._drained is not None:
                    self._drained.set()
                self._wake = anyio.Event()
                await self._wake.wait()

    async def _deliver(self, event: AuditEvent) -> None:
        self._busy, ran = True, True
        try:
            with anyio.move_on_after(self._timeout) as scope:
                ran, result = await self._call(event)
                if inspect.isawaitable(result):  # a plain function that returned a coroutine
                    await result
            if scope.cancelled_caught:
                self.timed_out += 1
                self._once("timeout", "on_audit did not finish within %.1f s and was abandoned",
                           self._timeout, request_id=event.request_id)  # fmt: skip
            elif ran:
                self.delivered += 1
        except Exception as exc:
            self.failed += 1
            kind = type(exc).__qualname__
            if kind not in self._logged:  # once per kind: a broken hook must not flood
                self._logged.add(kind)
                logger.warning(
                    "on_audit raised %s; further such failures are not logged",
                    kind,
                    exc_info=True,
                    extra={"request_id": event.request_id},
                )
        finally:
            self._busy = False

    async def _call(self, event: AuditEvent) -> tuple[bool, object]:
        """Whether the hook ran (not when too many earlier calls are stuck), its result."""
        if self._async:
            return True, await self._hook(event)  # type: ignore[misc]
        with self._lock:
            stuck = self._stuck
            if stuck < _MAX_STUCK:
                self._stuck += 1
        if stuck >= _MAX_STUCK:
            self._drop("stuck", f"{stuck} calls abandoned after their timeout still run")
            return False, None
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(_MAX_STUCK)
        # abandon_on_cancel: on timeout the worker moves on and the thread finishes alone.
        result = await anyio.to_thread.run_sync(
            self._in_thread, event, abandon_on_cancel=True, limiter=self._limiter
        )
        return True, result

    def _in_thread(self, event: AuditEvent) -> object:
        try:
            return self._hook(event)
        finally:
            with self._lock:
                self._stuck -= 1

    def _drop(self, kind: str, why: str) -> None:
        self.dropped += 1
        self._once(kind, "on_audit is falling behind (%s): dropping events; further drops are "
                   "not logged, their count is at shutdown", why)  # fmt: skip

    def _once(self, kind: str, message: str, *args: Any, request_id: str | None = None) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            extra = {"request_id": request_id} if request_id is not None else None
            logger.warning(message, *args, extra=extra)

    async def aclose(self) -> None:
        """Deliver what is queued (within the timeout), stop the worker, log the counts."""
        try:
            same_loop = self._owner is not None and _owner() is self._owner
        except Exception:
            same_loop = False
        if same_loop:
            if self._pending or self._busy:  # the worker may not even have started yet
                drained = self._drained = anyio.Event()
                if self._wake is not None:
                    self._wake.set()
                with anyio.move_on_after(self._timeout):
                    await drained.wait()
            if self._scope is not None:
                self._scope.cancel()
        self._owner = self._scope = self._task = None
        lost = len(self._pending)
        self._pending.clear()
        counts = (self.delivered, self.dropped, self.failed, self.timed_out, lost)
        if (self.dropped or self.failed or self.timed_out or lost) and counts != self._told:
            self._told = counts  # a second aclose() with nothing new says nothing
            logger.warning(
                "on_audit: %d events delivered, %d dropped, %d failed, %d timed out, %d "
                "undelivered at shutdown",
                *counts,
            )
