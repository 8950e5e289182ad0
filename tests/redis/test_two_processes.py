"""Two uvicorn processes sharing one Redis enforce one global limit: N allowed, not 2N."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests._support import free_port

pytestmark = [pytest.mark.redis, pytest.mark.servers]

HERE = Path(__file__).parent


@contextmanager
def server_process(env: dict[str, str], app: str = "app") -> Iterator[str]:
    """Serve ``_gate_app:<app>`` in its own uvicorn process; yield its base URL; always kill it."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", f"_gate_app:{app}", "--app-dir", str(HERE)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer within 20 s")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_two_processes_share_one_limit(redis_url: str, key_prefix: str) -> None:
    env = {
        "ORGA_TEST_REDIS_URL": redis_url,
        "ORGA_TEST_KEY_PREFIX": key_prefix,
        "ORGA_TEST_RATE_LIMITS": "10/minute",
    }
    with (
        server_process(env) as first,
        server_process(env) as second,
        httpx.Client(timeout=10) as client,
    ):
        pids = {client.get(f"{base}/health").text for base in (first, second)}
        assert len(pids) == 2  # really two processes
        responses = [
            client.get(f"{(first, second)[n % 2]}/mint", params={"user": "alice"})
            for n in range(30)
        ]
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 20, statuses
    assert statuses[:10] == [200] * 10  # the eleventh, whichever process serves it, is refused
    refused = responses[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit"].startswith('"10-per-minute";r=0;')
    assert responses[9].headers["ratelimit"].startswith('"10-per-minute";r=0;')
    assert responses[0].headers["ratelimit"].startswith('"10-per-minute";r=9;')


def test_two_endpoint_processes_share_one_limit(redis_url: str, key_prefix: str) -> None:
    """The real pipeline: OrgaClientSecrets in two processes, FakeOrga upstream in each."""
    env = {
        "ORGA_TEST_REDIS_URL": redis_url,
        "ORGA_TEST_KEY_PREFIX": key_prefix,
        "ORGA_TEST_RATE_LIMITS": "4/minute",
        "ORGA_TEST_APP": "endpoint",
    }
    # The endpoint keys on the principal: a fresh one per run keeps a shared Redis clean.
    headers = {"authorization": f"Bearer {key_prefix}", "x-forwarded-proto": "https"}
    with (
        server_process(env, "endpoint_app") as first,
        server_process(env, "endpoint_app") as second,
        httpx.Client(timeout=10, headers=headers) as client,
    ):
        responses = [
            client.post(f"{(first, second)[n % 2]}/api/orga-client-secrets") for n in range(12)
        ]
    statuses = [response.status_code for response in responses]
    assert statuses == [200] * 4 + [429] * 8, [r.text for r in responses]
    assert responses[-1].json()["error"] == "rate_limited"
    assert int(responses[-1].headers["retry-after"]) >= 1
    assert responses[0].headers["ratelimit"].startswith('"4-per-minute";r=3;')
