"""The instruments of the ``orga_asgi`` meter (none labelled with a user or an address)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from orga_asgi import __version__

from .spans import SCHEMA_URL

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, Meter, MeterProvider
    from opentelemetry.util.types import Attributes

__all__ = ["DURATION_BUCKETS", "QUEUE_BUCKETS", "Metrics"]

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The HTTP semantic conventions' advised buckets for ``http.client.request.duration``."""
QUEUE_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Buckets for the slot wait: most mints wait nothing, a saturated process up to the
``upstream_queue_timeout``."""


def _histogram(meter: Meter, name: str, description: str, buckets: Sequence[float]) -> Histogram:
    try:
        return meter.create_histogram(
            name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:  # opentelemetry-api < 1.30: no advisory parameter
        return meter.create_histogram(name, unit="s", description=description)


class Metrics:
    """The instruments, created once; the counts they report are plain ints kept here.

    The counters and gauges are asynchronous: a mint adds to an int, and the SDK reads the
    ints when it collects, instead of a measurement (attribute hashing, a lock) per event.
    The two histograms are measured per event (their buckets need every value).

    Args:
        meter_provider: where metrics go; ``None``: the global provider, through the API's
            proxy.
    """

    __slots__ = ("_refusal_attrs", "duration", "expired", "in_flight", "issued", "queue",
                 "refused", "store_up")  # fmt: skip

    def __init__(self, meter_provider: MeterProvider | None) -> None:
        meter = metrics.get_meter("orga_asgi", __version__, meter_provider, SCHEMA_URL)
        self.duration = _histogram(
            meter, "http.client.request.duration", "Duration of HTTP client requests.",
            DURATION_BUCKETS,
        )  # fmt: skip
        self.queue = _histogram(
            meter, "orga_asgi.upstream.queue.duration",
            "Time a mint waited for an upstream slot.", QUEUE_BUCKETS,
        )  # fmt: skip
        self.issued = self.in_flight = 0
        self.expired = 0  # sealed handles swept unredeemed: added to only when some are
        self.refused: dict[str, int] = {}  # by error code: a bounded set of keys
        self.store_up = 1
        self._refusal_attrs: dict[str, Attributes] = {}
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
        meter.create_observable_counter(
            "orga_asgi.handles.expired", callbacks=[self._observe_expired], unit="{handle}",
            description="Sealed session handles that expired unredeemed (minted, never used "
            "to start a session).",
        )  # fmt: skip
        meter.create_observable_gauge(
            "orga_asgi.ratelimit.store.available", callbacks=[self._observe_store], unit="1",
            description="1 while the shared rate-limit store answers, 0 while it is down.",
        )  # fmt: skip

    def _observe_store(self, options: CallbackOptions) -> Iterable[Observation]:
        return (Observation(self.store_up),)

    def _observe_issued(self, options: CallbackOptions) -> Iterable[Observation]:
        return (Observation(self.issued),)

    def _observe_expired(self, options: CallbackOptions) -> Iterable[Observation]:
        # No point until a handle expired: an endpoint that is not sealed reports none.
        return (Observation(self.expired),) if self.expired else ()

    def _observe_in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        return (Observation(self.in_flight),)

    def _observe_refused(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(count, self._refusal_attributes(reason))
            for reason, count in list(self.refused.items())  # a copy: the loop may add
        ]

    def _refusal_attributes(self, reason: str) -> Attributes:
        found = self._refusal_attrs.get(reason)
        if found is None:
            found = self._refusal_attrs[reason] = {"orga_asgi.refusal.reason": reason}
        return found
