"""Rate limits of the route: windows per address and per principal, in-flight cap, headers.

A request passes :meth:`RateLimitGate.check_ip` (before ``authorize``), then
:meth:`RateLimitGate.admit`, which takes an in-flight slot first and only then counts the
per-principal windows: a ``too_many_in_flight`` refusal never spends a window. Windows are
checked shortest first and checking stops at the first refusal, so a caller hammering a
short window is refused there and never drains a long one (a loop over ``hit()`` would).

Stores: ``memory://`` keeps the windows in this process (:mod:`.memory`, lean and
synchronous); a Redis/Valkey URI shares them across processes and hosts through the ``limits``
async storage with redis-py (:mod:`.redis_store`, one round trip per window checked, with
the ``on_storage_error`` policy); a key the store refused is refused again in this process
without a round trip until its window can have room (:mod:`.deny`). :meth:`startup` checks
the store once (lifespan startup; else the first request does).

Headers (:mod:`.space`): ``RateLimit-Policy`` lists every window of the check, ``RateLimit``
reports the window closest to exhaustion: the fewest hits left, on a tie the longest wait;
on a refusal, the refusing window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Literal

from .admission import Admission
from .clients import ClientKeys
from .config import check_options, parse_windows
from .inflight import InFlightCap
from .lifecycle import GateLifecycle
from .space import LimitHeaders, Space, key_id, local_key
from .storage import parse_storage

__all__ = ["RateLimitGate"]

Strategy = Literal["moving-window", "sliding-window-counter"]
OnStorageError = Literal["fallback", "deny", "allow"]


class RateLimitGate(InFlightCap, GateLifecycle):
    """Per-address and per-principal rate limits, and the per-principal in-flight cap.

    The cap is :class:`~.inflight.InFlightCap`'s; ``startup``, ``reset`` and ``aclose``
    are :class:`~.lifecycle.GateLifecycle`'s.

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
        ipv6_prefix_length: IPv6 client addresses are keyed on this prefix (one host
            usually holds a whole /64); 128 keys each address. IPv4 is keyed whole.
        on_store_state: told ``False`` when the shared store fails (under every
            ``on_storage_error`` policy) and ``True`` when it answers again. A plain
            function; whatever it raises is logged and ignored.

    Raises:
        ConfigurationError: on any invalid option, with a hint to fix it.
    """

    def __init__(
        self,
        *,
        rate_limits: Sequence[str] | str | None,
        ip_rate_limits: Sequence[str] | str | None,
        storage_uri: str = "memory://",
        strategy: Strategy = "moving-window",
        on_storage_error: OnStorageError = "fallback",
        max_in_flight_per_principal: int | None = 2,
        key_prefix: str = "orga_asgi",
        ipv6_prefix_length: int = 64,
        on_store_state: Callable[[bool], None] | None = None,
        _reprobe_backoff: tuple[float, float] = (1.0, 30.0),
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_options(
            strategy=strategy,
            on_storage_error=on_storage_error,
            max_in_flight=max_in_flight_per_principal,
            key_prefix=key_prefix,
            on_store_state=on_store_state,
        )
        self._client_keys = ClientKeys(ipv6_prefix_length)
        self._client_cache = self._client_keys.cache
        sliding = strategy == "sliding-window-counter"
        ip = parse_windows(ip_rate_limits, "ip_rate_limits")
        principal = parse_windows(rate_limits, "rate_limits")
        self._ip = Space("ip", ip, sliding=sliding, clock=_clock) if ip else None
        self._principal = (
            Space("p", principal, sliding=sliding, clock=_clock) if principal else None
        )
        self._strategy: Strategy = strategy
        InFlightCap.__init__(self, max_in_flight_per_principal)
        GateLifecycle.__init__(
            self,
            parse_storage(storage_uri),
            (self._ip, self._principal),
            sliding=sliding,
            key_prefix=key_prefix,
            on_storage_error=on_storage_error,
            backoff=_reprobe_backoff,
            clock=_clock,
            on_store_state=on_store_state,
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

    def client_key(self, client: str | None) -> str:
        """The bucket key of a client address, as the per-address windows count it.

        IPv6 on its prefix (``2001:db8:1:2::/64``), IPv4 and IPv4-mapped IPv6 whole,
        ``None`` the shared no-address bucket, anything else hashed if odd; at most 64
        characters, plain in Redis keys. Anonymous callers' per-principal limits key on
        ``"anon:" + client_key(client)``. A repeat address costs one dict lookup.
        """
        key = self._client_cache.get(client)
        return key if key is not None else self._client_keys(client)

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
        if self._shared is None:
            return self.check_ip_now(client)
        if self._ip is None:
            return None
        key = self._client_cache.get(client)
        if key is None:
            key = self._client_keys(client)
        # Client keys are bounded and plain already: no local_key() or key_id() needed.
        return await self._ip.check(key, self._shared)

    def check_ip_now(self, client: str | None) -> LimitHeaders | None:
        """:meth:`check_ip` of a :attr:`local` gate: nothing to await."""
        if self._ip is None:
            return None
        key = self._client_cache.get(client)
        return self._ip.check_local(key if key is not None else self._client_keys(client))

    async def check_principal(self, principal_key: str) -> LimitHeaders | None:
        """Count one request of a principal against the per-principal windows.

        Prefer :meth:`admit`, which also holds the in-flight slot, taken first.

        Returns:
            The RateLimit headers, or ``None`` when no per-principal limit is configured.

        Raises:
            RateLimitExceeded: a window is exhausted (429 ``rate_limited``).
            RateLimiterUnavailable: the shared store failed and the policy is ``deny``.
        """
        if self._shared is None:
            return self.check_principal_now(principal_key)
        if self._principal is None:
            return None
        return await self._principal.check(key_id(principal_key), self._shared)

    def check_principal_now(self, principal_key: str) -> LimitHeaders | None:
        """:meth:`check_principal` of a :attr:`local` gate: nothing to await."""
        if self._principal is None:
            return None
        if len(principal_key) > 64 or principal_key[:1] == "~":
            return self._principal.check_local(local_key(principal_key))  # bounded per key
        return self._principal.check_local(principal_key)

    def admit(self, principal_key: str) -> Admission:
        """Admit one request of a principal: ``async with gate.admit(key) as headers``.

        On entry, takes an in-flight slot first (:class:`TooManyInFlight` spends no
        window), then counts the per-principal windows (a refusal gives the slot back);
        the slot is released on exit. ``headers`` are the RateLimit headers, or ``None``
        when no per-principal limit is configured.

        Args:
            principal_key: the principal's id, or ``"anon:" + client_key(client)`` for an
                anonymous caller, so anonymous callers do not share one quota.

        Raises:
            TooManyInFlight: the key already has the maximum in flight (429).
            RateLimitExceeded: a window is exhausted (429 ``rate_limited``).
            RateLimiterUnavailable: the shared store failed and the policy is ``deny``.
        """
        return Admission(self, principal_key)

    async def __aenter__(self) -> RateLimitGate:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
