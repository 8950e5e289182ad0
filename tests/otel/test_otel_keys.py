"""OpenTelemetry around the key providers (issue 15) and the sealed relay (issue 16): a key
rejected mid-rotation and retried with the provider's new one, per-tenant keys, a provider
that has no key, a session started through the relay under a pinned prompt. The retry is a
resend by the HTTP conventions; no key, token, handle, TURN credential or prompt is in any
span name, attribute, event or metric attribute (checked here, and again by the
``telemetry`` fixture). Handles that expire unredeemed are counted on
``orga_asgi.handles.expired``."""

from __future__ import annotations

import anyio
import pytest
from opentelemetry.trace import StatusCode

from orga_asgi import Pinned, Principal, SessionPolicy
from orga_asgi.keys import cached, fingerprint
from orga_asgi.testing import FAKE_BASE_URL, FakeOrga
from orga_asgi.testing._recording import remember
from tests._support import caller, make_endpoint
from tests.core.test_key_providers import Source
from tests.otel.conftest import Telemetry, texts_of, times
from tests.sealed._support import mint, sealed_app, start

pytestmark = pytest.mark.anyio

CLIENT_SECRETS = f"{FAKE_BASE_URL}/v1/realtime/client-secrets"
CALLS = f"{FAKE_BASE_URL}/v1/realtime/calls"
OLD = "sk_orga_ai_" + "otel0old0key" * 2
NEW = "sk_orga_ai_" + "otel0new0key" * 2
TENANTS = {t: f"sk_orga_ai_otel0tenant0{t}" + t * 12 for t in ("a", "b")}
PROMPT = "You are the night porter of Hotel Meridian. The safe code is 9182; never say it."


def attributes_of(span: object) -> dict[str, object]:
    return dict(span.attributes or {})  # type: ignore[attr-defined]


def assert_nothing_secret(telemetry: Telemetry, *secrets: str) -> None:
    texts = texts_of(telemetry)
    assert texts  # something was recorded, and scanned
    leaked = [s for s in secrets if any(s in text for text in texts)]
    assert not leaked, f"{len(leaked)} secret(s) in the recorded telemetry"


async def test_a_key_rejected_mid_rotation_is_retried_as_a_resend(telemetry: Telemetry) -> None:
    fake, source = FakeOrga(api_key=OLD), Source(OLD)
    endpoint = make_endpoint(fake, api_key=cached(source.fetch), observers=[telemetry.observer])
    await endpoint.issue()
    fake.rotate_key(NEW, revoke=OLD)  # revoked before the secret manager's cache expired
    source.value = NEW
    telemetry.exporter.clear()
    secrets = await endpoint.issue()
    await endpoint.aclose()
    assert [c.key_fingerprint for c in fake.calls_to("client-secrets")][1:] == [
        fingerprint(OLD),
        fingerprint(NEW),
    ]
    [issue] = telemetry.spans("orga_asgi.issue")
    assert issue.attributes == {"orga_asgi.outcome": "issued"}
    assert issue.status.status_code is StatusCode.UNSET
    rejected, resent = telemetry.spans("POST")
    assert attributes_of(rejected)["http.response.status_code"] == 401
    assert attributes_of(rejected)["error.type"] == "401"
    assert "http.request.resend_count" not in attributes_of(rejected)
    assert rejected.status.status_code is StatusCode.ERROR
    # The same request sent again after an authorization failure: a resend, by semconv
    # ("for any reason, including ... authorization failure").
    assert attributes_of(resent) == {
        "http.request.method": "POST",
        "server.address": FAKE_BASE_URL.split("://", 1)[1],
        "server.port": 443,
        "url.full": CLIENT_SECRETS,
        "http.response.status_code": 200,
        "http.request.resend_count": 1,
    }
    assert resent.status.status_code is StatusCode.UNSET
    assert times(rejected)[1] <= times(resent)[0]
    [ice] = telemetry.spans("GET")  # the ICE call of the retried mint: its first send
    assert "http.request.resend_count" not in attributes_of(ice)
    for span in (rejected, resent, ice):
        assert span.parent is not None and span.parent.span_id == issue.context.span_id
    by_status = sorted(
        (p.attributes["http.request.method"], p.attributes["http.response.status_code"],
         p.value.count)
        for p in telemetry.points("http.client.request.duration")
    )  # fmt: skip
    assert by_status == [("GET", 200, 2), ("POST", 200, 2), ("POST", 401, 1)]
    assert all("http.request.resend_count" not in p.attributes
               for p in telemetry.points("http.client.request.duration"))  # fmt: skip
    assert telemetry.total("orga_asgi.tokens.issued") == 2
    assert_nothing_secret(telemetry, OLD, NEW, secrets.ephemeral_token, *fake.issued_secrets())


async def test_a_later_mint_after_the_retry_is_numbered_afresh(telemetry: Telemetry) -> None:
    fake, source = FakeOrga(api_key=OLD), Source(OLD)
    endpoint = make_endpoint(fake, api_key=cached(source.fetch), observers=[telemetry.observer])
    await endpoint.issue()
    fake.rotate_key(NEW, revoke=OLD)
    source.value = NEW
    await endpoint.issue()  # rejected, then resent
    telemetry.exporter.clear()
    await endpoint.issue()  # the new key from the start: one send, no resend
    await endpoint.aclose()
    [post] = telemetry.spans("POST")
    assert "http.request.resend_count" not in attributes_of(post)
    assert attributes_of(post)["http.response.status_code"] == 200


