"""Rate limits of the route: windows per address and per principal, in-flight cap, headers.

A request passes :meth:`RateLimitGate.check_ip` (before ``authorize``), then
:meth:`RateLimitGate.check_principal` and :meth:`RateLimitGate.acquire_in_flight`. Windows are
checked shortest first and checking stops at the first refusal, so a caller hammering a short
window is refused there and never drains a long one (a loop over ``hit()`` would).

Stores: ``memory://`` keeps the windows in this process (:mod:`._limits_memory`, lean and
synchronous); a Redis/Valkey URI shares them across processes and hosts through the ``limits``
async storage with redis-py (:mod:`._limits_redis`, one round trip per window checked, with
the ``on_storage_error`` policy).

Headers (:mod:`._limits_space`): ``RateLimit-Policy`` lists every window of the check,
``RateLimit`` reports the window closest to exhaustion: the fewest hits left, on a tie the
longest wait; on a refusal, the refusing window.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from math import ceil
from typing import TYPE_CHECKING, Literal

from ._errors import ConfigurationError, TooManyInFlight
from ._limits_config import parse_storage, parse_windows
from ._limits_space import NO_ADDRESS, LimitHeaders, RateLimitExceeded, Space, key_id

if TYPE_CHECKING:
    from ._limits_redis import SharedStore

__all__ = ["LimitHeaders", "RateLimitExceeded", "RateLimitGate"]

logger = logging.getLogger("orga_asgi.limits")

Strategy = Literal["moving-window", "sliding-window-counter"]
OnStorageError = Literal["fallback", "deny", "allow"]


class RateLimitGate:
    """Per-address and per-principal rate limits, and the per-principal in-flight cap.

    Args:
        rate_limits: windows per principal (``("5/minute", "100/day")``); ``None`` or empty
            disables them.
        ip_rate_limits: windows per client address, checked before ``authorize``.
        storage_uri: ``memory://`` (one process) or ``redis://``, ``rediss://``,
            ``redis+cluster://``, ``redis+sentinel://``, ``valkey://`` (shared).
        strategy: ``moving-window`` (exact) or ``sliding-window-counter`` (less memory).
        on_storage_error: when the shared store fails: ``fallback`` (limit per process in
            memory until it answers again), ``deny`` (503) or ``allow``.
        max_in_flight_per_principal: requests of one principal being minted at once;
            ``None`` disables the cap.
        key_prefix: prefix of every key in the shared store.

    Raises:
        ConfigurationError: on any invalid option, with a hint to fix it.
    """

    def __init__(
        self,
        *,
        rate_limits: Sequence[str] | None,
        ip_rate_limits: Sequence[str] | None,
        storage_uri: str = "memory://",
        strategy: Strategy = "moving-window",
        on_storage_error: OnStorageError = "fallback",
        max_in_flight_per_principal: int | None = 2,
        key_prefix: str = "orga_asgi",
        _reprobe_backoff: tuple[float, float] = (1.0, 30.0),
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if strategy not in ("moving-window", "sliding-window-counter"):
            raise ConfigurationError(
                f"strategy {strategy!r} is not supported; use 'moving-window' (default) or "
                "'sliding-window-counter' (less memory, approximate)"
            )
        if on_storage_error not in ("fallback", "deny", "allow"):
            raise ConfigurationError(
                f"on_storage_error {on_storage_error!r} is not supported; use 'fallback' "
                "(default), 'deny' or 'allow'"
            )
        cap = max_in_flight_per_principal
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigurationError(
                "max_in_flight_per_principal must be a positive int, or None to disable it"
            )
        if not isinstance(key_prefix, str) or not re.fullmatch(
            r"[A-Za-z0-9_.:-]{1,64}", key_prefix
        ):
            raise ConfigurationError(
                "key_prefix must be 1-64 characters among letters, digits and '_.:-'"
            )
        sliding = strategy == "sliding-window-counter"
        ip = parse_windows(ip_rate_limits, "ip_rate_limits")
        principal = parse_windows(rate_limits, "rate_limits")
        self._ip = Space("ip", ip, sliding=sliding, clock=_clock) if ip else None
        self._principal = (
            Space("p", principal, sliding=sliding, clock=_clock) if principal else None
        )
        self._target = parse_storage(storage_uri)
        self._strategy: Strategy = strategy
        self._on_storage_error: OnStorageError = on_storage_error
        self._max_in_flight = cap
        self._in_flight: dict[str, int] = {}
        self._shared: SharedStore | None = None
        if self._target.uri and (self._ip or self._principal):
            from ._limits_redis import SharedStore  # redis-py only when it is used

            self._shared = SharedStore(
                self._target,
                key_prefix=key_prefix,
                sliding=sliding,
                on_error=on_storage_error,
                backoff=_reprobe_backoff,
                clock=_clock,
                logger=logger,
            )

    def __repr__(self) -> str:
        def specs(space: Space | None) -> tuple[str, ...] | None:
            return tuple(w.spec for w in space.windows) if space else None

        return (
            f"RateLimitGate(rate_limits={specs(self._principal)!r}, "
            f"ip_rate_limits={specs(self._ip)!r}, storage={self._target.redacted!r}, "
            f"strategy={self._strategy!r}, on_storage_error={self._on_storage_error!r}, "
            f"max_in_flight_per_principal={self._max_in_flight!r})"
        )

    async def check_ip(self, client: str | None) -> LimitHeaders | None:
        """Count one request of a client address against the per-address windows.

        Args:
            client: the resolved client address; requests without one share one bucket.

        Returns:
            The RateLimit headers, or ``None`` when no per-address limit is configured.

        Raises:
            RateLimitExceeded: a window is exhausted (429 ``rate_limited``).
            RateLimiterUnavailable: the shared store failed and the policy is ``deny``.
        """
        if self._ip is None:
            return None
        return await self._check(self._ip, client or NO_ADDRESS)

    async def check_principal(self, principal_id: str) -> LimitHeaders | None:
        """Count one request of a principal against the per-principal windows.

        Returns:
            The RateLimit headers, or ``None`` when no per-principal limit is configured.

        Raises:
            RateLimitExceeded: a window is exhausted (429 ``rate_limited``).
            RateLimiterUnavailable: the shared store failed and the policy is ``deny``.
        """
        if self._principal is None:
            return None
        return await self._check(self._principal, principal_id)

    async def _check(self, space: Space, ident: str) -> LimitHeaders | None:
        shared = self._shared
        key = ident if shared is None else key_id(ident)
        best = -1
        best_remaining = best_reset = 0.0
        for index, window in enumerate(space.windows):
            if shared is None:
                outcome = space.memory[index].hit(key)
            else:
                found = await shared.hit(space.namespace, window, key, space.memory[index])
                if found is None:  # store down, policy "allow": this window is not enforced
                    continue
                outcome = found
            if not outcome.allowed:
                retry_after = max(1, ceil(outcome.reset))
                raise RateLimitExceeded(
                    space.details[index],
                    retry_after=retry_after,
                    headers=space.headers(index, 0, retry_after),
                )
            if (
                best < 0
                or outcome.remaining < best_remaining
                or (outcome.remaining == best_remaining and outcome.reset > best_reset)
            ):
                best, best_remaining, best_reset = index, outcome.remaining, outcome.reset
        if best < 0:
            return None
        return LimitHeaders(space.headers(best, int(best_remaining), best_reset))

    def acquire_in_flight(self, principal_id: str) -> None:
        """Count one request of ``principal_id`` as being minted.

        Raises:
            TooManyInFlight: the principal already has the maximum in flight (429).
        """
        cap = self._max_in_flight
        if cap is None:
            return
        count = self._in_flight.get(principal_id, 0)
        if count >= cap:
            raise TooManyInFlight("in-flight cap reached", retry_after=1)
        self._in_flight[principal_id] = count + 1

    def release_in_flight(self, principal_id: str) -> None:
        """Undo one :meth:`acquire_in_flight`; call it in a ``finally``."""
        if self._max_in_flight is None:
            return
        count = self._in_flight.get(principal_id, 0) - 1
        if count > 0:
            self._in_flight[principal_id] = count
        else:
            # Removed at zero so the map holds only principals with requests in flight.
            self._in_flight.pop(principal_id, None)

    async def aclose(self) -> None:
        """Close the shared store's connections; idempotent, the gate stays usable."""
        if self._shared is not None:
            await self._shared.aclose()

    async def __aenter__(self) -> RateLimitGate:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
