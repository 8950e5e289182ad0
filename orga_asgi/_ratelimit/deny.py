"""Keys the shared store refused, remembered in this process until their window has room.

Counts in a shared window only grow until they expire: other processes can add hits, none
can take them away (only ``reset()`` does, see below). So once the store says "refused, a
unit frees in ``t`` seconds", that key stays refused for at least ``t`` seconds, whatever
any other process does meanwhile, and this process can answer its next requests before then
itself: a 429 flood of one key costs one round trip per window reset per process, instead of
one per request. (Moving window: ``t`` is when the oldest hit still in the window leaves it;
sliding counter: when the weighted count leaves room; both come in the refusing reply.)

``deny_until`` is taken from the clock *before* the round trip: the store measured ``t`` at
some moment after that, so the local deadline is never later than the real one.

A ``reset()`` of the gate empties this process's cache; one run in another process (or a
Redis flush) cannot, so there a refused key stays refused here until its deadline: the
deadline it would have had anyway, never longer.

Memory is bounded: at most ``cap`` keys per namespace; a full cache first drops the expired
entries, then the oldest half, so the scan is amortized O(1) per entry added. Dropping an
entry is always safe: it only costs that key one round trip.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["DenyCache"]

_CAP = 10_000  # keys per namespace; ~200 bytes each, so ~2 MB at most


class DenyCache:
    """``key -> (deadline, window index)`` for keys refused by the shared store.

    Args:
        clock: monotonic seconds (the gate's clock).
        cap: keys held at most.
    """

    __slots__ = ("_cap", "_clock", "_entries")

    def __init__(self, clock: Callable[[], float], cap: int = _CAP) -> None:
        self._clock = clock
        self._cap = cap
        self._entries: dict[str, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def refused(self, key: str) -> tuple[float, int] | None:
        """``(seconds still refused, window index)`` if ``key`` is refused now, else ``None``.

        An expired entry is dropped on the way.
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        wait = entry[0] - self._clock()
        if wait > 0:
            return wait, entry[1]
        del self._entries[key]
        return None

    def add(self, key: str, deadline: float, index: int) -> None:
        """Remember that ``key`` is refused by window ``index`` until ``deadline``."""
        if key not in self._entries and len(self._entries) >= self._cap:
            self._shrink()  # replaces the dict
        self._entries[key] = (deadline, index)

    def clear(self) -> None:
        """Forget every key (the gate's ``reset()``)."""
        self._entries = {}

    def _shrink(self) -> None:
        now = self._clock()
        kept = {k: v for k, v in self._entries.items() if v[0] > now}
        if len(kept) > self._cap // 2:
            # Insertion order is refusal order: the oldest refusals go first (a dict keeps
            # it). Down to half, so the next scan is cap/2 additions away.
            kept = dict(list(kept.items())[len(kept) - self._cap // 2 :])
        self._entries = kept
