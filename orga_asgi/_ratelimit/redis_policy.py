"""The ``on_storage_error`` policy of the shared store: its state while the store fails.

The first failure logs one WARNING, marks the store down and tells ``on_state(False)``;
while down, requests take the policy at once (per-process memory fallback, deny with 503, or
allow) and one request at a time re-probes the store (with its own hit: no extra command),
after a backoff that doubles up to a cap. When a probe answers, one INFO line and
``on_state(True)`` mark the switch back. :class:`~.redis_store.SharedStore` decides when to
probe; this module keeps the state and gives the answers.
"""

from __future__ import annotations

from math import ceil
from typing import TYPE_CHECKING, Any

from orga_asgi._errors import RateLimiterUnavailable

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from .memory import MemoryWindow, Outcome
    from .storage import StorageTarget

__all__ = ["StorePolicy"]

_ACTIONS = {
    "fallback": "limiting per process in memory (each process counts alone) until it answers",
    "deny": "refusing requests with 503 until it answers",
    "allow": "letting requests through unlimited until it answers",
}


class StorePolicy:
    """Whether the shared store is down, when to probe it next, what answers meanwhile.

    Args:
        target: the validated storage URI (its redacted form names the store in logs).
        on_error: ``fallback``, ``deny`` or ``allow``.
        backoff: (first, largest) delay in seconds between probes of a failed store.
        clock: monotonic seconds.
        logger: where the WARNING on failure and the INFO on recovery go.
        on_state: told ``False`` when the store goes down, ``True`` when it answers again.
    """

    def __init__(
        self,
        target: StorageTarget,
        *,
        on_error: str,
        backoff: tuple[float, float],
        clock: Callable[[], float],
        logger: logging.Logger,
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        self._target = target
        self.on_error = on_error
        self._backoff_first, self._backoff_max = backoff
        self._clock = clock
        self._logger = logger
        self._on_state = on_state
        self.down = False
        self.probing = False  # one request at a time re-probes a down store
        self._delay = 0.0
        self.next_probe = 0.0

    def failed(self, exc: Exception, probe: bool, checked: str | None = None) -> None:
        """Count one failure of the store: mark it down, or back off a failed probe.

        Args:
            exc: the failure (its message is scrubbed of the URI's secrets when logged).
            probe: the failure was a re-probe of a down store.
            checked: ``None`` for a hit; for the store check, when it ran (``"at startup"``,
                ``"on first use"``), or ``""`` to log nothing (the gate fails the startup).
        """
        now = self._clock()
        if not self.down:
            self.down = True
            self._delay = self._backoff_first
            self.next_probe = now + self._delay
            if checked:
                self._logger.warning(
                    "Shared rate limit store %s did not answer %s (%s); %s. Check "
                    "storage_uri (host, port, password) and that the store is running",
                    self._target.redacted,
                    checked,
                    self.describe(exc),
                    _ACTIONS[self.on_error],
                )
            elif checked is None:
                self._logger.warning(
                    "Shared rate limit store %s failed (%s); %s",
                    self._target.redacted,
                    self.describe(exc),
                    _ACTIONS[self.on_error],
                )
            self._tell(False)
        elif probe:
            self._delay = min(self._delay * 2, self._backoff_max)
            self.next_probe = now + self._delay
            self._logger.debug("Shared rate limit store still failing (%s)", self.describe(exc))

    def recovered(self) -> None:
        """A probe answered: the store is up again."""
        self.down = False
        self._logger.info("Shared rate limit store %s answers again", self._target.redacted)
        self._tell(True)

    def degraded(self, fallback: MemoryWindow[Any], ident: str) -> Outcome | None:
        """What the policy answers for one hit while the store is down.

        Returns:
            The fallback window's outcome, or ``None`` under ``allow``.

        Raises:
            RateLimiterUnavailable: under ``deny``, with the wait until the next probe.
        """
        if self.on_error == "fallback":
            return fallback.hit(ident)
        if self.on_error == "allow":
            return None
        wait = max(1, ceil(self.next_probe - self._clock()))
        raise RateLimiterUnavailable("shared rate limit store unavailable", retry_after=wait)

    def describe(self, exc: Exception) -> str:
        """``exc``'s type and message with the URI's secrets masked."""
        # Masked first, then cut (StorageTarget.scrub): a cut through a password hides it
        # from the replacement.
        return self._target.scrub(f"{type(exc).__name__}: {exc}")

    def _tell(self, up: bool) -> None:
        hook = self._on_state
        if hook is None:
            return
        try:
            hook(up)
        except Exception as exc:
            # An observer's bug must not turn into a failed request; its message may quote
            # anything, so only its type is logged.
            self._logger.warning("on_store_state(%s) raised %s; ignored", up, type(exc).__name__)
