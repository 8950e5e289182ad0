"""``serve --metrics-port``: the sidecar's OpenTelemetry metrics on a Prometheus endpoint.

The command line is an application, so unlike the library it may configure the SDK: a
``MeterProvider`` of its own (not the global one, which a hook module may set) read by
OpenTelemetry's Prometheus exporter, served by ``prometheus_client`` on its own port.
Traces keep going to the global tracer provider (no-op unless the process configures one,
e.g. under ``opentelemetry-instrument``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orga_asgi._errors import ConfigurationError

if TYPE_CHECKING:
    from orga_asgi.observe import Observer

__all__ = ["INSTALL_HINT", "prometheus_observer"]

INSTALL_HINT = "pip install 'orga-asgi[otel]' opentelemetry-sdk opentelemetry-exporter-prometheus"


def prometheus_observer(port: int, host: str) -> Observer:
    """Serve ``/metrics`` on ``host:port`` and return the observer that feeds it.

    Raises:
        ConfigurationError: the SDK or the exporter is not installed, or the port cannot
            be bound.
    """
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import start_http_server

        from orga_asgi.contrib.otel import OpenTelemetryObserver
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "a package"
        raise ConfigurationError(
            f"--metrics-port needs the OpenTelemetry SDK and its Prometheus exporter "
            f"({missing} is missing): {INSTALL_HINT}"
        ) from None
    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise ConfigurationError(
            f"--metrics-port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "pick a free port, other than --port."
        ) from None
    return OpenTelemetryObserver(meter_provider=provider)
