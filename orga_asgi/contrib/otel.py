"""OpenTelemetry traces and metrics for the endpoint, the library way.

Attach it as an observer; the application configures the SDK (providers, exporters,
sampling), never this module::

    from orga_asgi.contrib.otel import OpenTelemetryObserver

    endpoint = OrgaClientSecrets(authorize=..., observers=[OpenTelemetryObserver()])

Needs only ``opentelemetry-api`` (``pip install 'orga-asgi[otel]'``). With no SDK
configured the API's proxy objects do nothing, and they start working when a provider is
set later (at import order the kit does not control). Attribute dictionaries are built once
per distinct value and reused, so an unconfigured observer costs a few calls per event.
See ``docs/observability.md`` for a setup with exporters.

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

try:
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "orga_asgi.contrib.otel needs opentelemetry-api: pip install 'orga-asgi[otel]'"
    ) from exc

from ._otel.metrics import DURATION_BUCKETS, QUEUE_BUCKETS
from ._otel.observer import OpenTelemetryObserver

__all__ = ["DURATION_BUCKETS", "QUEUE_BUCKETS", "OpenTelemetryObserver"]
