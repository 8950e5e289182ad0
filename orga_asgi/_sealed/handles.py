"""Session handles: minted, kept for their token's ttl, taken once; the memory store.

A handle is ``secrets.token_urlsafe(32)``: 256 random bits, 43 URL-safe characters. A store
never keeps the handle itself, only :func:`handle_id` (an HMAC of it), so a dump of the
store (a Redis RDB file, a heap dump) holds no handle that could be redeemed. What a handle
stands for is a :class:`Sealed` record: the real token (a :class:`~orga_asgi.Secret`), the
principal it was minted for, the token's audit fingerprint (so the redeem names the same one
as the mint, in any process) and the session policy resolved at the mint.

Every store answers the same two calls: :meth:`put` (keep a record for ``ttl`` seconds) and
:meth:`take` (remove and return it, at most once, or ``None``), and reports the handles that
expired unredeemed to ``on_expired`` (a count), when it sweeps them.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from orga_asgi._log import get_logger

if TYPE_CHECKING:
    from orga_asgi._principal import Secret

    from .policy import SessionPolicy

__all__ = [
    "HANDLE_PATTERN",
    "HandleStore",
    "MemoryHandles",
    "Sealed",
    "handle_id",
    "handle_key",
    "new_handle",
]

logger = get_logger("orga_asgi.sealed")

HANDLE_BYTES = 32
HANDLE_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What :func:`new_handle` makes; anything else is refused before any store is asked."""
MAX_LIVE = 100_000
"""Handles one process keeps in memory at most; past it the soonest to expire goes first
(counted as expired). Far above what rate-limited mints reach within a ttl."""


def new_handle() -> str:
    """A fresh handle: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(HANDLE_BYTES)


def handle_id(handle: str) -> str:
    """The name a store keeps a handle's record under: one-way, 64 hex characters."""
    return hmac.new(handle.encode("ascii"), b"orga-asgi handle id", hashlib.sha256).hexdigest()


def handle_key(handle: str) -> bytes:
    """The key a shared store encrypts a handle's record with (never stored anywhere)."""
    return hmac.new(handle.encode("ascii"), b"orga-asgi handle key", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Sealed:
    """What a handle stands for, kept server-side.

    Attributes:
        token: the Orga ephemeral token; its repr is redacted.
        principal: the id of the principal it was minted for (``None``: ``issue()`` without
            one).
        fingerprint: the token's audit fingerprint, computed at the mint.
        expires_at: when the token expires, when the upstream said.
        policy: the policy resolved for the principal at the mint; ``None``: the endpoint's
            fixed ``session_policy``.
    """

    token: Secret
    principal: str | None
    fingerprint: str
    expires_at: datetime | None = None
    policy: SessionPolicy | None = field(default=None, repr=False)


class HandleStore(Protocol):
    """Where records wait for their redemption."""

    async def put(self, handle: str, sealed: Sealed, ttl: float) -> None:
        """Keep ``sealed`` under ``handle`` for ``ttl`` seconds."""
        ...

    async def take(self, handle: str) -> Sealed | None:
        """Remove and return the record of ``handle``; ``None`` if unknown, used or expired.

        Atomic: of concurrent calls with one handle, at most one gets the record.
        """
        ...

    async def aclose(self) -> None:
        """Close the store's connections."""
        ...


class MemoryHandles:
    """The default store: this process's memory (a handle is redeemed where it was minted).

    Args:
        on_expired: told how many handles expired unredeemed, at each sweep that found some.
        clock: monotonic seconds.
    """

    __slots__ = ("_clock", "_expiry", "_live", "_on_expired")

    def __init__(
        self,
        on_expired: Callable[[int], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._live: dict[str, tuple[float, Sealed]] = {}
        self._expiry: list[tuple[float, str]] = []  # a heap: the soonest to expire first
        self._on_expired = on_expired
        self._clock = clock

    def __len__(self) -> int:
        return len(self._live)

    def __repr__(self) -> str:
        return f"MemoryHandles(live={len(self._live)})"

    async def put(self, handle: str, sealed: Sealed, ttl: float) -> None:
        """Keep ``sealed`` for ``ttl`` seconds (sweeping the expired ones first)."""
        now = self._clock()
        self._sweep(now)
        key, until = handle_id(handle), now + ttl
        self._live[key] = (until, sealed)
        heapq.heappush(self._expiry, (until, key))

    async def take(self, handle: str) -> Sealed | None:
        """Remove and return the live record of ``handle``, else ``None``."""
        now = self._clock()
        key = handle_id(handle)
        entry = self._live.get(key)
        found = None
        if entry is not None and entry[0] > now:
            # One dict operation with no await before it: two tasks cannot both get it.
            del self._live[key]
            found = entry[1]
        self._sweep(now)  # an expired one is left to the sweep, which counts it
        return found

    def _sweep(self, now: float) -> None:
        heap, live = self._expiry, self._live
        expired = 0
        while heap and (heap[0][0] <= now or len(live) >= MAX_LIVE):
            _, key = heapq.heappop(heap)
            if live.pop(key, None) is not None:  # not redeemed meanwhile
                expired += 1
        if expired and self._on_expired is not None:
            self._on_expired(expired)

    async def aclose(self) -> None:
        """Nothing to close; records are kept (the store may serve again)."""
