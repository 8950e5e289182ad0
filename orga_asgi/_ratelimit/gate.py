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
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Literal

from orga_asgi._errors import ConfigurationError, TooManyInFlight
from orga_asgi._log import get_logger

from .admission import DONE, Admission
from .clients import ClientKeys
from .config import check_options, parse_windows
from .space import LimitHeaders, Space, key_id, local_key
from .storage import parse_storage

if TYPE_CHECKING:
    from .redis_store import SharedStore

__all__ = ["RateLimitGate"]

logger = get_logger("orga_asgi.limits")

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
        self._target = parse_storage(storage_uri)
        self._strategy: Strategy = strategy
        self._on_storage_error: OnStorageError = on_storage_error
        self._max_in_flight = max_in_flight_per_principal
        self._in_flight: dict[str, int] = {}
        self._shared: SharedStore | None = None
        self._key_prefix = key_prefix
        # Also without windows: sealed session handles share the store's one client.
        if self._target.uri:
            from .redis_store import SharedStore  # redis-py only when it is used

            spaces = [s for s in (self._ip, self._principal) if s is not None]
            self._shared = SharedStore(
                self._target,
                key_prefix=key_prefix,
                sliding=sliding,
                windows={s.namespace: s.windows for s in spaces},
                on_error=on_storage_error,
                backoff=_reprobe_backoff,
                clock=_clock,
                logger=logger,
                on_state=on_store_state,
            )

    @property
    def shared(self) -> SharedStore | None:
        """The shared store (``None`` with ``memory://``): its client is the one client of
        the storage URI, which the sealed session handles use too."""
        return self._shared

    @property
    def key_prefix(self) -> str:
        """The prefix of every key this gate writes in the shared store."""
        return self._key_prefix

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
        if self._ip is None:
            return None
        key = self._client_cache.get(client)
        if key is None:
            key = self._client_keys(client)
        # Client keys are bounded and plain already: no local_key() or key_id() needed.
        return await self._ip.check(key, self._shared)

    async def check_principal(self, principal_key: str) -> LimitHeaders | None:
        """Count one request of a principal against the per-principal windows.

        Prefer :meth:`admit`, which also holds the in-flight slot, taken first.

        Returns:
            The RateLimit headers, or ``None`` when no per-principal limit is configured.

        Raises:
            RateLimitExceeded: a window is exhausted (429 ``rate_limited``).
            RateLimiterUnavailable: the shared store failed and the policy is ``deny``.
        """
        if self._principal is None:
            return None
        if self._shared is not None:
            key = key_id(principal_key)
        elif len(principal_key) > 64 or principal_key[:1] == "~":
            key = local_key(principal_key)  # bounded memory per key
        else:
            key = principal_key
        return await self._principal.check(key, self._shared)

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

    def acquire_in_flight(self, principal_key: str) -> None:
        """Count one request of ``principal_key`` as being minted (:meth:`admit` does it).

        Raises:
            TooManyInFlight: the principal already has the maximum in flight (429).
        """
        cap = self._max_in_flight
        if cap is None:
            return
        count = self._in_flight.get(principal_key, 0)
        if count >= cap:
            raise TooManyInFlight("in-flight cap reached", retry_after=1)
        self._in_flight[principal_key] = count + 1

    def release_in_flight(self, principal_key: str) -> None:
        """Undo one :meth:`acquire_in_flight`; call it in a ``finally``."""
        if self._max_in_flight is None:
            return
        count = self._in_flight.get(principal_key, 0) - 1
        if count > 0:
            self._in_flight[principal_key] = count
        else:
            # Removed at zero so the map holds only principals with requests in flight.
            self._in_flight.pop(principal_key, None)

    def reset(self) -> Awaitable[None]:
        """Forget every count: for tests of apps, between tests.

        The memory windows (the store with ``memory://``, the fallback with a shared one)
        are cleared at once, so with ``memory://`` the call alone is enough. With a shared
        store, ``await`` the result: it deletes this gate's keys (its prefix, its windows,
        every address and principal); left unawaited, it warns "never awaited". In-flight
        counts are requests still running and are left alone. Refusals this process
        remembers (the deny cache) are forgotten at once too; those other processes
        remember stay until their deadline (or until those processes reset too).

        Raises:
            RateLimiterUnavailable: (when awaited) the shared store did not answer.
        """
        for space in (self._ip, self._principal):
            if space is not None:
                space.reset()
        if self._shared is None:
            return DONE
        return self._shared.reset()

    async def startup(self) -> None:
        """Check the shared store once: lifespan startup calls it (``memory://``: nothing).

        A store that does not answer (a mistyped host or port) logs one WARNING naming the
        redacted URI and what the ``on_storage_error`` policy does meanwhile. Without a
        lifespan (a mounted sub-application), the first request checks instead.

        Raises:
            ConfigurationError: the store did not answer and ``on_storage_error`` is
                ``deny``: every request would be a 503, so the server should not start.
        """
        if self._shared is None:
            return
        failure = await self._shared.check(startup=True)
        if failure is not None and self._on_storage_error == "deny":
            raise ConfigurationError(
                f"storage_uri {self._target.redacted!r} did not answer at startup "
                f"({self._shared.scrub(f'{type(failure).__name__}: {failure}')}) and "
                "on_storage_error='deny' would refuse every request with 503: start the "
                "store, fix storage_uri (host, port, password), or use "
                "on_storage_error='fallback' to limit per process while it is down"
            )

    async def aclose(self) -> None:
        """Close the shared store's connections; idempotent, the gate stays usable."""
        if self._shared is not None:
            await self._shared.aclose()

    async def __aenter__(self) -> RateLimitGate:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
