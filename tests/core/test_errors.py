"""The one error table: every request error has one status and code, exposed on it."""

from __future__ import annotations

import pytest

import orga_asgi
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
    "UpstreamAuthFailed": (502, "upstream_auth_failed"),
    "UpstreamRateLimited": (503, "upstream_rate_limited"),
    "UpstreamTimeout": (504, "upstream_timeout"),
    "UpstreamUnavailable": (502, "upstream_unavailable"),
    "UpstreamInvalidResponse": (502, "upstream_invalid_response"),
}


@pytest.mark.parametrize(("name", "row"), ROWS.items())
def test_status_and_code(name: str, row: tuple[int, str]) -> None:
    error = getattr(orga_asgi, name)("detail for the operator")
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
