"""OpenTelemetry spans and metrics, read from the SDK's in-memory exporter and reader, for a
mint, refusals, a retried upstream fault and a Redis outage; none holds a secret or an id
(the ``telemetry`` fixture scans every recorded value after each test)."""

from __future__ import annotations

import inspect
import secrets
import subprocess
import sys
import textwrap
import time
from functools import partial
from typing import Any

import anyio
import pytest
from opentelemetry.metrics import Meter
from opentelemetry.trace import SpanKind, StatusCode

import orga_asgi.contrib.otel as otel
from orga_asgi import AuditEvent, EndpointConfig, OrgaClientSecrets, Principal
from orga_asgi.auth import bearer
from orga_asgi.testing import FAKE_BASE_URL, FakeOrga
from tests._redis import RedisServer
from tests._support import CALLER, caller, make_endpoint
from tests.otel.conftest import Telemetry, times

pytestmark = pytest.mark.anyio
CLIENT_SECRETS = f"{FAKE_BASE_URL}/v1/realtime/client-secrets"
ICE_CONFIG = f"{FAKE_BASE_URL}/v1/realtime/ice-config"
HOST = FAKE_BASE_URL.split("://", 1)[1]
# opentelemetry-api >= 1.30 takes advice on histogram buckets; older ones take the SDK's.
ADVISED_BUCKETS = (
    "explicit_bucket_boundaries_advisory" in inspect.signature(Meter.create_histogram).parameters
)


