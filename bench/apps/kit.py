"""The orga-asgi kit with its defaults plus a bearer hook: rows (c), (d-*), (c-otel), (relay).

Configured by env (run.py sets these per row):
    KIT_STORAGE          limits storage URI, default ``memory://`` (the private Redis's URL for
                         the Redis rows)
    KIT_RATE_LIMITS      per-principal windows, ``;``-separated, default high enough never to
                         refuse; ``1/hour`` makes every request after the first a 429 (d-429);
                         ``none`` turns them off
    KIT_IP_RATE_LIMITS   per-IP windows, same format and default
    KIT_MAX_UPSTREAM     max_upstream_concurrency (unset: the kit's default)
    KIT_TELEMETRY        ``1``: the OpenTelemetry SDK configured with in-memory exporters (spans
                         and metrics), the kit's OpenTelemetry observer attached; ``GET
                         /bench/otel`` says how many spans it has recorded
    KIT_SEALED           ``1``: ``sealed=True`` (the route hands out handles, the relay serves
                         ``/api/orga/v1/realtime/calls``)

Only this module imports orga_asgi, so rows (a), (b), (e) keep working while the core changes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from _common import API_KEY, UPSTREAM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import bearer

# The token wrk sends; anything else (or no header) is a 401.
BENCH_TOKEN = "bench-token"
_NEVER = "100000000/minute"
try:  # 0.2: one typed configuration. 0.1.0 has none, and --instructions --against runs it.
    from orga_asgi import EndpointConfig

    _FIELDS = {f.name for f in dataclasses.fields(EndpointConfig)}
except ImportError:
    _FIELDS = set()


def _windows(name: str) -> tuple[str, ...] | None:
    raw = os.environ.get(name, _NEVER)
    if raw.strip().lower() == "none":
        return None
    return tuple(w.strip() for w in raw.split(";") if w.strip())


def verify(token: str) -> Principal | None:
    return Principal(id="bench-user") if token == BENCH_TOKEN else None


def _telemetry() -> tuple[dict[str, Any], Any]:
    """The SDK with in-memory exporters as global providers, and the kit's observer.

    The observer's spelling is the observability issue's to decide: this takes the module's
    public ``*Observer`` class when ``EndpointConfig`` has an ``observers`` field, and otherwise
    relies on the kit reading the global providers. Either way run.py checks that spans were
    recorded (``/bench/otel``), so a wiring that does nothing fails the row instead of
    reporting telemetry as free.
    """
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import orga_asgi.contrib.otel as otel

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    # Batch, as production would: the export runs on the SDK's thread (its CPU still counts).
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    options: dict[str, Any] = {}
    observers = [getattr(otel, n) for n in getattr(otel, "__all__", ()) if n.endswith("Observer")]
    if "observers" in _FIELDS and observers:
        options["observers"] = (observers[0](),)
    return options, (exporter, tracer_provider)


options: dict[str, Any] = {}
_otel: Any = None
if os.environ.get("KIT_TELEMETRY") == "1":
    options, _otel = _telemetry()
if os.environ.get("KIT_SEALED") == "1":
    options["sealed"] = True
if os.environ.get("KIT_MAX_UPSTREAM"):
    options["max_upstream_concurrency"] = int(os.environ["KIT_MAX_UPSTREAM"])

endpoint = OrgaClientSecrets(
    authorize=bearer(verify),
    api_key=API_KEY,
    base_url=UPSTREAM,
    # wrk connects from 127.0.0.1 and sends X-Forwarded-Proto: https, as a TLS-terminating
    # proxy would; the memory run also varies X-Forwarded-For to get distinct client addresses.
    trusted_proxies=["127.0.0.1"],
    # One principal is all wrk can be, so the per-principal in-flight cap (default 2) would
    # turn 30 of 32 connections into 429s; everything else stays at the kit's defaults.
    max_in_flight_per_principal=None,
    storage_uri=os.environ.get("KIT_STORAGE", "memory://"),
    rate_limits=_windows("KIT_RATE_LIMITS"),
    ip_rate_limits=_windows("KIT_IP_RATE_LIMITS"),
    **options,
)


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("app")


async def otel_spans(request: Request) -> JSONResponse:
    if _otel is None:
        return JSONResponse({"spans": 0})
    exporter, provider = _otel
    provider.force_flush()
    return JSONResponse({"spans": len(exporter.get_finished_spans())})


# Served the way the README tells users to: the middleware in front of an existing app.
app = OrgaMiddleware(
    Starlette(routes=[Route("/", home), Route("/bench/otel", otel_spans)]), endpoint=endpoint
)
