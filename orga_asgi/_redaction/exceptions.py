"""Mask one known secret everywhere an exception, and the exceptions linked to it, show text.

The authorize hooks know the caller's credential; a ``verify`` function raising
``LookupError(f"no session {token}")`` would put it in the logged traceback, and pattern
redaction cannot recognise an opaque session id. What a traceback shows of an exception:
``str()`` (built from ``args`` or from attributes: ``OSError.filename``/``filename2``/
``strerror``, ``SyntaxError.text``, a custom exception's own fields), ``__notes__``, the
sub-exceptions of an exception group (builtin on 3.11+, the ``exceptiongroup`` backport on
3.10: both are recognised by their ``exceptions`` attribute), and the ``__cause__`` /
``__context__`` chain. Each is scrubbed in place, recursively and cycle-safe, so the
application that catches the exception still gets its type and its chain.

Some text cannot be changed in place: a builtin exception group's message is read-only, and
a ``__str__`` may compute its text from anything. So the traceback is rendered once at the
end, as logging's formatter renders it; if it still shows the secret, a stand-in
:class:`CredentialWithheld` carrying that rendering, masked, takes the exception's place.
"""

from __future__ import annotations

import contextlib
import json
import traceback
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .text import REDACTED

__all__ = ["CredentialWithheld", "scrub_exception"]

_MIN_SECRET = 4  # masking a tiny string everywhere would only garble the message
_MAX_NODES = 2000  # parts visited per exception; the final render check covers the rest
_MAX_DEPTH = 8
# Writable attributes of builtin exceptions that str() or the traceback reads.
_ATTRIBUTES = (
    *("filename", "filename2", "strerror", "msg", "text", "name", "path", "reason", "object"),
    *("obj", "value"),
)
_MISSING = object()


class CredentialWithheld(RuntimeError):
    """Stands in for an exception whose text showed the caller's credential after scrubbing.

    Its message is the original's traceback, rendered and masked; its own traceback is the
    original's, so the log still points at the line that raised.
    """


def scrub_exception(exc: BaseException, secret: str) -> BaseException:
    """Mask ``secret`` wherever ``exc`` shows text; return ``exc``, or a stand-in for it.

    Args:
        exc: the exception, scrubbed in place (with its groups, notes and chain).
        secret: the credential; spellings of it (percent-encoded, JSON- and repr-escaped,
            bytes) are masked too. Shorter than 4 characters it is left alone.

    Returns:
        ``exc`` itself, or a :class:`CredentialWithheld` when part of its text could not
        be changed (raise the stand-in instead, outside any ``except`` block, so the
        original is not attached to it as ``__context__``).
    """
    if len(secret) < _MIN_SECRET:
        return exc
    scrubber = _Scrubber(secret)
    scrubber.exception(exc, 0)
    rendered = _render(exc)
    if not scrubber.shows(rendered):
        return exc
    stand_in = CredentialWithheld(
        f"{type(exc).__qualname__} withheld: its text showed the caller's credential. "
        f"Masked, it read:\n{scrubber.text(rendered)}"
    )
    stand_in.__suppress_context__ = True
    return stand_in.with_traceback(exc.__traceback__)


def _render(exc: BaseException) -> str:
    # What logging.Formatter.formatException prints, plus the repr some handlers log.
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # a broken __str__ inside: judge by the repr alone
        text = ""
    try:
        return text + repr(exc)
    except Exception:  # nothing more to show
        return text


class _Scrubber:
    def __init__(self, secret: str) -> None:
        forms = {
            secret,
            urllib.parse.quote(secret, safe=""),
            json.dumps(secret)[1:-1],
            secret.encode("unicode_escape").decode("ascii"),
        }
        self.forms = sorted((f for f in forms if len(f) >= _MIN_SECRET), key=len, reverse=True)
        self.raw = [f.encode("utf-8") for f in self.forms]
        self.seen: set[int] = set()
        self.nodes = 0

    def shows(self, text: str) -> bool:
        return any(form in text for form in self.forms)

    def text(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, REDACTED)
        return text

    def exception(self, exc: BaseException, depth: int) -> None:
        if id(exc) in self.seen or self.nodes > _MAX_NODES:
            return
        self.seen.add(id(exc))
        self.nodes += 1
        args = self.value(exc.args, depth)
        if args is not exc.args:
            _set(exc, "args", args)
        for name in _ATTRIBUTES:
            current = _get(exc, name)
            if current is not _MISSING and current is not None:
                clean = self.value(current, depth)
                if clean is not current:
                    _set(exc, name, clean)
        # A custom exception's fields, __notes__, the backport group's message and list.
        for name, current in list(getattr(exc, "__dict__", {}).items()):
            clean = self.value(current, depth)
            if clean is not current:
                _set(exc, name, clean)
        subs = getattr(exc, "exceptions", None)
        if isinstance(subs, (tuple, list)):
            for sub in subs:
                if isinstance(sub, BaseException):
                    self.exception(sub, depth)
        for linked in (exc.__cause__, exc.__context__):
            if linked is not None:
                self.exception(linked, depth)

    def value(self, value: object, depth: int) -> object:
        """``value`` without the secret: the same object when it did not show it."""
        self.nodes += 1
        if isinstance(value, str):
            return self.text(value) if self.shows(value) else value
        if isinstance(value, (bytes, bytearray)):
            raw = bytes(value)
            for form in self.raw:
                raw = raw.replace(form, REDACTED.encode())
            return value if raw == value else type(value)(raw)
        if isinstance(value, BaseException):
            self.exception(value, depth + 1)
            return value
        if value is None or isinstance(value, (int, float)):
            return value
        if depth >= _MAX_DEPTH or self.nodes > _MAX_NODES or id(value) in self.seen:
            return value  # judged by the final render check
        self.seen.add(id(value))
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self.value(item, depth + 1) for item in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            if isinstance(value, tuple):
                make = getattr(value, "_make", None)  # a named tuple keeps its type
                return make(items) if make is not None else tuple(items)
            return type(value)(items) if type(value) in (list, set, frozenset) else items
        if isinstance(value, Mapping):
            pairs = [(self.value(k, depth + 1), self.value(v, depth + 1)) for k, v in value.items()]
            if all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True)):
                return value
            return dict(pairs)
        return self._object(value)

    def _object(self, value: object) -> object:
        # Any other object shows what its str() and repr() say: replace it by its scrubbed
        # repr when either shows the secret.
        for render in (str, repr):
            try:
                text = render(value)
            except Exception:  # noqa: S112 - a broken __str__ shows nothing
                continue
            if self.shows(text):
                return self.text(text)
        return value


def _get(exc: BaseException, name: str) -> object:
    try:
        return getattr(exc, name, _MISSING)
    except Exception:  # a property that raises shows nothing
        return _MISSING


def _set(exc: BaseException, name: str, value: Any) -> None:
    with contextlib.suppress(AttributeError, TypeError):  # read-only: the render check decides
        setattr(exc, name, value)
