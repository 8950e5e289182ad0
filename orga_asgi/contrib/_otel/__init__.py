"""The parts of :mod:`orga_asgi.contrib.otel` (import the observer from there).

- :mod:`.attributes`: the semconv attribute dicts of an upstream attempt, built once per
  distinct attempt shape;
- :mod:`.spans`: ``orga_asgi.issue`` and the CLIENT spans;
- :mod:`.metrics`: the instruments of the ``orga_asgi`` meter;
- :mod:`.observer`: :class:`~.observer.OpenTelemetryObserver`, which feeds both.
"""

from __future__ import annotations

__all__: list[str] = []
