"""Request ids: which incoming values are kept, and what a fresh one looks like."""

from __future__ import annotations

import contextvars
import re

import pytest

from orga_asgi._request_id import new_request_id, request_id_var, resolve_request_id

FRESH = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    "raw",
    [
        b"abcdefgh",  # 8: the shortest accepted
        b"a" * 128,  # 128: the longest accepted
        b"0f8fad5b-d9cb-469f-a165-70867728950e",  # a UUID
        b"7b1f2c3d4e5f60718293a4b5c6d7e8f9",  # nginx $request_id
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # W3C traceparent
        b"req.2024_01-AbZ",
    ],
)
def test_valid_incoming_id_is_kept(raw):
    assert resolve_request_id(raw) == raw.decode()


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"abcdefg",  # 7
        b"a" * 129,
        b"abcd efgh",
        b"abcd/efgh",
        b"abcd:efgh",
        b"abcd+efg=",
        b"abcdefgh\n",  # `$` would accept this trailing newline; fullmatch does not
        b"abcdefgh\r\nX-Injected: 1",
        b"abcdefg\xc3\xa9",  # non-ASCII (UTF-8 e-acute)
        b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
        b"abcdefgh\x00",
    ],
)
def test_invalid_incoming_id_is_replaced(raw):
    fresh = resolve_request_id(raw)
    assert FRESH.fullmatch(fresh)
    assert raw is None or fresh.encode() != raw


@pytest.mark.parametrize(
    "raw",
    [b"sk_orga_ai_test123", b"x-SK_ORGA_AI_test1", b"eyJhbGciOi.eyJzdWIi.c2ln"],
)
def test_secret_shaped_id_is_replaced(raw):
    # It would be echoed in a response header yet masked in the logs: refuse it instead.
    assert FRESH.fullmatch(resolve_request_id(raw))


def test_fresh_ids_are_unique_and_valid():
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for request_id in list(ids)[:20]:
        assert FRESH.fullmatch(request_id)
        assert resolve_request_id(request_id.encode()) == request_id


def test_context_variable_defaults_to_none_and_is_per_context():
    assert request_id_var.get() is None

    def inside() -> str | None:
        request_id_var.set("abcdefgh")
        return request_id_var.get()

    assert contextvars.copy_context().run(inside) == "abcdefgh"
    assert request_id_var.get() is None