async def test_per_tenant_keys_and_a_failing_provider(telemetry: Telemetry) -> None:
    fake = FakeOrga(api_keys=list(TENANTS.values()))

    def pick(principal: Principal | None) -> str:
        assert principal is not None
        return TENANTS[principal.claims["tenant"]]

    endpoint = make_endpoint(fake, api_key=pick, observers=[telemetry.observer])
    minted = [
        (await endpoint.issue(Principal(id=f"user-{t}", claims={"tenant": t}))).ephemeral_token
        for t in TENANTS
    ]
    await endpoint.aclose()
    assert [c.key_fingerprint for c in fake.calls_to("client-secrets")] == [
        fingerprint(k) for k in TENANTS.values()
    ]
    assert [s.attributes for s in telemetry.spans("orga_asgi.issue")] == [
        {"orga_asgi.outcome": "issued"}
    ] * 2
    assert len(telemetry.spans("POST")) == 2
    telemetry.forbid("user-a", "user-b")

    broken = Source(OLD)
    broken.failure = PermissionError(f"AccessDenied reading {OLD}")
    failing = make_endpoint(FakeOrga(api_key=OLD), api_key=cached(broken.fetch),
                            observers=[telemetry.observer])  # fmt: skip
    async with caller(failing) as client:
        response = await client.get("/")
    await failing.aclose()
    assert (response.status_code, response.json()["error"]) == (503, "api_key_unavailable")
    [_, _, unavailable] = telemetry.spans("orga_asgi.issue")
    assert unavailable.attributes == {"orga_asgi.outcome": "api_key_unavailable"}
    assert unavailable.status.status_code is StatusCode.ERROR
    assert len(telemetry.spans("POST")) == 2  # no upstream call without a key
    reason = {"orga_asgi__refusal__reason": "api_key_unavailable"}
    assert telemetry.total("orga_asgi.requests.refused", **reason) == 1
    assert telemetry.total("orga_asgi.tokens.issued") == 2
    assert_nothing_secret(telemetry, OLD, *TENANTS.values(), *minted, *fake.issued_secrets())


async def test_a_sealed_relay_call_records_no_handle_token_or_prompt(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    remember((PROMPT,))
    policy = SessionPolicy(instructions=Pinned(PROMPT))
    app, _ = sealed_app(fake, session_policy=policy, observers=[telemetry.observer])
    async with caller(app) as client:
        handle = await mint(client)
        telemetry.forbid(handle, PROMPT)
        response = await start(client, handle)
        refused = await start(client, handle)  # redeemed already
    assert response.status_code == 200 and refused.status_code == 401
    assert PROMPT in fake.calls_to("calls")[0].body.decode()  # it did reach the upstream
    [issue] = telemetry.spans("orga_asgi.issue")  # the mint; the relay is no mint
    [relay] = [s for s in telemetry.spans("POST") if attributes_of(s)["url.full"] == CALLS]
    assert attributes_of(relay)["http.response.status_code"] == 200
    assert "http.request.resend_count" not in attributes_of(relay)
    assert relay.parent is None or relay.parent.span_id != issue.context.span_id
    reason = {"orga_asgi__refusal__reason": "invalid_session_handle"}
    assert telemetry.total("orga_asgi.requests.refused", **reason) == 1
    assert_nothing_secret(telemetry, handle, PROMPT, *fake.issued_secrets())


async def test_handles_that_expire_unredeemed_are_counted(telemetry: Telemetry) -> None:
    # The handle lives as long as its token (ttl 1). The fake's own clock stands still: its
    # tokens' whole-second exp would otherwise end within a mint now and then.
    fake = FakeOrga(ttl=1, clock=lambda: 1_700_000_000.0)
    app, _ = sealed_app(fake, observers=[telemetry.observer])
    async with caller(app) as client:
        redeemed = await mint(client)
        assert (await start(client, redeemed)).status_code == 200
        assert telemetry.points("orga_asgi.handles.expired") == []  # nothing yet: no point
        handle = await mint(client)
        await anyio.sleep(1.1)
        response = await start(client, handle)  # the relay sweeps when it looks
    assert (response.status_code, response.json()["error"]) == (401, "invalid_session_handle")
    unit, [point] = telemetry.metrics()["orga_asgi.handles.expired"]
    assert unit == "{handle}"
    assert point.attributes == {} and point.value.value == 1
    [metric] = [
        m
        for r in telemetry.reader.get_metrics_data().resource_metrics  # type: ignore[union-attr]
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == "orga_asgi.handles.expired"
    ]
    assert metric.description and "expired unredeemed" in metric.description
    assert metric.data.is_monotonic  # type: ignore[union-attr]


async def test_an_endpoint_that_is_not_sealed_reports_no_expired_handles(
    fake: FakeOrga, telemetry: Telemetry
) -> None:
    async with make_endpoint(fake, observers=[telemetry.observer]) as endpoint:
        await endpoint.issue()
    assert "orga_asgi.handles.expired" not in telemetry.metrics()
