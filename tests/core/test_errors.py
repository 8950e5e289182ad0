"""The one error table: every request error has one status and code, exposed on it."""

from __future__ import annotations

import json

import pytest

import orga_asgi
import orga_asgi._error_table
from orga_asgi import RequestError

ROWS = {
    "Unauthorized": (401, "unauthorized"),
    "Forbidden": (403, "forbidden"),
    "HTTPSRequired": (403, "https_required"),
    "CrossOriginForbidden": (403, "cross_origin_forbidden"),
    "MethodNotAllowed": (405, "method_not_allowed"),
    "PayloadTooLarge": (413, "payload_too_large"),
    "RateLimited": (429, "rate_limited"),
    "TooManyInFlight": (429, "too_many_in_flight"),
    "RateLimiterUnavailable": (503, "rate_limiter_unavailable"),
    "Busy": (503, "busy"),
    "ApiKeyUnavailable": (503, "api_key_unavailable"),
    "InvalidRequestBody": (400, "invalid_request_body"),
    "InvalidSessionHandle": (401, "invalid_session_handle"),
    "SessionParamsRefused": (403, "session_params_refused"),
    "SessionStoreUnavailable": (503, "session_store_unavailable"),
    "InternalError": (500, "internal_error"),
    "UpstreamAuthFailed": (502, "upstream_auth_failed"),
    "UpstreamRateLimited": (503, "upstream_rate_limited"),
    "UpstreamTimeout": (504, "upstream_timeout"),
    "UpstreamUnavailable": (502, "upstream_unavailable"),
    "UpstreamInvalidResponse": (502, "upstream_invalid_response"),
}


@pytest.mark.parametrize(("name", "row"), ROWS.items())
def test_status_and_code(name: str, row: tuple[int, str]) -> None:
    kind = getattr(orga_asgi, name)
    error = kind.__new__(kind)  # the row belongs to the class: no constructor arguments needed
    assert (error.status, error.code) == row


def test_every_public_request_error_has_a_row() -> None:
    public = {
        n for n in orga_asgi.__all__
        if isinstance(getattr(orga_asgi, n), type)
        and issubclass(getattr(orga_asgi, n), RequestError)
        and n not in ("RequestError", "UpstreamError")
    }  # fmt: skip
    assert public == set(ROWS)


def test_unmapped_errors_are_internal() -> None:
    assert (RequestError().status, RequestError().code) == (500, "internal_error")


def test_the_docstring_draws_every_row() -> None:
    # The tree in the module docstring is the table, read by people: it must not drift.
    from orga_asgi import _errors

    doc = _errors.__doc__ or ""
    for name, (status, code) in ROWS.items():
        line = next((ln for ln in doc.splitlines() if f" {name} " in ln), "")
        assert f"{status} {code}" in line, name


def test_rows_carry_their_fixed_headers() -> None:
    from orga_asgi._error_table import describe

    assert describe(orga_asgi.MethodNotAllowed()).headers == ((b"allow", b"GET, POST"),)
    assert describe(ValueError("a bug")) == describe(orga_asgi.InternalError())


def test_an_error_carries_its_own_headers() -> None:
    error = orga_asgi.RateLimited("x", retry_after=7, headers=[(b"ratelimit", b'"w";r=0;t=7')])
    assert error.headers == [(b"ratelimit", b'"w";r=0;t=7')]
    assert error.retry_after == 7
    assert orga_asgi.Forbidden().headers == ()


@pytest.mark.parametrize(
    ("error", "status", "code", "extra"),
    [
        (orga_asgi.TooManyInFlight("cap", retry_after=1), 429, "too_many_in_flight",
         {"retry-after": "1"}),
        (orga_asgi.RateLimited("w", retry_after=30, headers=[(b"ratelimit", b'"a";r=0;t=30')]),
         429, "rate_limited", {"retry-after": "30", "ratelimit": '"a";r=0;t=30'}),
        (orga_asgi.MethodNotAllowed(), 405, "method_not_allowed", {"allow": "GET, POST"}),
        (orga_asgi.UpstreamTimeout(), 504, "upstream_timeout", {}),
        (KeyError("sk_orga_ai_secret"), 500, "internal_error", {}),
    ],
)  # fmt: skip
def test_error_response_is_the_routes_answer(
    error: BaseException, status: int, code: str, extra: dict[str, str]
) -> None:
    response = orga_asgi.error_response(error, request_id="handler-0001")
    assert response.status_code == status
    assert json.loads(response.body) == {
        "error": code,
        "message": orga_asgi._error_table.describe(error).message,
        "requestId": "handler-0001",
    }
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "handler-0001"
    assert int(response.headers["content-length"]) == len(response.body)
    for name, value in extra.items():
        assert response.headers[name] == value
    assert b"sk_orga_ai_secret" not in response.body


def test_error_response_never_echoes_a_bad_request_id() -> None:
    response = orga_asgi.error_response(orga_asgi.Busy(), request_id='x"}, {"evil": 1')
    body = json.loads(response.body)
    assert body["requestId"] == response.headers["x-request-id"]
    assert "evil" not in response.body.decode()
    fresh = orga_asgi.error_response(orga_asgi.Busy())
    assert len(fresh.headers["x-request-id"]) == 32
