"""Per-process rate limit windows: the ``memory://`` store, and the fallback of a shared one.

Why not limits' memory storages (measured with limits 5.8): the async ``MemoryStorage``
expires keys with one background task that sweeps *every* key with one ``asyncio.to_thread``
hop each; 100,000 distinct addresses go in within ~1.2 s but a sweep takes many seconds, so a
sustained flood outgrows it. Its task is bound to one asyncio loop (it fails under trio, and
expiry stops for good if that loop closes first). The sync ``MemoryStorage`` sweeps from a
thread timer and, for the moving window, never deletes a key whose log emptied: 10,000
expired addresses left 10,000 keys behind. The windows here apply the same two algorithms
(moving-window log, sliding window counter, with limits' comparisons and weighting) with
amortized O(1) expiry and no task, thread or lock:

* one ordered mapping per window and namespace, ordered by the last *accepted* hit. Every key
  of a mapping has the same window length, so that order is also expiry order and expired
  keys are always at the front; a hit that finds one there drops up to ``_SWEEP`` of them. A
  key lives at most one window (two for the counter) after its last accepted hit, so memory
  is bounded by the rate of new keys times the window, and goes back once traffic moves on.
* every operation is synchronous and atomic with respect to the event loop (no ``await``),
  so it works on asyncio and trio alike and costs CPU only (a few microseconds).

The clock is monotonic: a wall clock jump can neither unlock nor freeze a caller.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from math import floor
from typing import Generic, NamedTuple, TypeVar

__all__ = [
    "CounterWindow",
    "MemoryWindow",
    "MovingWindow",
    "Outcome",
    "sliding_reset",
    "sliding_wait",
]

# Expired keys dropped per hit at most: bounds the cost of one request after a flood while
# still draining a 100,000-key backlog within ~100 requests.
_SWEEP = 1024

_State = TypeVar("_State")


class Outcome(NamedTuple):
    """What one window said about one hit.

    Attributes:
        allowed: the hit was counted.
        remaining: hits left in the window after this one (0 when refused).
        reset: seconds until the next unit of quota frees up; when refused, until a retry
            can pass.
    """

    allowed: bool
    remaining: int
    reset: float


def sliding_wait(
    limit: int, expiry: float, prev: int, prev_ttl: float, curr: int, roll_in: float
) -> float:
    """Seconds until a refused sliding-window-counter hit would pass.

    A hit passes once ``prev * ttl / expiry + curr < limit`` (the weighted count leaves room
    for one). ``roll_in`` is when the current window becomes the previous one.
    """
    if curr < limit:
        # Only the previous window's weight has to decay.
        return max(0.0, prev_ttl - (limit - curr) * expiry / prev) if prev else 0.0
    # The current window must roll over, then decay as the previous one.
    return roll_in + expiry * (1.0 - limit / curr)


def sliding_reset(expiry: float, prev: int, prev_ttl: float, curr: int, roll_in: float) -> float:
    """Seconds until the weighted count of a sliding window counter drops by one."""
    if prev:
        return prev_ttl % (expiry / prev)
    return roll_in + expiry / max(curr, 1)


class MemoryWindow(Generic[_State]):
    """One rate limit window for one namespace, kept in this process.

    Args:
        limit: hits allowed per window.
        expiry: window length in seconds.
        clock: monotonic seconds; injectable for tests.
    """

    __slots__ = ("_clock", "_expiry", "_keys", "_limit", "_swept")

    def __init__(
        self, limit: int, expiry: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._expiry = expiry
        self._clock = clock
        # Ordered by last accepted hit, hence by expiry: expired keys are at the front. An
        # OrderedDict, not a dict: finding the front of a dict that keeps deleting and
        # re-inserting scans its dead slots (measured 50 us per hit at 20,000 keys); the
        # OrderedDict's linked list finds it in O(1), and move_to_end is O(1).
        self._keys: OrderedDict[str, _State] = OrderedDict()
        self._swept = 0

    def __len__(self) -> int:
        """Number of keys currently held (for tests and metrics)."""
        return len(self._keys)

    def clear(self) -> None:
        """Forget every key (``RateLimitGate.reset``); the table's memory goes back too."""
        self._keys = OrderedDict()
        self._swept = 0

    def hit(self, key: str) -> Outcome:  # pragma: no cover - abstract
        """Count one hit for ``key`` if the window has room."""
        raise NotImplementedError

    def _sweep(self, live: Callable[[_State], bool]) -> OrderedDict[str, _State]:
        """Drop up to ``_SWEEP`` expired keys from the front; returns the (new) mapping."""
        keys = self._keys
        dropped = 0
        for state in keys.values():
            if dropped == _SWEEP or live(state):
                break
            dropped += 1
        for _ in range(dropped):
            keys.popitem(last=False)
        self._swept += dropped
        if self._swept > 4 * len(keys) + 1024:
            # Tables never shrink on deletion: copy once most of a flood is gone so the
            # memory goes back, not just the keys. Amortized O(1) per dropped key.
            keys = self._keys = OrderedDict(keys)
            self._swept = 0
        return keys


