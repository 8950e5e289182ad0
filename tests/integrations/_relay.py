"""What every adapter's relay test checks, through the adapter's own app: a handle minted on
the token route starts one session through the relay, with the real token upstream, and the
relay's own JSON errors come through the framework unchanged."""

from __future__ import annotations

from typing import Any

import httpx

from orga_asgi import OneOf, SessionPolicy
from orga_asgi._sealed.handles import HANDLE_PATTERN
from orga_asgi.testing import FakeOrga
from tests.sealed._support import mint, session_body, start

__all__ = ["REFUSING", "assert_one_session_per_handle", "assert_policy_refusal"]

REFUSING = SessionPolicy(voice=OneOf("Mateo"))
"""A policy the vendor SDK's default voice (Sofía) is outside of."""


def _error(response: httpx.Response, code: str, **extra: Any) -> None:
    """``response`` is the relay's own error: its JSON body and headers, not the framework's."""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "error": code,
        "message": response.json()["message"],
        "requestId": response.headers["x-request-id"],
        **extra,
    }


async def assert_one_session_per_handle(
    client: httpx.AsyncClient, fake: FakeOrga, **mint_options: Any
) -> None:
    handle = await mint(client, **mint_options)
    assert HANDLE_PATTERN.fullmatch(handle)
    assert handle not in fake.issued_secrets()  # a handle, not the fake's token
    first = await start(client, handle)
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"conversation_id", "answer"} and body["conversation_id"]
    assert body["answer"]["type"] == "answer" and body["answer"]["sdp"].startswith("v=0\r\n")
    assert first.headers["cache-control"] == "no-store" and first.headers["x-request-id"]
    [call] = fake.calls_to("calls")
    token = call.authorization.partition(" ")[2] if call.authorization else ""
    assert token in fake.issued_secrets() and token != handle  # the real token went upstream
    again = await start(client, handle)
    assert again.status_code == 401
    _error(again, "invalid_session_handle")
    assert len(fake.calls_to("calls")) == 1


async def assert_policy_refusal(
    client: httpx.AsyncClient, fake: FakeOrga, **mint_options: Any
) -> None:
    """Under :data:`REFUSING`, the SDK's default voice is refused, naming the field."""
    response = await start(client, await mint(client, **mint_options), session_body())
    assert response.status_code == 403
    _error(response, "session_params_refused", param="voice")
    assert fake.calls_to("calls") == []
