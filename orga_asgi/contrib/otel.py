"""OpenTelemetry traces and metrics for the endpoint, the library way.

Attach it as an observer; the application configures the SDK (providers, exporters,
sampling), never this module::

    from orga_asgi.contrib.otel import OpenTelemetryObserver

    endpoint = OrgaClientSecrets(authorize=..., observers=[OpenTelemetryObserver()])

Needs only ``opentelemetry-api`` (``pip install 'orga-asgi[otel]'``). With no SDK
configured the API's proxy objects do nothing, and they start working when a provider is
set later (at import order the kit does not control). Attribute dictionaries are built once
per distinct value and reused, so an unconfigured observer costs a few calls per event.

Traces: an INTERNAL span ``orga_asgi.issue`` around admission and the exchange (the slot
wait included), with ``orga_asgi.outcome``; under it one CLIENT span per HTTP attempt,
named after the method, with the stable HTTP client conventions (``http.request.method``,
``server.address``, ``server.port``, ``url.full``, ``http.response.status_code``,
``error.type``, ``http.request.resend_count`` on retries). Both are children of whatever
span is current, such as the server span of your ASGI instrumentation. No span carries a
key, token, TURN credential, cookie or principal id.

Metrics, on the meter ``orga_asgi`` (none labelled with a user or an address):

- ``http.client.request.duration`` (s): each upstream attempt, semconv attributes;
- ``orga_asgi.tokens.issued``: tokens minted (the route and ``issue()``);
- ``orga_asgi.requests.refused``: refused requests, by ``orga_asgi.refusal.reason`` (the
  error code of the answer);
- ``orga_asgi.upstream.queue.duration`` (s): time waited for an upstream slot, by the
  mints that found every slot taken (a free slot is no measurement: it costs nothing);
- ``orga_asgi.in_flight``: mints in progress (admission, slot wait and exchange);
- ``orga_asgi.ratelimit.store.available``: 1 while the shared rate-limit store answers,
  0 while it is down (1 until told otherwise).

One observer serves one endpoint (the store gauge is that endpoint's store).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "orga_asgi.contrib.otel needs opentelemetry-api: pip install 'orga-asgi[otel]'"
    ) from exc

from orga_asgi import __version__
from orga_asgi._errors import rows
from orga_asgi.observe import AuditEvent, Observer, TokenIssued

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, Meter, MeterProvider
    from opentelemetry.trace import Span, TracerProvider
    from opentelemetry.util.types import Attributes

    from orga_asgi._upstream import UpstreamAttempt

__all__ = ["DURATION_BUCKETS", "QUEUE_BUCKETS", "OpenTelemetryObserver"]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The HTTP semantic conventions' advised buckets for ``http.client.request.duration``."""
QUEUE_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Buckets for the slot wait: most mints wait nothing, a saturated process up to the
``upstream_queue_timeout``."""

# Outcomes that are the caller's answer rather than a fault of ours or the upstream's: the
# issue span's status stays unset for them (as for a 4xx on a server span).
_NOT_FAULTS = frozenset({"issued"} | {info.code for info in rows().values() if info.status < 500})
# Outcomes of on_request that are not refusals.
_NOT_REFUSED = frozenset({"issued", "preflight", "client_disconnected"})
_CACHE_LIMIT = 256  # distinct attribute sets kept; beyond that they are built per event


def _histogram(meter: Meter, name: str, description: str, buckets: Sequence[float]) -> Histogram:
    try:
        return meter.create_histogram(
            name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:  # opentelemetry-api < 1.30: no advisory parameter
        return meter.create_histogram(name, unit="s", description=description)


def _server(url: str) -> dict[str, str | int]:
    """The semconv attributes of a URL: ``url.full`` without userinfo, address, port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if "@" in parts.netloc:  # never the case for base_url (refused), but never a password
        url = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return {"server.address": host, "server.port": port, "url.full": url}


