"""Suite-wide fixtures.

Tests run on asyncio through anyio unless they ask for trio (pytest-asyncio, if installed,
is kept out by ``-p no:asyncio`` in pyproject.toml). ``fake`` is the shipped ``fake_orga``
fixture: the suite uses the plugin its users get. Every test runs under the leak guard: it
captures every log record the package emits (at DEBUG) and every response seen by the
suite's in-process clients, and fails the test if an API key, an issued token or a TURN
credential appears in any of them, other than the issued token and its ICE servers in a 200
body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from orga_asgi.testing import FakeOrga, recording_secrets
from tests._support import LogCapture, seen_responses

# Characters secrets are made of (keys, JWTs, token_urlsafe credentials): splitting text on
# everything else yields candidate words, checked against the secrets with one set lookup.
_NOT_SECRET_CHARS = re.compile(r"[^A-Za-z0-9._~+/=-]+")
_API_KEY = re.compile(r"sk_orga_ai_(?!\[REDACTED)[A-Za-z0-9_-]+")


def _leaks(text: str, secrets: set[str]) -> set[str]:
    words = set(_NOT_SECRET_CHARS.split(text))
    # Also look inside words: a secret may be glued to punctuation we do not split on.
    found = words & secrets
    found |= {m.group(0) for m in _API_KEY.finditer(text)}
    return found


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake(fake_orga: FakeOrga) -> FakeOrga:
    """The shipped ``fake_orga`` fixture (orga_asgi.pytest_plugin) under the suite's name."""
    return fake_orga


@pytest.fixture(autouse=True)
def leak_guard() -> Iterator[LogCapture]:
    """Fail the test if a secret reached a log line, an error body or a header."""
    # The message alone (plus the raw args, in leak_texts): the level and logger name
    # are no secret, and the message is what a deployment's handler writes.
    capture = LogCapture("%(message)s")
    seen_responses.clear()
    with capture.installed("orga_asgi"), recording_secrets() as secrets:
        yield capture
    problems: list[str] = []
    for text in capture.leak_texts():
        if leaked := _leaks(text, secrets):
            problems.append(f"log line leaks {len(leaked)} secret(s): {text[:200]!r}")
    for response in seen_responses:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        if _leaks(headers, secrets):
            problems.append(f"response headers leak a secret ({response.status_code})")
        body = response.content.decode("utf-8", "replace")
        if response.status_code != 200:
            if _leaks(body, secrets):
                problems.append(f"{response.status_code} body leaks a secret")
        elif _API_KEY.search(body):
            problems.append("a 200 body carries an API key")
    seen_responses.clear()
    if problems:
        pytest.fail("leak guard:\n" + "\n".join(problems), pytrace=False)
