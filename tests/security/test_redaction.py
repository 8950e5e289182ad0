"""Redaction: every pattern, in every part of a log record, through real loggers."""

from __future__ import annotations

import io
import json
import logging
from collections import namedtuple
from typing import Any

import pytest

from orga_asgi import redaction
from orga_asgi._log import get_logger
from orga_asgi._request_id import request_id_var
from orga_asgi.redaction import (
    REDACTED,
    RedactingFilter,
    install,
    redact,
    redact_value,
    structlog_processor,
    uninstall,
)
from tests._support import require_module

KEY = "sk_orga_ai_test123"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
TURN_USER = "1700000000:fakeuser"
TURN_CRED = "fakecred+/="
SECRETS = (KEY, JWT, TURN_USER, TURN_CRED, "opaque123", "sid=abc1", "hunter2")

ICE_BODY = json.dumps(
    {
        "iceServers": [
            {"urls": "stun:stun.example.test:3478"},
            {
                "urls": ["turn:turn.example.test:443?transport=tcp"],
                "username": TURN_USER,
                "credential": TURN_CRED,
            },
        ]
    }
)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {text!r}"
    assert "REDACTED" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {KEY} used", "key sk_orga_ai_[REDACTED] used"),
        (f"token {JWT}!", "token [REDACTED_JWT]!"),
        ("Authorization: Bearer opaque123\r\nHost: x", "Authorization: [REDACTED]\r\nHost: x"),
        ("sent bearer opaque123, done", "sent bearer [REDACTED], done"),
        ("Cookie: sid=abc1; theme=dark", "Cookie: [REDACTED]"),
        ("set-cookie: sid=abc1; HttpOnly", "set-cookie: [REDACTED]"),
        ("X-Api-Key: opaque123", "X-Api-Key: [REDACTED]"),
        ('{"username": "u1", "ttl": 120}', '{"username": "[REDACTED]", "ttl": 120}'),
        ("{'credential': 'c1'}", "{'credential': '[REDACTED]'}"),
        ('{"ephemeralToken": "abc"}', '{"ephemeralToken": "[REDACTED]"}'),
        (
            "Creds(username='u1', password=\"p1\")",
            "Creds(username='[REDACTED]', password=\"[REDACTED]\")",
        ),
        ("GET /s?token=opaque123&x=1", "GET /s?token=[REDACTED]&x=1"),
        ("csrftoken=abc; lang=en", "csrftoken=[REDACTED]; lang=en"),
        ("authorization=Bearer opaque123 next", "authorization=[REDACTED] next"),
        ("redis://:hunter2@cache:6379/0", "redis://[REDACTED]@cache:6379/0"),
        ('"{\\"username\\": \\"u1\\"}"', '"{\\"username\\": \\"[REDACTED]\\"}"'),
        ("(b'cookie', b'sid=abc1')", "(b'cookie', b'[REDACTED]')"),
        ("İ SK_ORGA_AI_TEST123 BEARER X1", "İ SK_ORGA_AI_[REDACTED] BEARER [REDACTED]"),
    ],
)
def test_redact_patterns(text, expected):
    assert redact(text) == expected
    assert redact(expected) == expected  # a second pass changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/orga-session 200 principal=u-42 outcome=ok latency_ms=12",
        '{"ttl": 120, "token_type": "bearer", "max_tokens": 5}',
        "https://example.test:8080/a@b and user=alice",
        "plain text with no secret at all",
    ],
)
def test_clean_text_is_returned_as_is(text):
    assert redact(text) is text


def test_ice_config_body_keeps_its_shape():
    clean = redact(ICE_BODY)
    assert_clean(clean)
    parsed = json.loads(clean)
    assert parsed["iceServers"][1]["urls"] == ["turn:turn.example.test:443?transport=tcp"]
    assert parsed["iceServers"][1]["credential"] == REDACTED


def test_upstream_error_repr_is_scrubbed():
    # The shape of an aiohttp ClientResponseError's request_info in a traceback.
    text = (
        "RequestInfo(url=URL('https://api.example.test/v1/realtime/client-secrets'), "
        f"method='POST', headers=<CIMultiDictProxy('Authorization': 'Bearer {KEY}', "
        "'Content-Type': 'application/json')>)"
    )
    clean = redact(text)
    assert_clean(clean)
    assert "'Content-Type': 'application/json'" in clean


