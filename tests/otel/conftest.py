"""OpenTelemetry's SDK with in-memory exporters, private to each test (never the global
providers, which can be set once per process), and a scan of everything recorded.

``telemetry`` gives an :class:`OpenTelemetryObserver` wired to its own providers, the
finished spans and the metrics, and after the test fails it if any span name, span attribute,
event or metric attribute holds a secret: an API key, token or TURN credential any FakeOrga
issued meanwhile (the suite's recorded secrets), or a caller credential or principal id the
test registered with :meth:`Telemetry.forbid`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from orga_asgi.testing import FAKE_API_KEY, recording_secrets
from tests._support import require_module

_HINT = "pip install opentelemetry-sdk opentelemetry-exporter-prometheus (nox -s otel)"
require_module("opentelemetry.sdk", _HINT)

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from orga_asgi.contrib.otel import OpenTelemetryObserver  # noqa: E402
from tests._redis import RedisServer, redis_binary  # noqa: E402


@dataclass
class Point:
    attributes: dict[str, Any]
    value: Any  # the SDK's data point (.value, or .count/.sum/.explicit_bounds)


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    observer: OpenTelemetryObserver
    forbidden: set[str] = field(default_factory=set)

    def forbid(self, *values: str) -> None:
        """Values that must appear in no attribute (a cookie, a bearer token, an id)."""
        self.forbidden.update(values)

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        found = list(self.exporter.get_finished_spans())
        return [s for s in found if name is None or s.name == name]

    def metrics(self) -> dict[str, tuple[str, list[Point]]]:
        """Every metric of the ``orga_asgi`` meter: name -> (unit, points)."""
        out: dict[str, tuple[str, list[Point]]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                if scope.scope.name != "orga_asgi":
                    continue
                for metric in scope.metrics:
                    points = [Point(dict(p.attributes or {}), p) for p in metric.data.data_points]
                    out[metric.name] = (metric.unit or "", points)
        return out

    def points(self, name: str) -> list[Point]:
        return self.metrics().get(name, ("", []))[1]

    def total(self, name: str, **attributes: Any) -> float:
        """The sum of a counter's points whose attributes include ``attributes``."""
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        return float(
            sum(
                p.value.value
                for p in self.points(name)
                if all(p.attributes.get(k) == v for k, v in wanted.items())
            )
        )


def times(span: ReadableSpan) -> tuple[int, int]:
    """A finished span's start and end, in nanoseconds (both set once it has ended)."""
    assert span.start_time is not None and span.end_time is not None
    return span.start_time, span.end_time


def texts_of(telemetry: Telemetry) -> list[str]:
    """Every string recorded: span names, attribute keys and values, events, metric points."""
    texts: list[str] = []

    def add(attributes: Any) -> None:
        for key, value in dict(attributes or {}).items():
            texts.append(str(key))
            values = value if isinstance(value, (tuple, list)) else (value,)
            texts.extend(str(v) for v in values)

    for span in telemetry.spans():
        texts.append(span.name)
        add(span.attributes)
        for event in span.events:
            texts.append(event.name)
            add(event.attributes)
        if span.status.description:
            texts.append(span.status.description)
    for _, points in telemetry.metrics().values():
        for point in points:
            add(point.attributes)
    return texts


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A private ``redis-server`` of this test, to stop and restart (an outage)."""
    server = RedisServer(redis_binary())
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    observer = OpenTelemetryObserver(tracer_provider=tracer_provider, meter_provider=meter_provider)
    found = Telemetry(tracer_provider, meter_provider, exporter, reader, observer)
    with recording_secrets() as secrets:
        yield found
    forbidden = {s for s in secrets | found.forbidden | {FAKE_API_KEY} if len(s) >= 4}
    leaks = [t for t in texts_of(found) if any(secret in t for secret in forbidden)]
    tracer_provider.shutdown()
    meter_provider.shutdown()
    assert not leaks, f"{len(leaks)} recorded telemetry value(s) hold a secret or an id"
