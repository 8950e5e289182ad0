#!/usr/bin/env python3
"""The OpenTelemetry SDK's own cost per minted token, without the kit.

A mint with telemetry on records what the observability issue asks: one INTERNAL span around
the exchange, one CLIENT span per upstream call (two) and one ``http.client.request.duration``
point per call, into the SDK configured as the (c-otel) row configures it (BatchSpanProcessor
into an in-memory exporter, an in-memory metric reader). This does exactly that, with no kit
and no server, and prints the CPU it takes (all threads: the batch processor's included).
Set against the CPU per mint of row (c), it is the floor of the (c-otel) ratio: no observer
code can cost less than the SDK it calls.

    nox -s bench -- ...  installs what this needs; then: .nox/bench/bin/python bench/otel_floor.py
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

URL = "http://127.0.0.1:8080/v1/realtime/client-secrets"
SPAN = {"http.request.method": "POST", "server.address": "127.0.0.1", "server.port": 8080,
        "url.full": URL, "http.response.status_code": 200}  # fmt: skip
POINT = {k: v for k, v in SPAN.items() if k != "url.full"}


def main(n: int = 20_000) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    tracer = provider.get_tracer("orga_asgi")
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("orga_asgi")
    duration = meter.create_histogram("http.client.request.duration", unit="s")
    started = time.process_time()
    for _ in range(n):
        issue = tracer.start_span("orga_asgi.issue", kind=SpanKind.INTERNAL)
        parent = trace.set_span_in_context(issue)
        for _call in range(2):
            tracer.start_span("POST", context=parent, kind=SpanKind.CLIENT, attributes=SPAN).end()
            duration.record(0.001, POINT)
        issue.set_attribute("orga_asgi.outcome", "issued")
        issue.end()
    provider.shutdown()  # the batch processor's export, counted
    cpu = (time.process_time() - started) / n * 1e6
    print(f"OpenTelemetry SDK alone: {cpu:.1f} µs CPU per mint (3 spans, 2 histogram points)")


if __name__ == "__main__":
    main()