class MovingWindow(MemoryWindow["float | list[float]"]):
    """Moving-window log: the times of the accepted hits of the last window, oldest first.

    A key's first hit is stored as a bare float (24 bytes), and becomes a list only at its
    second hit: a flood of distinct addresses, one hit each, is the case that must stay
    small (a one-entry list costs ~90 bytes; an empty deque ~600).
    """

    __slots__ = ()

    def hit(self, key: str) -> Outcome:
        now = self._clock()
        cutoff = now - self._expiry  # an entry counts while it is >= cutoff, as in limits
        keys = self._keys
        oldest = next(iter(keys.values()), None)
        if oldest is not None and _last(oldest) < cutoff:
            keys = self._sweep(lambda entry: _last(entry) >= cutoff)
        entry = keys.get(key)
        if entry is None or (isinstance(entry, float) and entry < cutoff):
            keys[key] = now
            keys.move_to_end(key)  # the mapping stays ordered by expiry
            return Outcome(True, self._limit - 1, self._expiry)
        log = [entry] if isinstance(entry, float) else entry
        start = 0
        if log[0] < cutoff:
            start = bisect_left(log, cutoff)
            # Trim only once most of the log has expired: deleting a few entries from the
            # front of a long log (a generous limit under load) moves the whole list on
            # every hit; trimming at half keeps the cost amortized O(1).
            if start * 2 >= len(log):
                del log[:start]
                start = 0
        count = len(log) - start
        if count >= self._limit:
            # Retry once the oldest live entry leaves the window.
            return Outcome(False, 0, log[start] - cutoff)
        log.append(now)
        keys[key] = log
        keys.move_to_end(key)  # the mapping stays ordered by expiry
        return Outcome(True, self._limit - count - 1, log[start] - cutoff)


def _last(entry: float | list[float]) -> float:
    return entry if isinstance(entry, float) else entry[-1]


class CounterWindow(MemoryWindow[tuple[int, int, int]]):
    """Sliding window counter: (window index, previous count, current count) per key."""

    __slots__ = ()

    def hit(self, key: str) -> Outcome:
        expiry, limit, keys = self._expiry, self._limit, self._keys
        position = self._clock() / expiry
        index = floor(position)
        oldest = next(iter(keys), None)
        if oldest is not None and keys[oldest][0] < index - 1:
            keys = self._sweep(lambda state: state[0] >= index - 1)
        state = keys.get(key)
        prev = curr = 0
        if state is not None:
            if state[0] == index:
                prev, curr = state[1], state[2]
            elif state[0] == index - 1:
                prev = state[2]
        ttl = (1.0 - (position - index)) * expiry  # left of the previous window's weight
        if floor(prev * ttl / expiry + curr) + 1 > limit:
            return Outcome(False, 0, sliding_wait(limit, expiry, prev, ttl, curr, ttl))
        keys[key] = (index, prev, curr + 1)
        keys.move_to_end(key)  # the mapping stays ordered by expiry
        curr += 1
        remaining = max(0, limit - floor(prev * ttl / expiry + curr))
        return Outcome(True, remaining, sliding_reset(expiry, prev, ttl, curr, ttl))
