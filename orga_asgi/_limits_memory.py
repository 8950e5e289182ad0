"""Moved to :mod:`orga_asgi._ratelimit.memory`; this re-export goes away before 0.2."""

from ._ratelimit.memory import (
    CounterWindow,
    MemoryWindow,
    MovingWindow,
    Outcome,
    sliding_reset,
    sliding_wait,
)

__all__ = [
    "CounterWindow",
    "MemoryWindow",
    "MovingWindow",
    "Outcome",
    "sliding_reset",
    "sliding_wait",
]
