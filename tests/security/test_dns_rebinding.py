"""DNS rebinding against loopback setups (``allow_insecure_loopback``, ``orga-asgi dev``).

A page on ``evil.example`` re-points its name at 127.0.0.1: the victim's browser then talks
to the local server from a loopback peer, same-origin as far as it knows, but every request
still says ``Host: evil.example``. Plain HTTP from loopback is allowed only to a loopback
``Host`` (``orga_asgi._proxy.is_loopback_host``, called in the pipeline's HTTPS stage).
"""

from __future__ import annotations

import pytest

from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint

pytestmark = pytest.mark.anyio
LOOPBACK = ("127.0.0.1", 52000)


@pytest.mark.parametrize(
    "host",
    ["evil.example:8000", "evil.example", "localhost.evil.example:8000", "127.0.0.1.evil.example"],
)
async def test_needs_core_wiring_rebound_host_is_refused_over_plain_http(host: str) -> None:
    # Needs the core's HTTPS stage to call is_loopback_host (the lead's wiring).
    endpoint = make_endpoint(FakeOrga(), allow_insecure_loopback=True)
    async with caller(endpoint, scheme="http", client=LOOPBACK, headers={"host": host}) as c:
        response = await c.get("/", headers={"origin": f"http://{host}"})
        bare = await c.get("/")
    for refused in (response, bare):
        assert refused.status_code == 403
        assert refused.json()["error"] == "https_required"
        assert "ephemeralToken" not in refused.text


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "localhost"])
async def test_needs_core_wiring_loopback_host_is_served_over_plain_http(host: str) -> None:
    endpoint = make_endpoint(FakeOrga(), allow_insecure_loopback=True)
    async with caller(endpoint, scheme="http", client=LOOPBACK, headers={"host": host}) as c:
        response = await c.get("/", headers={"origin": f"http://{host}"})
    assert response.status_code == 200, response.text
    assert response.json()["ephemeralToken"]


async def test_https_requests_are_not_affected_by_the_host_check() -> None:
    # Behind TLS the Host is the site's own name; only plain HTTP needs a loopback one.
    endpoint = make_endpoint(FakeOrga(), allow_insecure_loopback=True)
    async with caller(endpoint, client=LOOPBACK, headers={"host": "app.example.com"}) as c:
        response = await c.get("/")
    assert response.status_code == 200
