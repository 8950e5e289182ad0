"""Rate limits of the route: windows per address and per principal, in-flight cap, headers.

A request passes :meth:`RateLimitGate.check_ip` (before ``authorize``), then
:meth:`RateLimitGate.admit`, which takes an in-flight slot first and only then counts the
per-principal windows: a ``too_many_in_flight`` refusal never spends a window. Windows are
checked shortest first and checking stops at the first refusal, so a caller hammering a
short window is refused there and never drains a long one (a loop over ``hit()`` would).

Stores: ``memory://`` keeps the windows in this process (:mod:`.memory`, lean and
synchronous); a Redis/Valkey URI shares them across processes and hosts through the ``limits``
async storage with redis-py (:mod:`.redis_store`, one round trip per window checked, with
the ``on_storage_error`` policy).

Headers (:mod:`.space`): ``RateLimit-Policy`` lists every window of the check, ``RateLimit``
reports the window closest to exhaustion: the fewest hits left, on a tie the longest wait;
on a refusal, the refusing window.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from math import ceil
from typing import TYPE_CHECKING, Literal

from orga_asgi._errors import ConfigurationError, TooManyInFlight
from orga_asgi._log import get_logger

from .clients import ClientKeys
from .config import parse_storage, parse_windows
from .space import LimitHeaders, RateLimitExceeded, Space, key_id, local_key

if TYPE_CHECKING:
    from types import TracebackType

    from .redis_store import SharedStore

__all__ = ["Admission", "RateLimitGate"]

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

    client_key: ClientKeys
    """``client_key(client: str | None) -> str``: the bucket key of a client address.

    IPv6 on its prefix, IPv4 (and IPv4-mapped IPv6) whole, ``None`` the shared no-address
    bucket; at most 64 characters. Anonymous callers' per-principal limits key on
    ``"anon:" + client_key(client)``. A callable attribute, not a method: no bound method
    is made per request.
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
        _check_hook(on_store_state)
        self.client_key = ClientKeys(ipv6_prefix_length)
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
        return await self._check(self._ip, self.client_key(client))

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
        return await self._check(self._principal, principal_key)

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

    async def _check(self, space: Space, ident: str) -> LimitHeaders | None:
        shared = self._shared
        best = -1
        best_remaining = best_reset = 0.0
        key = local_key(ident) if shared is None else key_id(ident)
        for index, window in enumerate(space.windows):
            if shared is None:
                outcome = space.memory[index].hit(key)
            else:
                found = await shared.hit(space.namespace, index, window, key, space.memory[index])
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
        counts are requests still running and are left alone.

        Raises:
            RateLimiterUnavailable: (when awaited) the shared store did not answer.
        """
        for space in (self._ip, self._principal):
            if space is not None:
                space.reset()
        if self._shared is None:
            return _DONE
        return self._shared.reset()

    async def aclose(self) -> None:
        """Close the shared store's connections; idempotent, the gate stays usable."""
        if self._shared is not None:
            await self._shared.aclose()

    async def __aenter__(self) -> RateLimitGate:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Admission:
    """The context manager :meth:`RateLimitGate.admit` returns (a plain object: no generator
    per request)."""

    __slots__ = ("_gate", "_held", "_key")

    def __init__(self, gate: RateLimitGate, key: str) -> None:
        self._gate = gate
        self._key = key
        self._held = False

    async def __aenter__(self) -> LimitHeaders | None:
        gate = self._gate
        gate.acquire_in_flight(self._key)
        try:
            headers = await gate.check_principal(self._key)
        except BaseException:  # a refusal, the store's deny, or a cancellation
            gate.release_in_flight(self._key)
            raise
        self._held = True
        return headers

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._held:
            self._held = False
            self._gate.release_in_flight(self._key)


class _Done:
    """An awaitable that is already done; safe to drop without awaiting."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield from ()


_DONE = _Done()


def _check_hook(hook: object) -> None:
    if hook is None:
        return
    if not callable(hook):
        raise ConfigurationError("on_store_state must be a function taking a bool, or None")
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
        getattr(hook, "__call__", None)  # noqa: B004 - async callable objects
    ):
        raise ConfigurationError(
            "on_store_state must be a plain (not async) function: it runs inside the request "
            "that noticed the change; schedule any I/O from it yourself"
        )