def test_redact_value_masks_sensitive_keys_recursively():
    headers = [(b"authorization", b"Bearer opaque123"), (b"cookie", b"sid=abc1"), (b"host", b"x")]
    Pair = namedtuple("Pair", "name note")
    value = {
        "Set-Cookie": "sid=abc1",
        "X-API-Key": "opaque123",
        "ephemeralToken": JWT,
        "nested": [{"username": TURN_USER, "credential": TURN_CRED, "urls": "turn:x"}],
        "headers": headers,
        "note": f"used {KEY}",
        "pair": Pair("n", f"k={KEY}"),
        "missing_token": None,
        "count": 3,
    }
    clean = redact_value(value)
    assert isinstance(clean, dict)
    assert_clean(repr(clean))
    assert clean["headers"][2] == (b"host", b"x")
    assert clean["headers"][0] == (b"authorization", b"[REDACTED]")
    assert clean["nested"][0]["urls"] == "turn:x"
    assert isinstance(clean["pair"], Pair)
    assert clean["missing_token"] is None
    assert clean["count"] == 3
    assert value["nested"][0]["credential"] == TURN_CRED  # the input is not mutated


def test_redact_value_returns_unchanged_values_as_is():
    value = {"a": [1, "two", (3.0, None)], "b": b"bytes"}
    assert redact_value(value) is value


def test_redact_value_judges_objects_by_str_and_survives_cycles():
    class Wrapper:
        def __repr__(self) -> str:
            return "Wrapper(***)"

        def __str__(self) -> str:
            return KEY

    assert redact_value(Wrapper()) == "sk_orga_ai_[REDACTED]"
    loop: list[object] = []
    loop.append(loop)
    assert redact_value(loop) is loop


