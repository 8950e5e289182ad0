"""``orga-asgi serve --metrics-port``: the sidecar's metrics on a Prometheus port of their
own, a real process on 127.0.0.1 against a FakeOrga on a real socket; a clear error when the
SDK or the exporter is missing, or with several workers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._cli_process import cli
from tests._support import free_port, uvicorn_server
from tests.otel.test_example_prometheus import sample

pytestmark = pytest.mark.servers
ROUTE = "/api/orga-client-secrets"
HTTPS = {"x-forwarded-proto": "https"}  # from 127.0.0.1, trusted below: a TLS proxy's


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with uvicorn_server(FakeOrga()) as url:
        yield url


def test_serve_exposes_its_metrics_on_the_metrics_port(upstream: str) -> None:
    metrics_port = free_port()
    env = {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_BASE_URL": upstream}
    argv = ("serve", "--authorize", "orga_asgi:allow_anonymous", "--trusted-proxy",
            "127.0.0.1", "--metrics-port", str(metrics_port))  # fmt: skip
    with cli(*argv, env=env) as server:
        assert httpx.get(server.url + ROUTE, headers=HTTPS, timeout=10).status_code == 200
        assert httpx.get(server.url + ROUTE, timeout=10).status_code == 403  # plain http
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        # The metrics are on their own port, not on the endpoint's.
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 404
    assert scraped.status_code == 200
    assert sample(scraped.text, "orga_asgi_tokens_issued_total") == 1
    assert sample(scraped.text, "orga_asgi_requests_refused_total", "https_required") == 1
    assert "Traceback" not in server.output


def _serve_fails(*argv: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    script = prelude + "from orga_asgi.cli import main; raise SystemExit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", "import sys\n" + script, "serve", "--authorize",
         "orga_asgi:allow_anonymous", *argv],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "ORGA_API_KEY": FAKE_API_KEY},
    )  # fmt: skip


@pytest.mark.parametrize(
    "missing", ["opentelemetry.sdk", "opentelemetry.exporter.prometheus", "prometheus_client"]
)
def test_without_the_sdk_or_exporter_it_says_what_to_install(missing: str) -> None:
    # As if the package were not installed: importing it fails.
    done = _serve_fails("--metrics-port", str(free_port()),
                        prelude=f"sys.modules[{missing!r}] = None\n")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--metrics-port needs the OpenTelemetry SDK and its Prometheus exporter" in done.stderr
    assert "opentelemetry-sdk opentelemetry-exporter-prometheus" in done.stderr
    assert "Traceback" not in done.stderr


def test_metrics_port_with_several_workers_is_refused() -> None:
    done = _serve_fails("--metrics-port", str(free_port()), "--workers", "2",
                        "--storage-uri", "redis://127.0.0.1:1/0")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--metrics-port" in done.stderr and "--workers" in done.stderr
    assert "Traceback" not in done.stderr