class OpenTelemetryObserver(Observer):
    """Spans and metrics from the endpoint's events (see the module's documentation).

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
        self._tracer = trace.get_tracer("orga_asgi", __version__, tracer_provider, SCHEMA_URL)
        meter = metrics.get_meter("orga_asgi", __version__, meter_provider, SCHEMA_URL)
        self._duration = _histogram(
            meter, "http.client.request.duration", "Duration of HTTP client requests.",
            DURATION_BUCKETS,
        )  # fmt: skip
        self._queue = _histogram(
            meter, "orga_asgi.upstream.queue.duration",
            "Time a mint waited for an upstream slot.", QUEUE_BUCKETS,
        )  # fmt: skip
        # Counts kept here and read when the SDK collects (asynchronous instruments): a
        # mint adds to an int instead of paying an SDK measurement for each of them.
        self._issued = self._in_flight = 0
        self._refused: dict[str, int] = {}
        self._store_up = 1
        meter.create_observable_counter(
            "orga_asgi.tokens.issued", callbacks=[self._observe_issued], unit="{token}",
            description="Tokens minted.",
        )  # fmt: skip
        meter.create_observable_counter(
            "orga_asgi.requests.refused", callbacks=[self._observe_refused], unit="{request}",
            description="Requests refused, by orga_asgi.refusal.reason (the error code).",
        )  # fmt: skip
        meter.create_observable_up_down_counter(
            "orga_asgi.in_flight", callbacks=[self._observe_in_flight], unit="{request}",
            description="Mints in progress: admission, upstream slot wait and exchange.",
        )  # fmt: skip
        meter.create_observable_gauge(
            "orga_asgi.ratelimit.store.available", callbacks=[self._observe_store], unit="1",
            description="1 while the shared rate-limit store answers, 0 while it is down.",
        )  # fmt: skip
        self._servers: dict[tuple[str, str], dict[str, str | int]] = {}
        self._span_attrs: dict[tuple[str, str, int | None, str | None, int], Attributes] = {}
        self._attempt_attrs: dict[tuple[str, str, int | None, str | None], Attributes] = {}
        self._refusal_attrs: dict[str, Attributes] = {}
        # The issue span of this task and the token of the context it made current. A
        # context variable: concurrent requests each have their own.
        self._issue: ContextVar[tuple[Span, Token[Context] | None] | None] = ContextVar(
            f"orga_asgi_otel_issue_{id(self):x}", default=None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- traces ------------------------------------------------------------------------

    def on_issue_start(self) -> None:
        """A mint began: start ``orga_asgi.issue`` and make it current for the attempts."""
        self._in_flight += 1
        span = self._tracer.start_span("orga_asgi.issue", kind=SpanKind.INTERNAL)
        # A sampled-out span still has a valid context: made current, its children follow
        # the same decision. An invalid one (no SDK) is not worth a context switch.
        token = (
            context.attach(trace.set_span_in_context(span))
            if span.get_span_context().is_valid
            else None
        )
        self._issue.set((span, token))

    def on_issue_end(self, outcome: str) -> None:
        """The mint ended with ``outcome`` (``issued`` or an error code)."""
        self._in_flight -= 1
        state = self._issue.get()
        if state is None:
            return
        self._issue.set(None)
        span, token = state
        if token is not None:
            context.detach(token)
        if span.is_recording():
            span.set_attribute("orga_asgi.outcome", outcome)
            if outcome not in _NOT_FAULTS:
                span.set_status(Status(StatusCode.ERROR))
        span.end()

    def on_upstream_attempt(self, attempt: UpstreamAttempt) -> None:
        """One CLIENT span (rebuilt: an attempt is told when it is over, with its duration)
        and one ``http.client.request.duration`` measurement."""
        route = (attempt.method, attempt.url)
        server = self._servers.get(route)
        if server is None:
            server = {"http.request.method": attempt.method, **_server(attempt.url)}
            if len(self._servers) < _CACHE_LIMIT:
                self._servers[route] = server
        ended = time.time_ns()
        # No context given: the parent is the current span, the issue span when one is open.
        span = self._tracer.start_span(
            attempt.method,
            kind=SpanKind.CLIENT,
            attributes=self._span_attributes(attempt, server),  # copied by the SDK
            start_time=ended - int(attempt.duration * 1e9),
        )
        if attempt.error_type is not None and span.is_recording():
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=ended)
        self._duration.record(attempt.duration, self._attempt_attributes(attempt, server))

    def _span_attributes(
        self, attempt: UpstreamAttempt, server: dict[str, str | int]
    ) -> Attributes:
        """All of a CLIENT span's attributes, given at its start (samplers see them), built
        once per distinct attempt shape."""
        key = (attempt.method, attempt.url, attempt.status, attempt.error_type,
               attempt.resend_count)  # fmt: skip
        found = self._span_attrs.get(key)
        if found is None:
            built: dict[str, str | int] = dict(server)
            if attempt.status is not None:
                built["http.response.status_code"] = attempt.status
            if attempt.error_type is not None:
                built["error.type"] = attempt.error_type
            if attempt.resend_count:
                built["http.request.resend_count"] = attempt.resend_count
            found = built
            if len(self._span_attrs) < _CACHE_LIMIT:
                self._span_attrs[key] = found
        return found

    def _attempt_attributes(
        self, attempt: UpstreamAttempt, server: dict[str, str | int]
    ) -> Attributes:
        key = (attempt.url, attempt.method, attempt.status, attempt.error_type)
        found = self._attempt_attrs.get(key)
        if found is None:
            found = {
                "http.request.method": attempt.method,
                "server.address": server["server.address"],
                "server.port": server["server.port"],
            }
            if attempt.status is not None:
                found["http.response.status_code"] = attempt.status
            if attempt.error_type is not None:
                found["error.type"] = attempt.error_type
            if len(self._attempt_attrs) < _CACHE_LIMIT:
                self._attempt_attrs[key] = found
        return found

    # -- metrics -----------------------------------------------------------------------

    def on_request(self, event: AuditEvent) -> None:
        """Count a refusal by its error code."""
        outcome = event.outcome
        if outcome in _NOT_REFUSED:
            return
        # Outcomes are the error table's codes: a bounded set of keys.
        self._refused[outcome] = self._refused.get(outcome, 0) + 1

    def on_token_issued(self, event: TokenIssued) -> None:
        """Count a minted token."""
        self._issued += 1

    def on_upstream_queue(self, waited: float) -> None:
        """Record the seconds a mint waited for an upstream slot."""
        self._queue.record(waited)

    def on_store_state(self, available: bool) -> None:
        """Remember the shared store's state for the gauge."""
        self._store_up = 1 if available else 0

    def _observe_store(self, options: CallbackOptions) -> Iterable[Observation]:
        return (Observation(self._store_up),)

    def _observe_issued(self, options: CallbackOptions) -> Iterable[Observation]:
        return (Observation(self._issued),)

    def _observe_in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return (Observation(self._in_flight),)

    def _observe_refused(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(count, self._refusal_attributes(reason))
            for reason, count in list(self._refused.items())  # a copy: the loop may add
        ]

    def _refusal_attributes(self, reason: str) -> Attributes:
        found = self._refusal_attrs.get(reason)
        if found is None:
            found = self._refusal_attrs[reason] = {"orga_asgi.refusal.reason": reason}
        return found