class Callers:
    """One bearer token and one principal id per test, both forbidden in telemetry."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.token = "tok-" + secrets.token_urlsafe(12)
        self.user = "user-" + secrets.token_hex(6)
        telemetry.forbid(self.token, self.user, CALLER[0])
        self.headers = {"authorization": f"Bearer {self.token}"}
        self.hook = bearer(lambda token: Principal(id=self.user) if token == self.token else None)


def endpoint_for(fake: FakeOrga, telemetry: Telemetry, **options: Any) -> OrgaClientSecrets:
    return make_endpoint(fake, observers=[telemetry.observer], **options)


async def test_a_mint_is_an_issue_span_over_two_client_spans_under_the_server_span(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    who = Callers(telemetry)
    tracer = telemetry.tracer_provider.get_tracer("the user's ASGI instrumentation")
    async with (
        endpoint_for(fake, telemetry, authorize=who.hook) as endpoint,
        caller(endpoint) as client,
    ):
        with tracer.start_as_current_span("GET /token", kind=SpanKind.SERVER):
            response = await client.get("/", headers=who.headers)
    assert response.status_code == 200
    [server] = telemetry.spans("GET /token")
    [issue] = telemetry.spans("orga_asgi.issue")
    post, get = telemetry.spans("POST"), telemetry.spans("GET")
    assert len(post) == len(get) == 1
    assert issue.kind is SpanKind.INTERNAL
    assert issue.parent is not None and issue.parent.span_id == server.context.span_id
    assert issue.attributes == {"orga_asgi.outcome": "issued"}
    assert issue.status.status_code is StatusCode.UNSET
    for span, method, url in ((post[0], "POST", CLIENT_SECRETS), (get[0], "GET", ICE_CONFIG)):
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None and span.parent.span_id == issue.context.span_id
        assert span.context.trace_id == server.context.trace_id
        assert dict(span.attributes or {}) == {
            "http.request.method": method,
            "server.address": HOST,
            "server.port": 443,
            "url.full": url,
            "http.response.status_code": 200,
        }
        # Rebuilt from the attempt's duration: inside the issue span, in order.
        assert times(issue)[0] <= times(span)[0] <= times(span)[1] <= times(issue)[1]
    assert times(post[0])[1] <= times(get[0])[0]
    assert times(server)[0] <= times(issue)[0] <= times(issue)[1] <= times(server)[1]

    metrics = telemetry.metrics()
    unit, durations = metrics["http.client.request.duration"]
    assert unit == "s"
    assert sorted((p.attributes["http.request.method"], p.value.count) for p in durations) == [
        ("GET", 1),
        ("POST", 1),
    ]
    assert all(
        p.attributes
        == {
            "http.request.method": p.attributes["http.request.method"],
            "server.address": HOST,
            "server.port": 443,
            "http.response.status_code": 200,
        }
        for p in durations
    )
    if (
        "explicit_bucket_boundaries_advisory"
        in inspect.signature(Meter.create_histogram).parameters
    ):
        assert tuple(durations[0].value.explicit_bounds) == otel.DURATION_BUCKETS
    assert 0 < durations[0].value.sum < 10
    assert telemetry.total("orga_asgi.tokens.issued") == 1
    assert metrics["orga_asgi.tokens.issued"][0] == "{token}"
    assert telemetry.total("orga_asgi.in_flight") == 0  # up, then down
    assert telemetry.points("orga_asgi.upstream.queue.duration") == []  # a slot was free
    assert telemetry.points("orga_asgi.requests.refused") == []
    [store] = telemetry.points("orga_asgi.ratelimit.store.available")
    assert store.value.value == 1


async def test_refusals_are_counted_by_reason_and_the_limit_refusal_spans_no_upstream(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    who = Callers(telemetry)
    options = {"authorize": who.hook, "rate_limits": ("1/minute",)}
    async with endpoint_for(fake, telemetry, **options) as endpoint, caller(endpoint) as client:
        assert (await client.get("/", headers=who.headers)).status_code == 200
        assert (await client.get("/", headers=who.headers)).status_code == 429
        assert (await client.get("/")).status_code == 401
        assert (await client.get("/", headers={"authorization": "Bearer wrong"})).status_code == 401
        assert (await client.put("/")).status_code == 405
    refused = {
        p.attributes["orga_asgi.refusal.reason"]: p.value.value
        for p in telemetry.points("orga_asgi.requests.refused")
    }
    assert refused == {"unauthorized": 2, "rate_limited": 1, "method_not_allowed": 1}
    assert telemetry.total("orga_asgi.requests.refused") == 4
    assert telemetry.total("orga_asgi.tokens.issued") == 1
    assert all(
        set(p.attributes) == {"orga_asgi.refusal.reason"}
        for p in telemetry.points("orga_asgi.requests.refused")
    )
    # Refused before admission (401, 405): no issue span. Refused by the window: an issue
    # span with the code and no error status (the caller's answer, not a fault), no attempt.
    outcomes = [
        dict(s.attributes or {})["orga_asgi.outcome"] for s in telemetry.spans("orga_asgi.issue")
    ]
    assert outcomes == ["issued", "rate_limited"]
    limited = telemetry.spans("orga_asgi.issue")[1]
    assert limited.status.status_code is StatusCode.UNSET
    assert len(telemetry.spans("POST")) == len(telemetry.spans("GET")) == 1
    assert telemetry.total("orga_asgi.in_flight") == 0


async def test_beside_an_audit_hook_each_gets_its_own_view_of_a_request(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    """The observer is told only the outcome of a request (no audit event is built for it);
    an ``on_audit`` hook beside it still gets the whole event, fingerprints included, and a
    request is counted once."""
    who = Callers(telemetry)
    events: list[AuditEvent] = []
    options = {"authorize": who.hook, "on_audit": events.append, "audit_key": "k" * 32}
    async with endpoint_for(fake, telemetry, **options) as endpoint, caller(endpoint) as client:
        minted = await client.get("/", headers=who.headers)
        assert (await client.get("/")).status_code == 401
    assert minted.status_code == 200
    assert [e.outcome for e in events] == ["issued", "unauthorized"]
    assert events[0].token_fingerprint and events[0].principal
    assert events[0].principal != who.user  # hashed: audit_principal defaults to "hmac"
    assert (
        telemetry.total("orga_asgi.requests.refused", orga_asgi__refusal__reason="unauthorized")
        == 1
    )
    assert telemetry.total("orga_asgi.tokens.issued") == 1


async def test_a_retried_upstream_fault_is_one_client_span_per_attempt(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    who = Callers(telemetry)
    fake.fail("client-secrets", status=503)
    async with (
        endpoint_for(fake, telemetry, authorize=who.hook) as endpoint,
        caller(endpoint) as client,
    ):
        assert (await client.get("/", headers=who.headers)).status_code == 200
    failed, retried = telemetry.spans("POST")
    assert failed.attributes is not None and retried.attributes is not None
    assert failed.attributes["http.response.status_code"] == 503
    assert failed.attributes["error.type"] == "503"
    assert "http.request.resend_count" not in failed.attributes
    assert failed.status.status_code is StatusCode.ERROR
    assert retried.attributes["http.response.status_code"] == 200
    assert retried.attributes["http.request.resend_count"] == 1
    assert "error.type" not in retried.attributes
    assert retried.status.status_code is StatusCode.UNSET
    assert times(failed)[1] <= times(retried)[0]  # the backoff lies between them
    [issue] = telemetry.spans("orga_asgi.issue")
    assert all(s.parent is not None and s.parent.span_id == issue.context.span_id
               for s in (failed, retried))  # fmt: skip
    by_status = {
        (p.attributes["http.request.method"], p.attributes["http.response.status_code"],
         p.attributes.get("error.type")): p.value.count
        for p in telemetry.points("http.client.request.duration")
    }  # fmt: skip
    assert by_status == {("POST", 503, "503"): 1, ("POST", 200, None): 1, ("GET", 200, None): 1}


async def test_an_upstream_that_stays_down_fails_the_issue_span(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    who = Callers(telemetry)
    fake.fail("client-secrets", status=503, times=None)
    options = {"authorize": who.hook, "retries": 1}
    async with endpoint_for(fake, telemetry, **options) as endpoint, caller(endpoint) as client:
        response = await client.get("/", headers=who.headers)
    assert response.status_code == 502
    [issue] = telemetry.spans("orga_asgi.issue")
    assert issue.attributes == {"orga_asgi.outcome": "upstream_unavailable"}
    assert issue.status.status_code is StatusCode.ERROR
    assert [dict(s.attributes or {})["error.type"] for s in telemetry.spans("POST")] == [
        "503",
        "503",
    ]
    reason = {"orga_asgi__refusal__reason": "upstream_unavailable"}
    assert telemetry.total("orga_asgi.requests.refused", **reason) == 1
    assert telemetry.total("orga_asgi.tokens.issued") == 0


async def test_a_transport_failure_has_an_error_type_and_no_status(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    who = Callers(telemetry)
    fake.fail("ice-config", drop=True)  # the connection is cut mid-body
    options = {"authorize": who.hook, "retries": 0}
    async with endpoint_for(fake, telemetry, **options) as endpoint, caller(endpoint) as client:
        response = await client.get("/", headers=who.headers)
    assert response.status_code >= 500
    [get] = telemetry.spans("GET")
    assert get.attributes is not None
    assert get.status.status_code is StatusCode.ERROR
    assert get.attributes["error.type"]
    [point] = [p for p in telemetry.points("http.client.request.duration")
               if p.attributes["http.request.method"] == "GET"]  # fmt: skip
    assert point.attributes["error.type"] == get.attributes["error.type"]


async def test_concurrent_mints_keep_their_own_issue_spans(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    fake.fail("client-secrets", delay=0.05, times=4)  # overlap the exchanges
    users = [Callers(telemetry) for _ in range(4)]
    hooks = {u.token: u.user for u in users}
    authorize = bearer(lambda token: Principal(id=hooks[token]) if token in hooks else None)
    async with (
        # One upstream slot: 3 of the 4 mints queue for it.
        endpoint_for(fake, telemetry, authorize=authorize, max_upstream_concurrency=1) as endpoint,
        caller(endpoint) as client,
        anyio.create_task_group() as tasks,
    ):
        for user in users:
            tasks.start_soon(partial(client.get, "/", headers=user.headers))
    issues = telemetry.spans("orga_asgi.issue")
    assert len(issues) == 4
    ids = {s.context.span_id for s in issues}
    children: dict[int, list[str]] = {i: [] for i in ids}
    for span in telemetry.spans("POST") + telemetry.spans("GET"):
        assert span.parent is not None and span.parent.span_id in ids
        children[span.parent.span_id].append(span.name)
    assert all(sorted(names) == ["GET", "POST"] for names in children.values())
    assert telemetry.total("orga_asgi.in_flight") == 0
    assert telemetry.total("orga_asgi.tokens.issued") == 4
    [queued] = telemetry.points("orga_asgi.upstream.queue.duration")
    assert queued.value.count == 3 and queued.attributes == {}
    assert queued.value.sum > 0


async def test_issue_is_traced_and_counted_like_the_route(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    who = Callers(telemetry)
    async with endpoint_for(fake, telemetry, authorize=who.hook) as endpoint:
        await endpoint.issue(Principal(id=who.user))
    [issue] = telemetry.spans("orga_asgi.issue")
    assert issue.parent is None and issue.attributes == {"orga_asgi.outcome": "issued"}
    assert len(telemetry.spans("POST")) == 1
    assert telemetry.total("orga_asgi.tokens.issued") == 1


@pytest.mark.redis
async def test_a_redis_outage_turns_the_store_gauge_to_0_and_back(
    fake: FakeOrga, telemetry: Telemetry, private_redis: RedisServer
) -> None:
    who = Callers(telemetry)
    options = {"authorize": who.hook, "storage_uri": private_redis.url}

    def store() -> float:
        [point] = telemetry.points("orga_asgi.ratelimit.store.available")
        return float(point.value.value)

    async with endpoint_for(fake, telemetry, **options) as endpoint, caller(endpoint) as client:
        assert (await client.get("/", headers=who.headers)).status_code == 200
        assert store() == 1
        private_redis.stop()
        # fallback (the default): limited in memory, still minting
        assert (await client.get("/", headers=who.headers)).status_code == 200
        assert store() == 0
        private_redis.start()
        deadline = time.monotonic() + 15  # the store is probed again after a backoff
        while store() == 0 and time.monotonic() < deadline:
            await anyio.sleep(0.25)
            assert (await client.get("/", headers=who.headers)).status_code == 200
        assert store() == 1
    assert telemetry.total("orga_asgi.tokens.issued") >= 3
    assert all(s.attributes == {"orga_asgi.outcome": "issued"}
               for s in telemetry.spans("orga_asgi.issue"))  # fmt: skip
    # The URL carries no password here, but it is never an attribute either.
    telemetry.forbid(private_redis.url)


async def test_without_a_configured_sdk_everything_is_a_no_op(fake: FakeOrga) -> None:
    observer = otel.OpenTelemetryObserver()  # the global providers: proxies, no SDK here
    fake.fail("client-secrets", status=503)
    async with make_endpoint(fake, observers=[observer]) as endpoint, caller(endpoint) as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.put("/")).status_code == 405


def test_a_provider_set_after_construction_is_used() -> None:
    """The API's proxies: the observer is built first, the SDK configured later (as an app
    whose telemetry setup runs after its imports does). A fresh process: the global
    providers can be set only once."""
    script = textwrap.dedent(
        """
        import anyio, httpx
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from orga_asgi import OrgaClientSecrets, allow_anonymous
        from orga_asgi.contrib.otel import OpenTelemetryObserver
        from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, sandbox_client

        observer = OpenTelemetryObserver()
        endpoint = OrgaClientSecrets(
            authorize=allow_anonymous, api_key=FAKE_API_KEY, base_url=FAKE_BASE_URL,
            http_client=sandbox_client(FakeOrga()), observers=[observer],
        )
        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

        async def main():
            transport = httpx.ASGITransport(app=endpoint, client=("203.0.113.7", 1))
            async with endpoint, httpx.AsyncClient(
                transport=transport, base_url="https://testserver"
            ) as client:
                assert (await client.get("/")).status_code == 200

        anyio.run(main)
        names = sorted(s.name for s in exporter.get_finished_spans())
        data = reader.get_metrics_data()
        found = {m.name for r in data.resource_metrics for s in r.scope_metrics
                 for m in s.metrics}
        print(names, "orga_asgi.tokens.issued" in found)
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['GET', 'POST', 'orga_asgi.issue'] True"


def test_the_bench_contract_an_observer_class_with_no_arguments() -> None:
    """bench/apps/kit.py takes the module's public ``*Observer`` class, builds it with no
    argument and passes it in ``observers=``."""
    names = [n for n in otel.__all__ if n.endswith("Observer")]
    assert names == ["OpenTelemetryObserver"]
    assert "observers" in {f.name for f in EndpointConfig.__dataclass_fields__.values()}
    assert repr(getattr(otel, names[0])()) == "OpenTelemetryObserver()"
