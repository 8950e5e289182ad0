"""examples/prometheus_app.py: a mint and a refusal show up at /metrics, in Prometheus' text
format, through OpenTelemetry's Prometheus exporter; the documented command serves it."""

from __future__ import annotations

import re
from types import ModuleType

import httpx
import pytest

from orga_asgi import DEFAULT_PATH
from tests.examples._example_support import (
    assert_clean_shutdown,
    documented_command,
    lifespan,
    load_sandboxed,
    local,
    sandbox_fake,
    sandbox_warnings,
    serve_command,
)

BEARER = {"authorization": "Bearer alice-token"}


def sample(text: str, name: str, labels: str = "") -> float:
    """The value of one sample line ``name{labels} value`` (labels: a substring)."""
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#") and labels in line:
            head, _, value = line.rpartition(" ")
            if head == name or head.startswith(name + "{"):
                return float(value)
    raise AssertionError(f"no sample {name}{{{labels}}} in:\n{text}")


@pytest.fixture
def sandboxed(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_sandboxed(monkeypatch, "prometheus_app.py")


@pytest.mark.anyio
async def test_a_mint_and_a_refusal_are_scraped(sandboxed: ModuleType) -> None:
    async with lifespan(sandboxed.app), local(sandboxed.app) as client:
        assert (await client.get(DEFAULT_PATH, headers=BEARER)).status_code == 200
        assert (await client.get(DEFAULT_PATH)).status_code == 401
        scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert sample(text, "orga_asgi_tokens_issued_total") == 1
    assert sample(text, "orga_asgi_requests_refused_total", 'reason="unauthorized"') == 1
    assert sample(text, "http_client_request_duration_seconds_count", 'method="POST"') == 1
    assert sample(text, "orga_asgi_ratelimit_store_available") == 1
    assert "alice" not in text and "alice-token" not in text
    # The mint reached the endpoint's own fake Orga; the refusal never left the app.
    assert [call.path for call in sandbox_fake(sandboxed).calls] == [
        "/v1/realtime/client-secrets",
        "/v1/realtime/ice-config",
    ]


def test_the_documented_command_serves_metrics() -> None:
    command = documented_command("prometheus_app.py")
    assert command == "uvicorn examples.prometheus_app:app"
    with serve_command(command) as served:
        minted = httpx.get(served.url + DEFAULT_PATH, headers=BEARER, timeout=10)
        assert minted.status_code == 200, minted.text
        text = httpx.get(served.url + "/metrics", timeout=10).text
    assert sample(text, "orga_asgi_tokens_issued_total") == 1
    assert re.search(r'^target_info\{.*service_name="orga-token-route"', text, re.M), text
    assert_clean_shutdown(served.log)
    assert sandbox_warnings(served.log) == 1  # no key: the sandbox, which says so
