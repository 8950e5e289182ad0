"""The observer: the endpoint's events, turned into the spans and the metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orga_asgi.observe import Observer

from .attributes import AttemptAttributes
from .metrics import Metrics
from .spans import Spans

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from orga_asgi._upstream import UpstreamAttempt
    from orga_asgi.observe import HandlesExpired

__all__ = ["OpenTelemetryObserver"]

# Outcomes of a request that are not refusals.
_NOT_REFUSED = frozenset({"issued", "preflight", "client_disconnected"})


class OpenTelemetryObserver(Observer):
    """Spans and metrics from the endpoint's events (see :mod:`orga_asgi.contrib.otel`).

    Args:
        tracer_provider: where spans go; default the global provider, looked up through
            the API's proxy (so a provider set after construction is used).
        meter_provider: where metrics go; default the global provider, likewise.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._spans = Spans(tracer_provider)
        self._metrics = Metrics(meter_provider)
        self._attributes = AttemptAttributes()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def on_issue_start(self) -> None:
        """A mint began: start ``orga_asgi.issue`` and make it current for the attempts."""
        self._metrics.in_flight += 1
        self._spans.issue_started()

    def on_issue_end(self, outcome: str) -> None:
        """The mint ended with ``outcome``: ``issued`` (a token was minted, counted here
        rather than from ``on_token_issued``, whose event costs a fingerprint) or an error
        code."""
        found = self._metrics
        found.in_flight -= 1
        if outcome == "issued":
            found.issued += 1
        self._spans.issue_finished(outcome)

    def on_upstream_attempt(self, attempt: UpstreamAttempt) -> None:
        """One CLIENT span and one ``http.client.request.duration`` measurement."""
        span, point = self._attributes(attempt)
        self._spans.attempt(attempt, span)
        self._metrics.duration.record(attempt.duration, point)

    def _on_request_outcome(self, outcome: str) -> None:
        """Count a refusal by its error code. Told by the kit in place of ``on_request``:
        only the outcome is needed, so no :class:`~orga_asgi.observe.AuditEvent` (and no
        fingerprint) is built for this observer."""
        if outcome in _NOT_REFUSED:
            return
        refused = self._metrics.refused
        refused[outcome] = refused.get(outcome, 0) + 1  # the error table's codes: bounded

    def on_upstream_queue(self, waited: float) -> None:
        """Record the seconds a mint waited for an upstream slot."""
        self._metrics.queue.record(waited)

    def on_store_state(self, available: bool) -> None:
        """Remember the shared store's state for the gauge."""
        self._metrics.store_up = 1 if available else 0

    def on_handles_expired(self, event: HandlesExpired) -> None:
        """Count the sealed handles a sweep found expired unredeemed (told only when it
        found some: nothing is done for an endpoint whose handles are all redeemed)."""
        self._metrics.expired += event.count