@pytest.fixture
def capture():
    """A real logger writing through a formatter to a StringIO, with a RedactingFilter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.security.redaction")
    logger.handlers[:] = [handler]
    logger.filters[:] = [RedactingFilter()]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.handlers.clear()
    logger.filters.clear()


def test_filter_scrubs_message_and_args(capture):
    logger, stream = capture
    logger.info(f"direct {KEY}")
    logger.info("tuple %s %r", KEY, {"authorization": "Bearer opaque123"})
    logger.info("mapping %(who)s %(body)s", {"who": "u1", "body": ICE_BODY})
    logger.info({"token": "opaque123"})  # a non-str message
    out = stream.getvalue()
    assert_clean(out)
    assert out.count("INFO") == 4
    assert "mapping u1" in out


def test_filter_freezes_a_record_whose_object_argument_renders_a_secret(capture):
    logger, stream = capture

    class Headers:
        def __str__(self) -> str:
            return "Authorization: Bearer opaque123"

    records: list[logging.LogRecord] = []
    logger.addHandler(_Collect(records))
    logger.info("%d retries, upstream sent %s", 2, Headers())
    assert_clean(stream.getvalue())
    assert "INFO 2 retries, upstream sent Authorization: [REDACTED]" in stream.getvalue()
    assert records[0].args == ()


def test_filter_scrubs_args_the_output_does_not_show(capture):
    # Handlers such as Sentry ship args as they are, beyond what the message shows.
    logger, stream = capture
    records: list[logging.LogRecord] = []
    logger.addHandler(_Collect(records))
    logger.info("prefix %.4s", KEY)
    logger.info("only %(a)s", {"a": 1, "token": "opaque123"})
    assert records[0].args == ("sk_orga_ai_[REDACTED]",)
    assert records[1].args == {"a": 1, "token": REDACTED}
    assert stream.getvalue().splitlines() == ["INFO prefix sk_o", "INFO only 1"]


def test_filter_scrubs_extra_fields(capture):
    logger, stream = capture
    logger.handlers[0].setFormatter(logging.Formatter("%(message)s %(token)s %(detail)s"))
    logger.info("x", extra={"token": "opaque123", "detail": {"cookie": "sid=abc1", "n": 1}})
    assert_clean(stream.getvalue())
    assert "'n': 1" in stream.getvalue()


def _raise_with_secrets() -> None:
    config = {"api_key": KEY, "ice": ICE_BODY}
    raise RuntimeError(f"exchange failed with Bearer opaque123 for {config!r}")


def test_filter_scrubs_tracebacks_and_drops_dirty_exc_info(capture):
    logger, stream = capture
    records: list[logging.LogRecord] = []
    logger.addHandler(_Collect(records))
    try:
        _raise_with_secrets()
    except RuntimeError:
        logger.exception("upstream failed")
    out = stream.getvalue()
    assert_clean(out)
    assert "Traceback (most recent call last)" in out
    assert "RuntimeError: exchange failed" in out
    # A formatter that re-renders exc_info (JSON formatters do) must not bring it back.
    assert records[0].exc_info is None
    assert records[0].exc_text is not None
    assert "Bearer opaque123" not in records[0].exc_text


def test_filter_keeps_clean_exc_info(capture):
    logger, stream = capture
    records: list[logging.LogRecord] = []
    logger.addHandler(_Collect(records))
    try:
        raise ValueError("nothing secret")
    except ValueError:
        logger.exception("failed")
    assert records[0].exc_info is not None
    assert "ValueError: nothing secret" in stream.getvalue()


def test_filter_scrubs_stack_info(capture):
    logger, stream = capture
    logger.info("here", stack_info=True)  # the source line shown: sk_orga_ai_test123
    out = stream.getvalue()
    assert "Stack (most recent call last)" in out
    assert KEY not in out


def test_broken_format_report_is_clean(capture, capsys):
    logger, _ = capture
    # pytest attaches its capture handlers to non-propagating loggers, and they raise on a
    # bad format instead of reporting it: keep only the plain handler for this test.
    del logger.handlers[1:]
    logger.info("count %d", KEY)  # wrong type: logging reports the error on stderr
    err = capsys.readouterr().err
    assert "Logging error" in err
    assert KEY not in err


def test_get_logger_scrubs_and_stamps_the_request_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    logger = get_logger("orga_asgi.tests_redaction")
    assert get_logger("orga_asgi.tests_redaction") is logger
    assert len(logger.filters) == 2  # idempotent
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside %s", KEY)
        token = request_id_var.set("req-12345678")
        try:
            logger.warning("inside")
        finally:
            request_id_var.reset(token)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "- outside sk_orga_ai_[REDACTED]",
        "req-12345678 inside",
    ]


@pytest.fixture
def root_stream():
    """A handler on the root logger, and install()/uninstall() around the test."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield handler, stream
    uninstall()
    root.removeHandler(handler)
    root.setLevel(level)


def test_install_covers_child_loggers_and_is_idempotent(root_stream):
    handler, stream = root_stream
    first = install()
    assert install() is first
    root = logging.getLogger()
    assert root.filters.count(first) == 1
    assert handler.filters.count(first) == 1
    logging.getLogger("app.deep.child").warning("calling with %s", KEY)
    root.warning("root itself: Bearer opaque123")
    assert_clean(stream.getvalue())
    assert "app.deep.child calling with sk_orga_ai_[REDACTED]" in stream.getvalue()


def test_install_all_handlers_covers_non_propagating_loggers(root_stream):
    stream = io.StringIO()
    own = logging.StreamHandler(stream)
    server = logging.getLogger("tests.server.access")
    server.addHandler(own)
    server.propagate = False
    try:
        install()
        server.warning("GET /s?token=opaque123")
        assert "opaque123" in stream.getvalue()  # not covered by a plain install()
        install(all_handlers=True)
        server.warning("GET /s?token=opaque123")
        assert stream.getvalue().splitlines()[-1] == "GET /s?token=[REDACTED]"
    finally:
        server.removeHandler(own)
        server.propagate = True


def test_uninstall_detaches(root_stream):
    handler, _ = root_stream
    shared = install()
    uninstall()
    assert shared not in logging.getLogger().filters
    assert shared not in handler.filters


def test_structlog_processor_on_an_event_dict():
    meta = object()
    event = {
        "event": f"exchange failed for {KEY}",
        "authorization": "Bearer opaque123",
        "body": json.loads(ICE_BODY),
        "exception": f"Traceback ...\nRuntimeError: Bearer opaque123 {JWT}",
        "status": 502,
        "_record": meta,
    }
    out = structlog_processor(None, "error", event)
    assert_clean(repr({k: v for k, v in out.items() if k != "_record"}))
    assert out["status"] == 502
    assert out["_record"] is meta
    assert out["body"]["iceServers"][0] == {"urls": "stun:stun.example.test:3478"}


