"""Prometheus: the endpoint's OpenTelemetry metrics, scraped at ``/metrics``.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set)::

    uvicorn examples.prometheus_app:app

Then mint a token and read the counters::

    curl -H 'Authorization: Bearer alice-token' http://127.0.0.1:8000/api/orga-client-secrets
    curl -s http://127.0.0.1:8000/metrics | grep orga_asgi

Needs ``pip install 'orga-asgi[otel,server]' opentelemetry-sdk
opentelemetry-exporter-prometheus``. The kit itself uses only ``opentelemetry-api``: the
application (this file) configures the SDK and its exporter.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orga_asgi import DEFAULT_PATH, OrgaClientSecrets, Principal
from orga_asgi.auth import bearer
from orga_asgi.contrib.otel import OpenTelemetryObserver

TOKENS = {"alice-token": "alice"}  # stands in for your token check (a JWT library, a DB)


def verify_token(token: str) -> Principal | None:
    user_id = TOKENS.get(token)
    return Principal(id=user_id) if user_id else None


# The SDK, configured once by the application: a meter provider whose reader is the
# Prometheus exporter (it serves prometheus_client's default registry). Handed to the
# observer here; with other instrumentation in the app, metrics.set_meter_provider(provider)
# and OpenTelemetryObserver() (no argument) do the same.
provider = MeterProvider(
    metric_readers=[PrometheusMetricReader()],
    resource=Resource.create({"service.name": "orga-token-route"}),
)
observers = [OpenTelemetryObserver(meter_provider=provider)]

# No key: the sandbox, an in-process fake Orga (fake tokens, plain http from this machine;
# dev only). With ORGA_API_KEY (and ORGA_BASE_URL, if set), real Orga, and only HTTPS is
# served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
endpoint = OrgaClientSecrets(
    authorize=bearer(verify_token),
    observers=observers,
    sandbox=not os.environ.get("ORGA_API_KEY"),
)


async def scrape(request: Request) -> Response:
    # What Prometheus reads: prometheus_client's registry, which the exporter feeds.
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with endpoint:  # served as a route: the endpoint is ours to close
        yield
    provider.shutdown()  # unregisters the exporter from prometheus_client's registry


app = Starlette(
    routes=[
        Route(DEFAULT_PATH, endpoint),
        # Keep /metrics off the public internet (bind it to an internal port or restrict it
        # at the proxy): it names no user, but it shows traffic and refusals.
        Route("/metrics", scrape),
    ],
    lifespan=lifespan,
)
