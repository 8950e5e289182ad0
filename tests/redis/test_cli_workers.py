"""``orga-asgi serve --workers 2`` with a shared Redis: the worker processes enforce one limit.

(Refused without a shared store: see ``tests/core/test_cli.py``.)
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._cli_process import cli
from tests._support import uvicorn_server

pytestmark = [pytest.mark.redis, pytest.mark.servers]
ROUTE = "/api/orga-client-secrets"
HOOK = """\
import os
from orga_asgi import Principal

def hook(request):
    return Principal(id=os.environ["CLI_TEST_PRINCIPAL"])
"""


def test_workers_share_one_limit_through_redis(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "worker_hook.py").write_text(HOOK)
    env = {
        "ORGA_API_KEY": FAKE_API_KEY,
        "CLI_TEST_PRINCIPAL": key_prefix,  # fresh per run: a shared Redis stays clean
    }
    argv = (
        "serve",
        "--workers",
        "2",
        "--storage-uri",
        redis_url,
        "--authorize",
        "worker_hook:hook",
    )
    argv += ("--trusted-proxy", "127.0.0.1", "--rate-limit", "3/minute", "--ip-rate-limit", "none")
    # A new connection per request, so that both workers serve some.
    limits = httpx.Limits(max_keepalive_connections=0)
    headers = {"x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.9"}
    with uvicorn_server(FakeOrga()) as upstream:
        env["ORGA_BASE_URL"] = upstream
        with (
            cli(*argv, env=env, cwd=tmp_path, start_timeout=90) as server,
            httpx.Client(timeout=30, limits=limits, headers=headers) as client,
        ):
            statuses = [client.get(server.url + ROUTE).status_code for _ in range(8)]
    assert statuses == [200] * 3 + [429] * 5, statuses
    assert server.output.count("Started server process") >= 2, server.output
    assert "Traceback" not in server.output
