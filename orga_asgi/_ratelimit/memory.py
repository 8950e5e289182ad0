"""Per-process rate limit windows: the ``memory://`` store, and the fallback of a shared one.

Why not limits' memory storages (measured with limits 5.8): the async ``MemoryStorage``
sweeps *every* key from one background task, one ``asyncio.to_thread`` hop each, so a
sustained flood of new addresses outgrows it; the task is bound to one asyncio loop (it
fails under trio). The sync one sweeps from a thread timer and never deletes a moving-window
key whose log emptied. The windows here apply the same two algorithms (moving-window log,
sliding window counter, with limits' comparisons and weighting) with no task, thread or lock:

* two plain dicts per window, generations one window long: the current one takes every key
  hit now, the previous one holds what was hit in the window before (a key hit again moves
  over). When the current generation ends, the previous one holds only expired keys and is
  retired whole; the current one becomes the previous (or is retired too, when even its
  latest accepted hit has expired). A key lives at most two windows after its last hit, and
  a retired table is freed ``_SWEEP`` keys per hit, so no request pays for a whole flood.
  Not an ``OrderedDict`` in expiry order: its linked list costs ~50 bytes more per key.
* compact entries: a moving-window key's first hit is a bare float, a log only from its
  second; a sliding-window-counter key is one int (``prev * (limit + 1) + curr``, the window
  being the generation's), so a one-hit key holds no object beside its name.
* every operation is synchronous and atomic with respect to the event loop (no ``await``),
  so it works on asyncio and trio alike and costs CPU only (a few microseconds).

The clock is monotonic: a wall clock jump can neither unlock nor freeze a caller.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from math import floor, inf
from typing import Generic, NamedTuple, TypeVar

__all__ = [
    "CounterWindow",
    "MemoryWindow",
    "MovingWindow",
    "Outcome",
    "sliding_reset",
    "sliding_wait",
]

# Keys of a retired table freed per hit at most: bounds the cost of one request after a
# flood while still freeing a 100,000-key table within ~100 requests.
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

    __slots__ = ("_clock", "_expiry", "_keys", "_limit", "_prev", "_retired")

    def __init__(
        self, limit: int, expiry: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._expiry = expiry
        self._clock = clock
        self._keys: dict[str, _State] = {}  # the current generation
        self._prev: dict[str, _State] = {}  # the one before: keys not hit since
        self._retired: list[dict[str, _State]] = []  # expired tables, being freed

    def __len__(self) -> int:
        """Number of keys currently held (for tests and metrics)."""
        return len(self._keys) + len(self._prev)

    def clear(self) -> None:
        """Forget every key (``RateLimitGate.reset``); the tables' memory goes back too."""
        self._keys, self._prev, self._retired = {}, {}, []

    def hit(self, key: str) -> Outcome:  # pragma: no cover - abstract
        """Count one hit for ``key`` if the window has room."""
        raise NotImplementedError

    def _retire(self, *tables: dict[str, _State]) -> None:
        self._retired.extend(t for t in tables if t)

    def _free(self) -> None:
        """Free up to ``_SWEEP`` keys of the retired tables (a table goes once empty)."""
        retired = self._retired
        table = retired[-1]
        pop = table.popitem
        for _ in range(min(_SWEEP, len(table))):
            pop()
        if not table:
            retired.pop()


class MovingWindow(MemoryWindow["float | list[float]"]):
    """Moving-window log: the times of the accepted hits of the last window, oldest first.

    A key's first hit is stored as a bare float (24 bytes), and becomes a list only at its
    second hit: a flood of distinct addresses, one hit each, is the case that must stay
    small (a one-entry list costs ~90 bytes; an empty deque ~600).
    """

    __slots__ = ("_latest", "_turn")

    def __init__(
        self, limit: int, expiry: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limit, expiry, clock=clock)
        self._turn = -inf  # when the current generation ends
        self._latest = -inf  # the latest hit accepted in it

    def clear(self) -> None:
        super().clear()
        self._turn = self._latest = -inf

    def _rotate(self, now: float) -> None:
        # The previous generation's hits all came before the current one began, a window or
        # more ago: expired. The current one's too, if even its latest accepted hit has (a
        # key moved in from the previous one carries only hits older than that).
        if self._latest < now - self._expiry:
            self._retire(self._prev, self._keys)
            self._prev = {}
        else:
            self._retire(self._prev)
            self._prev = self._keys
        self._keys = {}
        self._turn = now + self._expiry

    def hit(self, key: str) -> Outcome:
        now = self._clock()
        if now >= self._turn:
            self._rotate(now)
        if self._retired:
            self._free()
        cutoff = now - self._expiry  # an entry counts while it is >= cutoff, as in limits
        keys = self._keys
        entry = keys.get(key)
        if entry is None and self._prev:
            entry = self._prev.pop(key, None)
            if entry is not None:
                keys[key] = entry  # hit again: it belongs to this generation now
        if entry is None or (isinstance(entry, float) and entry < cutoff):
            keys[key] = self._latest = now
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
        self._latest = now
        return Outcome(True, self._limit - count - 1, log[start] - cutoff)


class CounterWindow(MemoryWindow[int]):
    """Sliding window counter: per key, the previous window's count and the current one's.

    The generations are the counter's windows: a key of the current table was counted in
    the current window (its value is ``prev * (limit + 1) + curr``), one of the previous
    table only in the window before (its value's ``curr`` is now the previous count).
    """

    __slots__ = ("_index",)

    def __init__(
        self, limit: int, expiry: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(limit, expiry, clock=clock)
        self._index = -2  # the current window's index; none yet

    def clear(self) -> None:
        super().clear()
        self._index = -2

    def _rotate(self, index: int) -> None:
        if index == self._index + 1:
            self._retire(self._prev)
            self._prev = self._keys
        else:  # two windows or more: both counts are gone
            self._retire(self._prev, self._keys)
            self._prev = {}
        self._keys = {}
        self._index = index

    def hit(self, key: str) -> Outcome:
        expiry, limit, keys = self._expiry, self._limit, self._keys
        position = self._clock() / expiry
        index = floor(position)
        if index > self._index:  # a monotonic clock never goes back: nothing to do then
            self._rotate(index)
            keys = self._keys
        if self._retired:
            self._free()
        base = limit + 1  # counts never exceed the limit
        state = keys.get(key)
        if state is not None:
            prev, curr = divmod(state, base)
        else:
            old = self._prev.get(key) if self._prev else None
            prev, curr = (old % base if old is not None else 0), 0
        ttl = (1.0 - (position - index)) * expiry  # left of the previous window's weight
        if floor(prev * ttl / expiry + curr) + 1 > limit:
            return Outcome(False, 0, sliding_wait(limit, expiry, prev, ttl, curr, ttl))
        curr += 1
        keys[key] = prev * base + curr
        if state is None and prev:
            del self._prev[key]  # counted in this window now: its previous count moved along
        remaining = max(0, limit - floor(prev * ttl / expiry + curr))
        return Outcome(True, remaining, sliding_reset(expiry, prev, ttl, curr, ttl))
