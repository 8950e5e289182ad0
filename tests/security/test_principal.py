"""``Principal`` ids are validated where they are made (hardening issue, defect 11).

0.1.0 accepted ``Principal(id=42)``; the audit code then raised ``TypeError`` out of the app
after the 200 was sent, with the request-id context left set. Now the hook that builds such
a principal fails at once: a 500 ``internal_error``, logged as the hook's bug.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

import pytest

from orga_asgi import Principal, allow_anonymous
from orga_asgi._principal import ANONYMOUS, MAX_ID_LENGTH
from orga_asgi._request_id import request_id_var
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint


@pytest.mark.parametrize("bad", [42, 4.2, True, None, b"user-1", ["u1"]])
def test_an_id_that_is_not_a_string_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"Principal.id must be a str.*str\(user.id\)"):
        Principal(id=bad)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "must not be empty"),
        ("x" * (MAX_ID_LENGTH + 1), f"at most {MAX_ID_LENGTH} characters"),
        ("alice\nstatus=200", "control or line-separator"),
        ("tab\there", "control or line-separator"),
        ("nul\x00", "control or line-separator"),
    ],
)
def test_an_unusable_id_is_a_value_error(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Principal(id=bad)


def test_good_ids_and_claims() -> None:
    assert Principal(id="x" * MAX_ID_LENGTH).id == "x" * MAX_ID_LENGTH
    assert Principal(id="jürgen@example.test").id == "jürgen@example.test"
    assert Principal(id="u 1", claims={"role": "a"}).claims == {"role": "a"}
    with pytest.raises(TypeError, match="claims must be a mapping"):
        Principal(id="u1", claims=[("role", "a")])  # type: ignore[arg-type]


def test_a_str_subclass_id_becomes_a_plain_str() -> None:
    class Tenant(str, enum.Enum):
        ACME = "acme"

    principal = Principal(id=Tenant.ACME)
    assert type(principal.id) is str
    assert principal.id == "acme"


def test_anonymous_is_one_principal_recognised_by_identity() -> None:
    assert allow_anonymous(None) is ANONYMOUS  # type: ignore[arg-type]
    assert ANONYMOUS.id == "anonymous"
    lookalike = Principal(id="anonymous")  # a real user called "anonymous"
    assert lookalike == ANONYMOUS
    assert lookalike is not ANONYMOUS


@pytest.mark.anyio
async def test_a_hook_building_a_bad_principal_is_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def hook(request: Any) -> Principal | None:
        return Principal(id=42)  # type: ignore[arg-type]  # the bug under test

    endpoint = make_endpoint(FakeOrga(), authorize=hook)
    with caplog.at_level(logging.ERROR, logger="orga_asgi"):
        async with caller(endpoint) as client:
            response = await client.get("/", headers={"x-request-id": "req-bad-principal"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert body["requestId"] == "req-bad-principal"
    assert "TypeError: Principal.id must be a str, not int" in caplog.text
    assert request_id_var.get() is None  # the request's context was reset
