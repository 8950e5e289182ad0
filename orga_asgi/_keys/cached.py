"""``cached``: a key fetched from a secret manager, kept ``ttl`` seconds, refreshed in the
background.

One fetch at a time, whoever asks. A fresh key is served at once; a stale one is served
while a background fetch replaces it; only the very first fetch, and the one after the
upstream rejected the key, are waited for. A failing fetch leaves the last good key in use
(one WARNING per failure streak) and is retried after a bounded backoff, so a secret
manager that is down is neither hammered nor a reason to stop minting.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from orga_asgi._errors import ConfigurationError
from orga_asgi._log import get_logger

from .check import KeyUnavailable, fingerprint, validate_key
from .flight import Flight, backoff, spawn

if TYPE_CHECKING:
    from orga_asgi._principal import Principal, Secret

__all__ = ["CachedKey", "Fetch"]

logger = get_logger("orga_asgi.keys")

Fetch = Callable[[], Awaitable["str | Secret"]]


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigurationError(f"cached({name}=...) must be a positive number of seconds.")
    return float(value)


class CachedKey:
    """The key ``fetch`` returns, cached for ``ttl`` seconds (see the module docstring)."""

    __slots__ = ("_cancel", "_clock", "_doubted", "_failure", "_fetch", "_flight",
                 "_fresh_until", "_key", "_retry_at", "_streak", "_timeout", "_ttl")  # fmt: skip

    def __init__(
        self, fetch: Fetch, ttl: float, timeout: float, clock: Callable[[], float]
    ) -> None:
        if not callable(fetch):
            raise ConfigurationError("cached() takes an async callable that returns the key.")
        self._fetch = fetch
        self._ttl = _seconds("ttl", ttl)
        self._timeout = _seconds("timeout", timeout)
        self._clock = clock
        self._flight = Flight()
        self._key: Secret | None = None
        self._fresh_until = -math.inf
        self._retry_at = -math.inf
        self._streak = 0  # failed fetches in a row
        self._failure = "no fetch yet"
        self._doubted = False  # the upstream rejected the key: wait for a new fetch
        self._cancel: anyio.CancelScope | None = None

    async def resolve(self, principal: Principal | None) -> Secret:
        """The cached key; fetched first if there is none or the upstream rejected it.

        Raises:
            KeyUnavailable: no fetch has succeeded yet.
        """
        key = self._key
        if key is not None and not self._doubted:
            if self._clock() >= self._fresh_until:
                self._start()  # serve the stale key meanwhile
            return key
        self._start()
        await self._flight.wait()
        if self._doubted and self._key is not None:  # that fetch began before the rejection
            self._start()
            await self._flight.wait()
        if self._key is None:
            raise KeyUnavailable(f"no key fetched yet: {self._failure}")
        return self._key

    def invalidate(self) -> None:
        """The upstream rejected the key: the next :meth:`resolve` waits for a new fetch
        (unless one failed just now and its backoff is still running)."""
        if self._key is not None:
            self._doubted = True

    def _start(self) -> None:
        """Start a fetch in the background, unless one is under way or backing off."""
        if self._clock() < self._retry_at or not self._flight.begin():
            return
        if not spawn(self._background):  # pragma: no cover - not asyncio, not trio
            self._flight.end()
            raise KeyUnavailable("cached() needs asyncio or trio")

    async def _background(self) -> None:
        # In a task of its own: a request cancelled while it waits cancels no fetch.
        try:
            with anyio.CancelScope() as self._cancel:
                await self._refresh()
        finally:
            self._cancel = None
            self._flight.end()

    async def _refresh(self) -> None:
        doubted, old = self._doubted, self._key
        started = self._clock()
        try:
            with anyio.fail_after(self._timeout):
                value = await self._fetch()
            key = validate_key(value, source="the value cached()'s fetch returned")
        except Exception as exc:
            # The type only: a secret manager's error text may quote anything.
            why = exc if isinstance(exc, ConfigurationError) else type(exc).__name__
            self._failed(started, f"the fetch failed ({why})")
        else:
            self._key, self._fresh_until = key, started + self._ttl
            if self._streak:
                logger.info("Fetching the Orga API key works again: key %s", fingerprint(key))
            self._streak, self._retry_at = 0, -math.inf
            if doubted and key == old:
                # The source still holds the key the upstream refused: ask again only
                # after a pause, however many requests it refuses meanwhile.
                self._retry_at = started + backoff(1)
            elif old is not None and key != old:
                logger.info("Fetched a new Orga API key: %s replaces %s",
                            fingerprint(key), fingerprint(old))  # fmt: skip
        finally:
            if doubted:
                self._doubted = False  # answered, by a new key or by the same one

    def _failed(self, started: float, why: str) -> None:
        self._streak += 1
        self._failure = why
        wait = backoff(self._streak)
        self._retry_at = started + wait
        if self._streak == 1:  # one WARNING per streak; recovery is logged at INFO
            if self._key is not None:
                logger.warning("Fetching the Orga API key: %s; still using key %s, retrying "
                               "with backoff", why, fingerprint(self._key))  # fmt: skip
            else:
                logger.warning("Fetching the Orga API key: %s; no key yet, retrying in %gs",
                               why, wait)  # fmt: skip

    async def aclose(self) -> None:
        """Cancel the fetch under way, if any (a later mint starts a new one)."""
        if self._cancel is not None:
            self._cancel.cancel()

    def __repr__(self) -> str:
        name = getattr(self._fetch, "__qualname__", type(self._fetch).__qualname__)
        return f"cached({name}, ttl={self._ttl!r})"
