"""One namespace of windows ("ip" or "p"), its RateLimit header bytes, and the 429 error.

Headers follow draft-ietf-httpapi-ratelimit-headers (structured fields):
``RateLimit-Policy: "5-per-minute";q=5;w=60, "100-per-day";q=100;w=86400`` lists every window
of the check; ``RateLimit: "5-per-minute";r=3;t=42`` reports one window with the hits left
(``r``) and the seconds until a unit frees up (``t``). Policy values and the constant parts of
``RateLimit`` are built once, at construction; a request formats two integers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from hashlib import sha256
from math import ceil
from typing import TYPE_CHECKING, Any

from orga_asgi._errors import RateLimited

from .config import Window
from .deny import DenyCache
from .memory import CounterWindow, MemoryWindow, MovingWindow, Outcome

if TYPE_CHECKING:
    from .redis_store import SharedStore

__all__ = ["NO_ADDRESS", "LimitHeaders", "RateLimitExceeded", "Space", "key_id", "local_key"]

# Ids made of these characters go into Redis keys as they are; anything else (braces would
# pick a cluster hash slot, spaces and control characters make keys unreadable, length is
# unbounded) is hashed. "~" starts the hashed form and is not in the set, so a raw id can
# never equal a hashed one. "/" is in the set for "2001:db8::/64": limits' key ends with
# exactly three "/"-separated fields after the id, so an id with slashes is still read back
# unambiguously from the right.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,64}")
# Address checks for a request without a known client address share this bucket.
NO_ADDRESS = "-"


def _hashed(value: str) -> str:
    return "~" + sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def key_id(value: str) -> str:
    """``value`` as it may appear in a Redis key: itself if plain, else a hash."""
    if _PLAIN_ID.fullmatch(value):
        return value
    return _hashed(value)


def local_key(value: str) -> str:
    """``value`` as a key of the memory windows: itself, unless long (then a hash).

    Bounds the memory one key holds (an authorize hook may return a huge id) at the cost of
    one length check; ids starting with ``~`` are hashed too, so none can pose as a hash.
    """
    if len(value) <= 64 and value[:1] != "~":
        return value
    return _hashed(value)


def _tighter(outcome: Outcome, best: Outcome) -> bool:
    """Whether ``outcome`` is reported over ``best``: fewer requests left (ties: the later
    reset), as the IETF draft reports the most restrictive policy."""
    return outcome.remaining < best.remaining or (
        outcome.remaining == best.remaining and outcome.reset > best.reset
    )


LimitHeaders = list[tuple[bytes, bytes]]
"""The RateLimit headers of one check, ready to extend raw ASGI headers with:
``[(b"ratelimit-policy", ...), (b"ratelimit", ...)]``, a fresh list per request (the list
itself, no wrapper object: it is built twice on every mint)."""


class RateLimitExceeded(RateLimited):
    """A window is exhausted: 429 ``rate_limited``, with its RateLimit headers.

    Attributes:
        headers: the RateLimit headers to send with the 429 (``r=0``).
    """

    def __init__(
        self, detail: str, *, retry_after: int, headers: list[tuple[bytes, bytes]]
    ) -> None:
        super().__init__(detail, retry_after=retry_after, headers=headers)
        self.headers: list[tuple[bytes, bytes]] = headers


class Space:
    """The windows of one namespace (``ip`` or ``p``) and their precomputed bytes."""

    __slots__ = (
        "clock",
        "denied",
        "details",
        "memory",
        "namespace",
        "policy",
        "prefixes",
        "windows",
    )

    def __init__(
        self,
        namespace: str,
        windows: tuple[Window, ...],
        *,
        sliding: bool,
        clock: Callable[[], float],
    ) -> None:
        label = "ip-" if namespace == "ip" else ""
        self.namespace = namespace
        self.windows = windows
        self.clock = clock
        # Keys the shared store refused, answered here until their window has room.
        self.denied = DenyCache(clock)
        kind = CounterWindow if sliding else MovingWindow
        # The store itself with memory://, the per-process fallback with a shared store.
        self.memory: tuple[MemoryWindow[Any], ...] = tuple(
            kind(w.limit, w.expiry, clock=clock) for w in windows
        )
        policy = ", ".join(f'"{label}{w.name}";q={w.limit};w={w.expiry}' for w in windows)
        self.policy = (b"ratelimit-policy", policy.encode("ascii"))
        self.prefixes = tuple(f'"{label}{w.name}";r='.encode("ascii") for w in windows)
        # Operator-facing detail of the 429; never the caller's id or address.
        self.details = tuple(f"{namespace} window {w.spec} exhausted" for w in windows)

    async def check(self, key: str, shared: SharedStore | None) -> LimitHeaders | None:
        """Count one hit of ``key`` in every window, shortest first, stopping at a refusal.

        With a shared store, a key it refused is refused again here, with no round trip,
        until its window can have room (:mod:`.deny`).

        Raises:
            RateLimitExceeded: a window is exhausted.
            RateLimiterUnavailable: the shared store failed and the policy is ``deny``.
        """
        if shared is None:
            return self.check_local(key)
        refused = self.denied.refused(key)
        if refused is not None:  # refused by the store, and no room yet: no round trip
            raise self.refusal(refused[1], refused[0])
        # Reported: the window with the fewest requests left (see _tighter).
        best: Outcome | None = None
        index = 0
        for i, window in enumerate(self.windows):
            found = await shared.hit(self.namespace, i, window, key, self.memory[i], self.denied)
            if found is None:  # store down, policy "allow": this window is not enforced
                continue
            if not found.allowed:
                raise self.refusal(i, found.reset)
            if best is None or _tighter(found, best):
                index, best = i, found
        if best is None:
            return None
        return self.headers(index, int(best.remaining), best.reset)

    def check_local(self, key: str) -> LimitHeaders | None:
        """:meth:`check` on the memory windows alone: no store, so nothing to await (the
        path of every request without a shared store, refusals included)."""
        best: Outcome | None = None
        index = 0
        for i, memory in enumerate(self.memory):
            outcome = memory.hit(key)
            if not outcome.allowed:
                raise self.refusal(i, outcome.reset)
            if best is None or _tighter(outcome, best):  # no call for a single window
                index, best = i, outcome
        if best is None:
            return None
        return self.headers(index, int(best.remaining), best.reset)

    def refusal(self, index: int, wait: float) -> RateLimitExceeded:
        """The 429 of window ``index``, retry in ``wait`` seconds (at least one)."""
        retry_after = max(1, ceil(wait))
        return RateLimitExceeded(
            self.details[index],
            retry_after=retry_after,
            headers=self.headers(index, 0, retry_after),
        )

    def reset(self) -> None:
        """Forget every count of the memory windows, and every remembered refusal."""
        for window in self.memory:
            window.clear()
        self.denied.clear()

    def headers(self, index: int, remaining: int, reset: float) -> list[tuple[bytes, bytes]]:
        """The two headers for window ``index``, ``t`` rounded up to whole seconds."""
        value = b"%s%d;t=%d" % (self.prefixes[index], remaining, max(0, ceil(reset)))
        return [self.policy, (b"ratelimit", value)]
