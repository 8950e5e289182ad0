"""Optional integrations, each behind its own extra; importing this package imports none.

- :mod:`orga_asgi.contrib.otel`: an observer that turns the endpoint's events into
  OpenTelemetry spans and metrics (``pip install 'orga-asgi[otel]'``, ``opentelemetry-api``
  only: the application configures the SDK and its exporters).
"""

from __future__ import annotations

__all__: list[str] = []
