"""What the exchange tells its observer about each HTTP attempt, and how it tells it safely."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from orga_asgi._log import get_logger

__all__ = ["AttemptHook", "Reporter", "Route", "UpstreamAttempt", "UpstreamCall", "where"]

logger = get_logger("orga_asgi.exchange")

UpstreamCall = Literal["client-secrets", "ice-config", "calls"]


@dataclass(frozen=True, slots=True)
class UpstreamAttempt:
    """One HTTP attempt against the upstream, as told to ``on_attempt``.

    Attributes:
        call: ``"client-secrets"``, ``"ice-config"`` or ``"calls"`` (a sealed session's
            start, through the relay).
        method: ``"POST"`` or ``"GET"``.
        url: the URL called (it never carries a secret).
        status: the HTTP status, or ``None`` when no reply came.
        duration: seconds the attempt took, body included.
        error_type: ``None`` on success; else ``"timeout"``, ``"connect"``,
            ``"disconnected"``, ``"protocol"``, ``"transport"``, ``"invalid_response"``
            (a 2xx the contract refuses) or the status as a string (``"503"``).
        resend_count: 0 for the first try of a call, 1 for its first retry, ...
    """

    call: UpstreamCall
    method: str
    url: str
    status: int | None
    duration: float
    error_type: str | None
    resend_count: int


AttemptHook = Callable[[UpstreamAttempt], None]


class Route(NamedTuple):
    """One of the two upstream calls."""

    call: UpstreamCall
    method: str
    url: str


def where(exc: BaseException) -> str:
    """The exception's type and innermost frame: never its text, which may quote what the
    upstream sent."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return type(exc).__name__ + place


class Reporter:
    """Calls ``hook`` once per attempt; what the hook raises is logged once, at DEBUG.

    Without a hook nothing is built (the exchange then tells its count, if any, instead).
    """

    __slots__ = ("_failed", "_hook")

    def __init__(self, hook: AttemptHook | None) -> None:
        self._hook = hook
        self._failed = False

    def report(
        self,
        route: Route,
        status: int | None,
        started: float,
        error: str | None,
        resend: int,
        ended: float | None = None,
    ) -> None:
        """Tell the hook about an attempt that began at ``started`` (``perf_counter``)."""
        hook = self._hook
        if hook is None:
            return
        duration = (ended if ended is not None else time.perf_counter()) - started
        attempt = UpstreamAttempt(*route, status, duration, error, resend)
        try:
            hook(attempt)
        except Exception as exc:  # an observer never breaks a mint
            if not self._failed:
                self._failed = True
                logger.debug("on_attempt raised %s; later failures are not logged", where(exc))
