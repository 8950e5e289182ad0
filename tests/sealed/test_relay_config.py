"""The relay's settings through ``OrgaMiddleware``: the default body cap (64 KiB) and a
custom ``relay_prefix``."""

from __future__ import annotations

import json

import httpx
import pytest

from orga_asgi.testing import FakeOrga
from tests._support import caller
from tests.sealed._support import RELAY, TOKEN_ROUTE, mint, sealed_app, session_body

pytestmark = pytest.mark.anyio

KIB = 1024


def padded(size: int) -> bytes:
    """A session body of exactly ``size`` bytes of JSON, padded in the offer's SDP."""
    body = session_body()
    body["offer"]["sdp"] += "a=x-padding:\r\n"
    missing = size - len(json.dumps(body).encode())
    assert missing >= 0
    body["offer"]["sdp"] = body["offer"]["sdp"][: -len("\r\n")] + "x" * missing + "\r\n"
    content = json.dumps(body).encode()
    assert len(content) == size
    return content


async def send(client: httpx.AsyncClient, handle: str, content: bytes) -> httpx.Response:
    headers = {"content-type": "application/json", "authorization": f"Bearer {handle}"}
    return await client.post(RELAY, content=content, headers=headers)


async def test_the_default_cap_takes_a_60_kib_offer_and_refuses_one_over_64_kib(
    fake: FakeOrga,
) -> None:
    app, endpoint = sealed_app(fake)
    assert endpoint.config.relay_max_body_size == 64 * KIB
    async with caller(app) as client:
        handle = await mint(client)
        over = await send(client, handle, padded(64 * KIB + 1))
        assert over.status_code == 413, over.text
        assert over.headers["content-type"] == "application/json"
        assert over.json()["error"] == "payload_too_large"
        assert over.json()["requestId"] == over.headers["x-request-id"]
        assert fake.calls_to("calls") == []  # refused before the redeem: the handle is good
        content = padded(60 * KIB)
        accepted = await send(client, handle, content)
        assert accepted.status_code == 200, accepted.text
    [call] = fake.calls_to("calls")
    sent = json.loads(content)["offer"]["sdp"]
    assert json.loads(call.body)["offer"]["sdp"] == sent  # the whole offer reached Orga


async def test_exactly_64_kib_is_within_the_default_cap(fake: FakeOrga) -> None:
    app, _ = sealed_app(fake)
    async with caller(app) as client:
        handle = await mint(client)
        assert (await send(client, handle, padded(64 * KIB))).status_code == 200


async def test_a_custom_relay_prefix_is_served_and_the_default_path_is_the_apps(
    fake: FakeOrga,
) -> None:
    app, endpoint = sealed_app(fake, relay_prefix="/rtc/orga")
    assert endpoint.relay_path == "/rtc/orga/v1/realtime/calls"
    headers = {"content-type": "application/json"}
    async with caller(app) as client:
        handle = await mint(client)
        body = json.dumps(session_body())
        elsewhere = await client.post(
            RELAY, content=body, headers={**headers, "authorization": f"Bearer {handle}"}
        )
        assert (elsewhere.status_code, elsewhere.text) == (404, "app")  # the app behind
        assert fake.calls_to("calls") == []
        started = await client.post(
            "/rtc/orga/v1/realtime/calls",
            content=body,
            headers={**headers, "authorization": f"Bearer {handle}"},
        )
        assert started.status_code == 200, started.text
        assert set(started.json()) >= {"conversation_id", "answer"}
        assert (await client.post(TOKEN_ROUTE)).status_code == 200  # the token route stays
    assert len(fake.calls_to("calls")) == 1
