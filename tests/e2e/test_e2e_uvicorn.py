"""End to end on real sockets: FakeOrga and the endpoint each served by uvicorn.

The endpoint uses its default upstream client (a pooled aiohttp session), so this is
the production path, loopback only.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import bearer
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import uvicorn_server

pytestmark = pytest.mark.servers


def verify(token: str) -> Principal | None:
    return Principal(id="alice") if token == "alice-token" else None


def test_real_servers_mint_and_refuse() -> None:
    fake = FakeOrga()
    with uvicorn_server(fake) as upstream:
        endpoint = OrgaClientSecrets(
            authorize=bearer(verify),
            api_key=FAKE_API_KEY,
            base_url=upstream,
            trusted_proxies=["127.0.0.1"],
        )
        app = OrgaMiddleware(Starlette(), endpoint=endpoint)
        with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
            https = {"x-forwarded-proto": "https", "authorization": "Bearer alice-token"}
            ok = client.get("/api/orga-client-secrets", headers=https)
            assert ok.status_code == 200, ok.text
            body = ok.json()
            assert body["ephemeralToken"] and body["iceServers"]
            assert ok.headers["strict-transport-security"].startswith("max-age=")

            plain = client.get(
                "/api/orga-client-secrets", headers={"authorization": "Bearer alice-token"}
            )
            assert plain.status_code == 403
            assert plain.json()["error"] == "https_required"

            anonymous = client.get(
                "/api/orga-client-secrets", headers={"x-forwarded-proto": "https"}
            )
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"] == "Bearer"

            # pooled: several mints reuse the upstream connection
            for _ in range(3):
                assert client.post("/api/orga-client-secrets", headers=https).status_code == 200
        assert len(fake.calls_to("client-secrets")) == 4
        assert len(fake.calls_to("ice-config")) == 4