def test_structlog_processor_in_a_real_structlog_chain():
    structlog = require_module("structlog", "pip install 'orga-asgi[structlog]'")
    stream = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=[structlog_processor, structlog.processors.JSONRenderer()],
    )
    logger.info("minted", token=JWT, turn={"username": TURN_USER}, note=f"key {KEY}")
    assert_clean(stream.getvalue())
    assert json.loads(stream.getvalue())["event"] == "minted"


def test_redacting_filter_under_structlogs_processor_formatter():
    # ProcessorFormatter hands its event dict over as record.msg and needs a dict back.
    structlog = require_module("structlog", "pip install 'orga-asgi[structlog]'")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(processors=[structlog.processors.JSONRenderer()])
    )
    std = logging.getLogger("tests.redaction.processor_formatter")
    std.addHandler(handler)
    std.propagate = False
    try:
        logger = structlog.wrap_logger(
            std,
            processors=[structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            wrapper_class=structlog.stdlib.BoundLogger,
        )
        logger.warning("minted", token=JWT, note=f"key {KEY}")
    finally:
        std.removeHandler(handler)
    assert_clean(stream.getvalue())
    assert json.loads(stream.getvalue())["event"] == "minted"


def test_public_names():
    assert set(redaction.__all__) >= {
        "RedactingFilter",
        "install",
        "redact",
        "redact_value",
        "structlog_processor",
    }


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


# Plural keys and structured values (hardening issue, defect 14) -------------------------


def starlette_request() -> Any:
    from starlette.requests import Request

    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/api/orga-session",
            "query_string": b"token=opaque123&x=1",
            "headers": [
                (b"authorization", b"Bearer opaque123"),
                (b"cookie", b"session=sid=abc1; theme=dark"),
                (b"host", b"app.test"),
            ],
            "scheme": "https",
            "server": ("app.test", 443),
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cookies=sid=abc1", "cookies=[REDACTED]"),
        ("tokens: opaque123 left", "tokens: [REDACTED] left"),
        ('{"secrets": "hunter2"}', '{"secrets": "[REDACTED]"}'),
        ("api_keys=opaque123&x=1", "api_keys=[REDACTED]&x=1"),
        ("passwords='hunter2'", "passwords='[REDACTED]'"),
        ("cookies={'session': 'sid=abc1', 'theme': 'dark'} done", "cookies=[REDACTED] done"),
        ("tokens=['opaque123', 'x'] n=2", "tokens=[REDACTED] n=2"),
        ('{"cookies": {"session": "sid=abc1"}, "n": 1}', '{"cookies": [REDACTED], "n": 1}'),
        ("secrets=('hunter2', 'opaque123')", "secrets=[REDACTED]"),
        ("('cookies', {'session': 'sid=abc1'})", "('cookies', [REDACTED])"),
        ("tokens=[{'a': ']'}, 'opaque123'] ok", "tokens=[REDACTED] ok"),  # brackets in strings
        ('{\n  "cookies": {\n    "session": "sid=abc1"\n  }\n}', '{\n  "cookies": [REDACTED]\n}'),
        ("token='tokens=['opaque123']", "token=[REDACTED]"),  # garbled: still masked
        ('token="{"cookies": {"session": "sid=abc1"}}', 'token="[REDACTED]"cookies": [REDACTED]}'),
    ],
)
def test_plural_keys_and_structured_values_in_text(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"max_tokens": 5, "total_tokens": 12}',
        "usage prompt_tokens=10 completion_tokens=2.5",
        "tokens=3 remaining",
    ],
)
def test_token_counts_are_not_secrets(text: str) -> None:
    assert redact(text) is text


def test_structured_plural_keys_are_masked_whole() -> None:
    value = {
        "cookies": {"session": "sid=abc1"},
        "tokens": ["opaque123", JWT],
        "Secrets": ("hunter2",),
        "request": {"headers": [(b"cookie", b"sid=abc1")], "cookies": {"a": "b"}},
        "max_tokens": 5,
        "tokens_left": 3,
    }
    clean = redact_value(value)
    assert clean == {
        "cookies": REDACTED,
        "tokens": REDACTED,
        "Secrets": REDACTED,
        "request": {"headers": [(b"cookie", b"[REDACTED]")], "cookies": REDACTED},
        "max_tokens": 5,  # a count under a *tokens key
        "tokens_left": 3,
    }
    assert_clean(repr(clean))


