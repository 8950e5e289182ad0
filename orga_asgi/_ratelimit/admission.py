"""``RateLimitGate.admit()``: the in-flight slot first, then the per-principal windows.

A plain object with ``__aenter__``/``__aexit__`` rather than an ``asynccontextmanager``: no
generator and no wrapper per request on the path every mint takes.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

    from .gate import RateLimitGate
    from .space import LimitHeaders

__all__ = ["DONE", "Admission"]


class Admission:
    """The context manager :meth:`RateLimitGate.admit` returns (a plain object: no generator
    per request)."""

    __slots__ = ("_gate", "_held", "_key")

    def __init__(self, gate: RateLimitGate, key: str) -> None:
        self._gate = gate
        self._key = key
        self._held = False

    async def __aenter__(self) -> LimitHeaders | None:
        gate = self._gate
        if gate.local:
            return self.enter_now()
        gate.acquire_in_flight(self._key)
        try:
            headers = await gate.check_principal(self._key)
        except BaseException:  # a refusal, the store's deny, or a cancellation
            gate.release_in_flight(self._key)
            raise
        self._held = True
        return headers

    def enter_now(self) -> LimitHeaders | None:
        """``__aenter__`` of a :attr:`~RateLimitGate.local` gate: nothing to await."""
        gate = self._gate
        gate.acquire_in_flight(self._key)
        try:
            headers = gate.check_principal_now(self._key)
        except BaseException:  # a refusal
            gate.release_in_flight(self._key)
            raise
        self._held = True
        return headers

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.leave()

    def leave(self) -> None:
        """Give the in-flight slot back, if held (once; nothing to await)."""
        if self._held:
            self._held = False
            self._gate.release_in_flight(self._key)


class _Done:
    """An awaitable that is already done; safe to drop without awaiting."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield from ()


DONE = _Done()
"""What ``reset()`` returns without a shared store: done already, fine to drop."""
