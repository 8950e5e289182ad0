"""Request ids: validate the caller's ``X-Request-ID`` or mint a fresh one.

The id travels in a context variable so every log line written while a request is served
carries it (see :mod:`orga_asgi._log`), and every error body repeats it.
"""

from __future__ import annotations

import contextvars
import os
import re

__all__ = ["new_request_id", "request_id_var", "resolve_request_id"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "orga_asgi_request_id", default=None
)
"""The id of the request being served in this context; ``None`` outside a request."""

_MIN_LENGTH = 8
_MAX_LENGTH = 128
# fullmatch, not match with `$`: `$` would also accept a trailing newline.
_VALID = re.compile(rb"[A-Za-z0-9._-]{8,128}")
# Markers of an Orga API key or a JWT. An incoming id shaped like a secret would be redacted in
# the logs (breaking correlation) yet echoed in the response header, so it is replaced instead.
_SECRET_MARKERS = (b"sk_orga_ai_", b"eyj")

# Fresh ids are cut from one getrandom() call per _BATCH ids: a system call per request
# was a measurable share of a refusal. Still 128 random bits each, never reused.
_BATCH = 256
_ready: list[str] = []


def _refill() -> str:
    text = os.urandom(16 * _BATCH).hex()
    _ready[:] = [text[i : i + 32] for i in range(32, len(text), 32)]
    return text[:32]


# A forked worker must not hand out the ids its parent has left: it draws its own.
if hasattr(os, "register_at_fork"):  # POSIX; Windows does not fork
    os.register_at_fork(after_in_child=_ready.clear)


def new_request_id() -> str:
    """Return a fresh request id: 32 lowercase hex characters (128 random bits).

    This is the shape of an OpenTelemetry trace id. The bits come from ``os.urandom``, drawn
    for a batch of ids at once (a fork starts a batch of its own).
    """
    try:
        return _ready.pop()
    except IndexError:
        return _refill()


def resolve_request_id(raw: bytes | None) -> str:
    """Return the caller's request id when it is valid, else a fresh one.

    Args:
        raw: the ``X-Request-ID`` header value as raw ASGI bytes, or ``None`` when absent.

    Returns:
        ``raw`` decoded, when it is 8 to 128 characters of ``[A-Za-z0-9._-]`` and does not look
        like an API key or a JWT; otherwise a fresh id from :func:`new_request_id`. Callers must
        not log a rejected value: it may be anything, including a secret or a forged log line.
    """
    if raw is None:
        try:
            return _ready.pop()
        except IndexError:
            return _refill()
    if not _MIN_LENGTH <= len(raw) <= _MAX_LENGTH or _VALID.fullmatch(raw) is None:
        return new_request_id()
    lowered = raw.lower()
    if _SECRET_MARKERS[0] in lowered or _SECRET_MARKERS[1] in lowered:
        return new_request_id()
    return raw.decode("ascii")