def test_logging_request_cookies_does_not_log_the_session(capture):
    logger, stream = capture
    records: list[logging.LogRecord] = []
    logger.addHandler(_Collect(records))
    request = starlette_request()
    logger.info("cookies=%s", request.cookies)  # the defect, as reported
    logger.info("got %s", {"cookies": request.cookies, "path": "/x"})  # a dict argument
    logger.info("%(cookies)s for %(path)s", {"cookies": request.cookies, "path": "/x"})
    logger.info("extra", extra={"cookies": request.cookies, "request": {"tokens": ["a1b2c3d4"]}})
    out = stream.getvalue()
    assert "sid=abc1" not in out
    assert out.splitlines()[0] == "INFO cookies=[REDACTED]"
    assert "for /x" in out
    for record in records:
        assert "sid=abc1" not in repr(record.args) + repr(record.__dict__.get("cookies"))
    assert records[3].__dict__["request"] == {"tokens": REDACTED}


# The adversarial pass: other spellings of the same secrets -------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic dXNlcjpodW50ZXIy", "Authorization: [REDACTED]"),
        ("curl -u via basic dXNlcjpodW50ZXIy ok", "curl -u via basic [REDACTED] ok"),
        ("basic auth is off; basic setup", "basic auth is off; basic setup"),  # not credentials
        (
            "GET /cb?code=x&access_token=opaque123 HTTP/1.1",
            "GET /cb?code=x&access_token=[REDACTED] HTTP/1.1",
        ),
        ("GET /s?api%5Fkey=opaque123&x=1", "GET /s?api%5Fkey=[REDACTED]&x=1"),
        ("next=%2Fcb%3Ftoken%3Dopaque123%26x%3D1", "next=%2Fcb%3Ftoken%3D[REDACTED]"),
        ("next=%252Fcb%253Ftoken%253Dopaque123", "next=%252Fcb%253Ftoken%253D[REDACTED]"),
        ("x%2Dapi%2Dkey=opaque123", "x%2Dapi%2Dkey=[REDACTED]"),
        ("redis://:hun/ter2@cache:6379/0", "redis://[REDACTED]@cache:6379/0"),
        ("redis://u:p@ss@cache/0", "redis://[REDACTED]@cache/0"),
        ("bearer Bearer opaque123", "bearer Bearer [REDACTED]"),
        ("private_key=-----BEGIN", "private_key=[REDACTED]"),
        ("SessionPolicy(instructions='be terse')", "SessionPolicy(instructions='[REDACTED]')"),
    ],
)
def test_other_spellings(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


def test_secrets_split_across_args(capture):
    logger, stream = capture
    logger.info("token=%s%s", "opaque", "123")
    logger.info("%s=%s", "token", "opaque123")
    logger.info("Authorization: %s %s", "Bearer", "opaque123")
    logger.info("%s%s", "sk_orga_ai_", "test123")
    out = stream.getvalue()
    assert "opaque123" not in out
    assert "test123" not in out
    assert out.count("[REDACTED]") == 4


def test_reprs_of_a_request_show_no_secret(capture):
    logger, stream = capture
    request = starlette_request()
    for shown in (request.headers, request.query_params, request.url, request.scope):
        logger.info("%r", shown)
    logger.info("%s", request)
    out = stream.getvalue()
    assert "opaque123" not in out
    assert "sid=abc1" not in out
    assert "app.test" in out


def test_structlog_event_with_nested_secrets():
    event = {
        "event": "request",
        "http": {"request": {"headers": {"Authorization": "Bearer opaque123"}, "cookies": {}}},
        "items": [{"turn": {"username": TURN_USER, "credential": TURN_CRED}}],
        "note": "retry with tokens=['opaque123']",
        "max_tokens": 5,
    }
    out = structlog_processor(None, "info", event)
    assert_clean(repr(out))
    assert out["max_tokens"] == 5
    assert out["http"]["request"]["cookies"] == {}  # empty hides nothing: kept
