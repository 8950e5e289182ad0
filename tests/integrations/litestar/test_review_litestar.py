"""The 0.2 review's Litestar checks: the error handler, unknown ORGA_* keys."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from orga_asgi import EndpointConfig, OrgaError, Principal, allow_anonymous
from tests._support import caller

REAL_KEY = "sk_orga_ai_review_real_key"  # short: obviously fake, still not the sandbox key
FRESH_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.anyio
async def test_the_litestar_error_handler_leaks_nothing_and_keeps_no_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from litestar import Litestar, get
    from litestar.datastructures import CacheControlHeader
    from orga_asgi_litestar import OrgaDependency, OrgaPlugin, OrgaPluginConfig

    @get("/mint")
    async def mint(orga: OrgaDependency) -> dict[str, Any]:
        return (await orga.issue(Principal(id="ada"))).to_dict()

    @get("/fault")
    async def fault() -> str:
        raise OrgaError(f"upstream said 401 for {REAL_KEY}: invalid key upstream-text-xyz")

    config = EndpointConfig(authorize=allow_anonymous, sandbox=True, rate_limits="1/minute")
    app = Litestar(
        [mint, fault],
        plugins=[OrgaPlugin(OrgaPluginConfig(endpoint=config))],
        # The app caches everything publicly: no answer of the route may follow it.
        cache_control=CacheControlHeader(max_age=3600, public=True),
        # The handlers are local (Litestar is optional here): their string annotations.
        signature_namespace={"OrgaDependency": OrgaDependency, "Any": Any},
    )
    async with caller(app) as client:
        await client.get("/mint")
        limited = await client.get("/mint", headers={"X-Request-ID": "bad\x1b[31mid"})
        broken = await client.get("/fault", headers={"X-Request-ID": "trace-0123456789"})
    for response, status in ((limited, 429), (broken, 500)):
        assert response.status_code == status
        assert response.headers.get_list("cache-control") == ["no-store"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.headers.get_list("content-length")) == 1
        assert response.json()["requestId"] == response.headers["x-request-id"]
    assert FRESH_ID.fullmatch(limited.headers["x-request-id"])
    assert limited.headers["retry-after"] and limited.headers["ratelimit"]
    assert broken.json() == {
        "error": "internal_error",
        "message": "Internal server error.",
        "requestId": "trace-0123456789",
    }
    assert REAL_KEY not in broken.text and "upstream-text-xyz" not in broken.text
    assert REAL_KEY not in caplog.text


def test_unknown_orga_keys_are_named_without_their_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from orga_asgi_litestar import OrgaPluginConfig

    secret = "hunter2-not-a-setting-value"
    environ = {"ORGA_APIKEY": secret, "ORGA_SECRET_TOKEN": secret, "ORGA_SANDBOX": "1"}
    caplog.set_level(logging.WARNING, "orga_asgi")
    OrgaPluginConfig.from_env(environ, authorize=allow_anonymous)
    named = [r.getMessage() for r in caplog.records if "ORGA_APIKEY" in r.getMessage()]
    assert len(named) == 1 and "ORGA_API_KEY" in named[0]  # the did-you-mean
    assert secret not in caplog.text
