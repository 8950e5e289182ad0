"""A failing ``verify`` never puts the caller's credential in the logged traceback
(hardening issue, defect 2): whatever shape the exception takes, logged through the
endpoint and formatted by logging's default formatter, the token is masked.

The token is opaque on purpose: no redaction pattern recognises it, only its value can.
"""

from __future__ import annotations

import ast
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from orga_asgi import Principal
from orga_asgi._redaction.exceptions import CredentialWithheld, scrub_exception
from orga_asgi.auth import bearer, cookie
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint, unavailable

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

pytestmark = pytest.mark.anyio

TOKEN = "op4que-t0ken_value.0123456789"  # b64token syntax, shaped like no known secret


class Logged(logging.Handler):
    """Every record the package logs, formatted by logging's default formatter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter())
        self.texts: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.texts.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


@pytest.fixture
def logged() -> Iterator[Logged]:
    handler = Logged()
    package = logging.getLogger("orga_asgi")
    package.addHandler(handler)
    try:
        yield handler
    finally:
        package.removeHandler(handler)


# The shapes, each a verify function raising with the token somewhere in it ----------------


async def os_error(token: str) -> Principal | None:
    raise FileNotFoundError(2, "No such session file", f"/sessions/{token}", None, f"/b/{token}")


async def task_group(token: str) -> Principal | None:
    # An anyio task group in verify: the group carries the children's exceptions.
    async def lookup(where: str) -> None:
        raise LookupError(f"no session {token} in {where}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(lookup, "cache")
        tg.start_soon(lookup, "db")
    return None


async def nested_groups(token: str) -> Principal | None:
    inner = ExceptionGroup("inner", [ValueError(token), KeyError(token)])
    raise ExceptionGroup("outer", [inner, RuntimeError(f"for {token}")])


async def notes(token: str) -> Principal | None:
    exc = RuntimeError("lookup failed")
    exc.__notes__ = [f"while checking {token}"]  # add_note() is 3.11+
    raise exc


async def cause_chain(token: str) -> Principal | None:
    try:
        raise KeyError(token)
    except KeyError as exc:
        raise RuntimeError("lookup failed") from exc


async def context_chain(token: str) -> Principal | None:
    try:
        raise ValueError(f"bad {token}")
    except ValueError:
        raise RuntimeError("lookup failed")  # noqa: B904 - the implicit context is the point


async def args_of_any_type(token: str) -> Principal | None:
    class Session:
        def __repr__(self) -> str:
            return f"Session(id={token!r})"

    raise RuntimeError({"session": token}, [token], ("a", (token,)), token.encode(), Session())


async def custom_fields(token: str) -> Principal | None:
    class LookupFailed(Exception):
        def __init__(self, value: str) -> None:
            super().__init__()
            self.detail = f"no session {value}"

        def __str__(self) -> str:
            return self.detail

    raise LookupFailed(token)


async def syntax_error(token: str) -> Principal | None:
    ast.literal_eval(f"{{{token}")  # the traceback shows the offending source text
    return None


async def computed_str(token: str) -> Principal | None:
    # A __str__ built from elsewhere cannot be scrubbed in place: a stand-in takes over.
    class Opaque(Exception):
        def __str__(self) -> str:
            return f"no session {token}"

    raise Opaque


async def group_message(token: str) -> Principal | None:
    raise ExceptionGroup(f"lookups for {token} failed", [RuntimeError("db down")])


async def cycle(token: str) -> Principal | None:
    first, second = RuntimeError(f"a {token}"), RuntimeError(f"b {token}")
    first.__context__, second.__context__ = second, first
    raise first


SHAPES: dict[str, tuple[Callable[[str], Any], str]] = {
    # name: (verify, what the logged traceback must still show)
    "os_error": (os_error, "FileNotFoundError: [Errno 2] No such session file"),
    "task_group": (task_group, "LookupError: no session [REDACTED] in"),
    "nested_groups": (nested_groups, "ValueError: [REDACTED]"),
    "notes": (notes, "while checking [REDACTED]"),
    "cause_chain": (cause_chain, "KeyError: '[REDACTED]'"),
    "context_chain": (context_chain, "ValueError: bad [REDACTED]"),
    "args_of_any_type": (args_of_any_type, "RuntimeError: ({'session': '[REDACTED]'}"),
    "custom_fields": (custom_fields, "no session [REDACTED]"),
    "syntax_error": (syntax_error, "SyntaxError"),
    "computed_str": (computed_str, "CredentialWithheld: computed_str.<locals>.Opaque withheld"),
    # The builtin group (3.11+) keeps its message read-only, so it is withheld whole; the
    # 3.10 backport's message can be scrubbed in place.
    "group_message": (
        group_message,
        "CredentialWithheld: ExceptionGroup withheld"
        if sys.version_info >= (3, 11)
        else "lookups for [REDACTED] failed",
    ),
    "cycle": (cycle, "RuntimeError: b [REDACTED]"),
}


async def fail_through(app: Any, headers: dict[str, str]) -> None:
    async with caller(app) as client:
        response = await client.get("/", headers={**headers, "x-request-id": "req-scrub-1"})
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert TOKEN not in response.text


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_the_logged_traceback_never_shows_the_token(logged: Logged, shape: str) -> None:
    verify, shown = SHAPES[shape]
    endpoint = make_endpoint(FakeOrga(), authorize=bearer(verify))
    await fail_through(endpoint, {"authorization": f"Bearer {TOKEN}"})
    faults = [r for r in logged.records if r.levelno >= logging.ERROR]
    assert faults, "the hook's fault was not logged"
    assert "Traceback (most recent call last)" in logged.text
    assert shown in logged.text, logged.text
    assert TOKEN not in logged.text


@pytest.mark.parametrize("shape", ["os_error", "task_group", "args_of_any_type"])
async def test_the_cookie_hook_scrubs_too(logged: Logged, shape: str) -> None:
    endpoint = make_endpoint(FakeOrga(), authorize=cookie("session", SHAPES[shape][0]))
    await fail_through(endpoint, {"cookie": f"session={TOKEN}"})
    assert SHAPES[shape][1] in logged.text
    assert TOKEN not in logged.text


async def test_an_app_catching_the_error_keeps_its_type_and_fields() -> None:
    # Scrubbed in place: the app's own handler still sees an OSError with its errno.
    hook = bearer(os_error)
    caught: list[BaseException] = []

    async def app_hook(request: Any) -> Principal | None:
        try:
            return await hook(request)
        except OSError as exc:
            caught.append(exc)
            return None

    async with caller(make_endpoint(FakeOrga(), authorize=app_hook)) as client:
        response = await client.get("/", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 401
    (exc,) = caught
    assert isinstance(exc, FileNotFoundError)
    assert exc.errno == 2
    assert exc.filename == "/sessions/[REDACTED]"
    assert exc.filename2 == "/b/[REDACTED]"


def test_base_exception_groups_and_cycles_through_causes() -> None:
    leaf = KeyboardInterrupt(TOKEN)  # not an Exception: only a BaseExceptionGroup holds it
    group = BaseExceptionGroup("stopped", [leaf, OSError(5, "io", TOKEN)])
    group.__cause__ = group  # a cycle through the chain itself
    assert scrub_exception(group, TOKEN) is group
    assert leaf.args == ("[REDACTED]",)
    assert group.exceptions[1].filename == "[REDACTED]"  # type: ignore[attr-defined]


def test_spellings_of_the_token_are_masked() -> None:
    secret = "tok/en+with=odd chars"
    exc = RuntimeError("tok%2Fen%2Bwith%3Dodd%20chars", '"tok/en+with=odd chars"', b"tok/en+")
    assert scrub_exception(exc, secret) is exc
    assert "tok%2Fen" not in str(exc)
    assert secret not in str(exc)


def test_the_stand_in_keeps_the_traceback_and_drops_the_original() -> None:
    try:
        anyio.run(computed_str, TOKEN)
    except Exception as exc:
        original = exc
    stand_in = scrub_exception(original, TOKEN)
    assert isinstance(stand_in, CredentialWithheld)
    assert stand_in.__traceback__ is original.__traceback__
    assert stand_in.__cause__ is None
    assert stand_in.__suppress_context__
    assert TOKEN not in str(stand_in)
    assert "no session [REDACTED]" in str(stand_in)


def test_short_credentials_are_left_alone() -> None:
    exc = RuntimeError("abc in abcdef")
    assert scrub_exception(exc, "abc") is exc
    assert exc.args == ("abc in abcdef",)


def test_the_exceptiongroup_backport_is_scrubbed_too() -> None:
    # Python 3.10 has no builtin groups: anyio raises the backport's, a pure-Python class
    # whose message lives in args. Its module defines it on every Python, so this runs
    # everywhere (on 3.10 it is the class anyio raises).
    try:
        from exceptiongroup import _exceptions as backport
    except ImportError:
        unavailable("the exceptiongroup backport is not installed: pip install exceptiongroup")
    leaf = LookupError(f"no session {TOKEN}")
    group = backport.ExceptionGroup(f"lookups for {TOKEN}", [leaf, OSError(2, "gone", TOKEN)])
    assert scrub_exception(group, TOKEN) is group  # the message is in args: scrubbed in place
    assert group.message == "lookups for [REDACTED]"
    assert TOKEN not in str(group) + repr(group)
    assert leaf.args == ("no session [REDACTED]",)
    assert group.exceptions[1].filename == "[REDACTED]"


async def test_a_group_with_a_cancellation_is_reraised_as_itself() -> None:
    # A stand-in would turn the cancellation into an error: the group keeps its identity.
    from starlette.requests import Request

    raised = BaseExceptionGroup(f"stopped {TOKEN}", [KeyboardInterrupt(TOKEN), ValueError(TOKEN)])

    async def verify(token: str) -> Principal | None:
        raise raised

    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [(b"authorization", f"Bearer {TOKEN}".encode())],
        }
    )
    with pytest.raises(BaseExceptionGroup) as caught:
        await bearer(verify)(request)
    assert caught.value is raised
    assert [e.args for e in raised.exceptions] == [("[REDACTED]",), ("[REDACTED]",)]
