"""Storage URI passwords never show (defect 15): redaction masks first, then cuts.

0.1.0 ended the netloc at the first ``/`` or ``?``, so a password holding either showed in the
ConfigurationError (which ``orga-asgi serve`` prints), and the store's failure text was cut
to 300 characters before the password was masked.
"""

from __future__ import annotations

import importlib.util

import pytest

from orga_asgi._errors import ConfigurationError
from orga_asgi._ratelimit import RateLimitGate, parse_storage, redact_uri

HEAD, TAIL = "Sx7Kq", "Zr9Wm"  # the two ends of every test password: neither may show
PASSWORDS = [
    f"{HEAD}/{TAIL}",
    f"{HEAD}?{TAIL}",
    f"{HEAD}#{TAIL}",
    f"{HEAD}@{TAIL}",
    f"{HEAD}:{TAIL}",
    f"{HEAD}%2F%3F%23%40{TAIL}",
    f"{HEAD}/?#@:%40{TAIL}",
    f"{HEAD}{'/' * 300}{TAIL}",
]
# Every scheme the gate accepts, with where its hosts go.
SCHEMES = [
    "redis://{auth}h:6379/0",
    "rediss://{auth}h:6379/0",
    "redis+unix://{auth}/run/redis.sock",
    "redis+cluster://{auth}h1:6379,h2:6379",
    "redis+sentinel://{auth}h1:26379,h2:26379/mymaster",
    "valkey://{auth}h:6379/0",
    "valkeys://{auth}h:6379/0",
    "valkey+unix://{auth}/run/valkey.sock",
    "valkey+cluster://{auth}h1:6379",
    "valkey+sentinel://{auth}h1:26379/mymaster",
    "async+redis://{auth}h:6379/0",
    "memory://{auth}",
]


def hidden(text: str) -> bool:
    return HEAD not in text and TAIL not in text


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("user", ["", "user"])
def test_redacted_uri_never_shows_the_password(scheme: str, password: str, user: str) -> None:
    uri = scheme.format(auth=f"{user}:{password}@")
    shown = redact_uri(uri)
    assert hidden(shown), shown
    if "?" in password or "#" in password:
        # The "?" might start a query holding "@": nothing past the scheme is shown.
        assert shown == scheme.partition("://")[0] + "://***"
    else:  # the hosts and path stay, to help the operator
        assert shown == scheme.format(auth="***@")


@pytest.mark.parametrize("password", PASSWORDS)
def test_query_and_fragment_are_masked_whole(password: str) -> None:
    for uri in (
        f"redis://h:6379/0?password={password}",
        f"redis://h:6379/0?socket_timeout=1&password={password}#frag",
        f"redis://h:6379/0#{password}",
    ):
        assert hidden(redact_uri(uri)), redact_uri(uri)


def test_what_is_not_a_uri_shows_only_if_it_looks_like_a_host() -> None:
    assert redact_uri("localhost:6379") == "localhost:6379"
    for odd in (f"user:{HEAD}@h", f"{HEAD}?{TAIL}", f"u:{HEAD}@h://x", f"{HEAD} {TAIL}"):
        assert redact_uri(odd) == "***"


def test_a_long_uri_is_masked_before_it_is_shortened() -> None:
    shown = redact_uri("redis://" + "h" * 1000 + f":1/0?password={HEAD}")
    assert len(shown) < 300
    assert hidden(shown)


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize(
    ("template", "hint"),
    [
        ("memory://u:{pw}@x", "just 'memory://'"),
        ("mongodb://u:{pw}@h:27017", "not supported"),
        ("redis://u:{pw}@localhost", "no usable host:port"),
        ("redis+cluster://u:{pw}@h1", "no usable host:port"),
        ("redis+sentinel://u:{pw}@h1:26379", ""),
        ("u:{pw}@h:6379", "not supported"),
    ],
)
def test_no_configuration_error_shows_the_password(template: str, hint: str, password: str) -> None:
    uri = template.format(pw=password)
    try:
        target = parse_storage(uri)
    except ConfigurationError as error:
        message = str(error)
        assert hint in message
        assert hidden(message), message
    else:  # some passwords make the URI valid after all: then its repr must hide them
        assert hidden(repr(target))
        assert hidden(
            repr(RateLimitGate(rate_limits=("1/minute",), ip_rate_limits=None, storage_uri=uri))
        )


@pytest.mark.parametrize("password", PASSWORDS)
def test_missing_redis_py_error_hides_the_password(
    password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match=r"orga-asgi\[redis\]") as error:
        parse_storage(f"redis://u:{password}@h:6379/0")
    assert hidden(str(error.value))


@pytest.mark.parametrize(
    ("uri", "password"),
    [
        ("redis://u:{pw}@127.0.0.1:1/0", f"{HEAD}-{TAIL}"),
        ("redis://u:{pw}@127.0.0.1:1/0", f"{HEAD}%40{TAIL}"),  # decoded: ...@...
        ("redis://127.0.0.1:1/0?password={pw}", f"{HEAD}%2F{TAIL}"),
        ("redis+sentinel://:{pw}@127.0.0.1:1/mymaster", f"{HEAD}{TAIL}"),
    ],
)
def test_store_failure_text_is_masked_then_cut(uri: str, password: str) -> None:
    gate = RateLimitGate(
        rate_limits=("1/minute",), ip_rate_limits=None, storage_uri=uri.format(pw=password)
    )
    assert gate._shared is not None
    decoded = password.replace("%40", "@").replace("%2F", "/")
    for secret in {password, decoded}:
        for offset in (0, 200, 280, 284, 286, 288):
            # The secret sits before the 300-character cut, or straddles it.
            text = gate._shared._describe(OSError("x" * offset + secret + " and more"))
            assert hidden(text), (offset, text)
            assert HEAD[:3] not in text, (offset, text)
            assert len(text) <= 300
    assert hidden(repr(gate))
