"""The traces: ``orga_asgi.issue`` around a mint, one CLIENT span per upstream attempt."""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from orga_asgi import __version__
from orga_asgi._error_table import rows

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, TracerProvider
    from opentelemetry.util.types import Attributes

    from orga_asgi._upstream import UpstreamAttempt

__all__ = ["SCHEMA_URL", "Spans"]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
# Outcomes that are the caller's answer rather than a fault of ours or the upstream's: the
# issue span's status stays unset for them (as for a 4xx on a server span).
_NOT_FAULTS = frozenset({"issued"} | {info.code for info in rows().values() if info.status < 500})
_ERROR = Status(StatusCode.ERROR)  # immutable: one for every failed span
# The open issue span of a task: the span, the token of the context it made current, and
# that context (the explicit parent of the attempts' spans).
_Open = tuple["Span", "Token[Context] | None", "Context | None"]


class Spans:
    """Starts and ends the spans; each method is one observer event.

    Args:
        tracer_provider: where spans go; ``None``: the global provider, through the API's
            proxy (a provider set after construction is used).
    """

    __slots__ = ("_issue", "_tracer")

    def __init__(self, tracer_provider: TracerProvider | None) -> None:
        self._tracer = trace.get_tracer("orga_asgi", __version__, tracer_provider, SCHEMA_URL)
        # A context variable: concurrent requests each have their own issue span.
        self._issue: ContextVar[_Open | None] = ContextVar(
            f"orga_asgi_otel_issue_{id(self):x}", default=None
        )

    def issue_started(self) -> None:
        """Start ``orga_asgi.issue`` and make it current (for the caller's own spans too)."""
        span = self._tracer.start_span("orga_asgi.issue", kind=SpanKind.INTERNAL)
        # A sampled-out span still has a valid context: made current, its children follow
        # the same decision. An invalid one (no SDK) is not worth a context switch.
        if span.get_span_context().is_valid:
            current = trace.set_span_in_context(span)
            self._issue.set((span, context.attach(current), current))
        else:
            self._issue.set((span, None, None))

    def issue_finished(self, outcome: str) -> None:
        """End the task's issue span with ``orga_asgi.outcome``; ERROR for our faults."""
        state = self._issue.get()
        if state is None:
            return
        self._issue.set(None)
        span, token, _ = state
        if token is not None:
            context.detach(token)
        if span.is_recording():  # sampled out or no SDK: nothing to record
            span.set_attribute("orga_asgi.outcome", outcome)
            if outcome not in _NOT_FAULTS:
                span.set_status(_ERROR)
        span.end()

    def attempt(self, attempt: UpstreamAttempt, attributes: Attributes) -> None:
        """The attempt's CLIENT span, told when it is over: started at its start time and
        ended at once (one span, no context switch), under the task's issue span."""
        state = self._issue.get()
        ended = time.time_ns()
        span = self._tracer.start_span(
            attempt.method,
            # The issue span's context, given rather than looked up; outside a mint (a
            # sealed session's relay call), the current one.
            context=state[2] if state is not None else None,
            kind=SpanKind.CLIENT,
            attributes=attributes,  # copied by the SDK
            start_time=ended - int(attempt.duration * 1e9),
        )
        if attempt.error_type is not None and span.is_recording():
            span.set_status(_ERROR)
        span.end(end_time=ended)
