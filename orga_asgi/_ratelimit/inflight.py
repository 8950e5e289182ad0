"""The per-principal in-flight cap: requests of one principal being minted at once.

A base of :class:`~.gate.RateLimitGate` rather than an object it holds: :meth:`admit` takes
and gives back a slot on the path of every mint, and as the gate's own methods they cost no
call in between.
"""

from __future__ import annotations

from orga_asgi._errors import TooManyInFlight

__all__ = ["InFlightCap"]


class InFlightCap:
    """Counts the requests of each principal being minted, up to ``cap``.

    Args:
        cap: requests of one principal at once; ``None`` disables the cap.
    """

    def __init__(self, cap: int | None) -> None:
        self._max_in_flight = cap
        self._in_flight: dict[str, int] = {}

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
