"""Scrub secrets from log records and structlog events, wherever in them they appear.

What is scrubbed, by pattern: Orga API keys (``sk_orga_ai_...``), JWT-shaped tokens,
``Bearer ...`` credentials, ``Authorization``/``Cookie``/``Set-Cookie``/``X-Api-Key`` header
values, passwords in URLs (``redis://:pw@host``), and the values of sensitive keys (token,
username, credential, password, secret, api key, cookie...) in JSON, dict reprs, tuple pairs,
``key=value`` and ``key: value`` text. In structured data (dicts, lists, tuples) the values of
sensitive keys are replaced whatever they look like.

The package's own loggers always carry a :class:`RedactingFilter`. Applications that want
their whole logging scrubbed call :func:`install` once, after configuring logging::

    logging.basicConfig(level=logging.INFO)
    orga_asgi.redaction.install()

With structlog, put :func:`structlog_processor` last before the renderer (after
``format_exc_info``, so tracebacks are text by the time it runs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install",
    "redact",
    "redact_value",
    "structlog_processor",
    "uninstall",
]

REDACTED = "[REDACTED]"
_REDACTED_JWT = "[REDACTED_JWT]"
_MAX_DEPTH = 16  # deeper (or cyclic) structures are judged by their repr
_SCALARS = frozenset({str, int, float, bool, type(None)})

# Values may be quoted three ways (JSON/repr, repr, JSON inside a JSON string) or bare; a bytes
# repr's `b` prefix stays outside the masked group. The lookahead makes a second pass over
# scrubbed text a no-op (a record may meet a logger filter and then a handler filter).
_VALUE = (
    r"(?!b?(?:\\?[\"'])?\[redacted)(?:b(?=[\"']))?("
    r"(?:(?:bearer|basic)[ \t]+)?"
    r"(?:\"(?:[^\"\\\n]|\\.)*\""
    r"|'(?:[^'\\\n]|\\.)*'"
    r"|\\\"(?:[^\"\\\n]|\\[^\"\n])*\\\""
    r"|[\"']?[^\s\"'\\,;&<>(){}\[\]][^\s\"',;&<>(){}\[\]]*))"
)
_QUOTED_KEY = (
    r"[a-z0-9_-]*?"
    r"(?:authorization|cookie|api[_-]?key|token|username|credentials?|passw(?:or)?d|secret)"
)
_HEADERS = ("proxy-authorization", "authorization", "set-cookie", "cookie", "x-api-key")
# Unanchored on the left on purpose: `csrftoken=`, `client_secret=`, `x-api-key=` all match.
_BARE_KEYS = (
    *("authorization", "cookie", "api-key", "api_key", "apikey", "token", "username"),
    *("credentials", "credential", "password", "passwd", "secret"),
)
# Every alternative starts with a literal character and has at most one capturing group (the
# value to mask). The literal starts let the regex engine skip most positions quickly; that
# needs a case-sensitive pattern, so it runs on the lowercased text and offsets map back.
_ALTERNATIVES = (
    r"sk_orga_ai_([a-z0-9_-]+)",
    r"eyj[a-z0-9_-]+(?:\.[a-z0-9_-]*){2,4}",
    r"://([^\s/@:]*:[^\s/@]+)@",
    *(rf"{q}{_QUOTED_KEY}{q}\s*[:=,]\s*{_VALUE}" for q in ('"', "'", r'\\"')),
    *(rf"{re.escape(h)}[ \t]*:[ \t]*((?!\[redacted)\S[^\r\n]*)" for h in _HEADERS),
    *(rf"{re.escape(k)}[ \t]*[=:][ \t]*{_VALUE}" for k in _BARE_KEYS),
    r"bearer[ \t]+((?!\[redacted)[^\s\"'\\,;<>]+)",
)


def _factor(alternatives: tuple[str, ...]) -> str:
    # Alternatives sharing a first character become `c(?:rest1|rest2)`: the engine then tests
    # ~13 distinct first characters per position instead of ~24 alternatives (~40% faster).
    groups: dict[str, list[str]] = {}
    for alternative in alternatives:
        size = 2 if alternative.startswith("\\\\") else 1  # an escaped backslash is one literal
        groups.setdefault(alternative[:size], []).append(alternative[size:])
    return "|".join(
        first + (rests[0] if len(rests) == 1 else f"(?:{'|'.join(rests)})")
        for first, rests in groups.items()
    )


_SOURCE = _factor(_ALTERNATIVES)
_PATTERN = re.compile(_SOURCE)
# For text whose lowercase form has another length (rare non-ASCII): slower, same result.
_PATTERN_CI = re.compile(_SOURCE, re.IGNORECASE)
# Every alternative contains one of these. Substring tests are ~5x cheaper than a regex search,
# so clean text (the common case) costs one lower() and a dozen memchr-speed scans.
_TRIGGERS = (
    *("sk_orga_ai_", "eyj", "://", "bearer", "authorization", "cookie", "api_key", "api-key"),
    *("apikey", "token", "username", "credential", "passw", "secret"),
)
# Dict keys are compared lowercased with `-` as `_`; a suffix match covers `set_cookie`,
# `x_api_key`, `ephemeral_token`, `ephemeraltoken`, `client_secret`, `turn_username`...
_SENSITIVE_SUFFIXES = (
    *("authorization", "cookie", "api_key", "apikey", "token", "username", "credential"),
    *("credentials", "password", "passwd", "secret"),
)


def redact(text: str) -> str:
    """Return ``text`` with every secret pattern masked; the same object when nothing matched."""
    lowered = text.lower()
    for trigger in _TRIGGERS:
        if trigger in lowered:
            break
    else:
        return text
    if len(lowered) == len(text):
        return _scrub(_PATTERN, lowered, text)
    return _scrub(_PATTERN_CI, text, text)


def _scrub(pattern: re.Pattern[str], scan: str, text: str) -> str:
    parts: list[str] = []
    pos = 0
    for match in pattern.finditer(scan):
        start, end = match.span()
        group = match.lastindex
        parts.append(text[pos:start])
        if group is None:  # the JWT alternative masks the whole match
            parts.append(_REDACTED_JWT)
        else:
            value_start, value_end = match.span(group)
            parts.append(text[start:value_start])
            parts.append(_mask(text[value_start:value_end]))
            parts.append(text[value_end:end])
        pos = end
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)


def _mask(value: str) -> str:
    # Keep the quoting so scrubbed JSON and reprs still read (and parse) as before.
    if len(value) >= 4 and value.startswith('\\"') and value.endswith('\\"'):
        return f'\\"{REDACTED}\\"'
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return f"{value[0]}{REDACTED}{value[0]}"
    return REDACTED


def _is_sensitive_key(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    return isinstance(key, str) and key.lower().replace("-", "_").endswith(_SENSITIVE_SUFFIXES)


def _mask_sensitive(value: object) -> object:
    # None and empty values hide nothing, and keep "the token was missing" visible in logs.
    if value is None or (isinstance(value, (str, bytes, bytearray)) and not value):
        return value
    return REDACTED.encode() if isinstance(value, (bytes, bytearray)) else REDACTED


def redact_value(value: object) -> object:
    """Return ``value`` with secrets masked, recursively; the same object when nothing changed.

    Strings are scrubbed with :func:`redact` (bytes too, keeping their type). In mappings, the
    values of sensitive keys (``authorization``, ``cookie``, ``set-cookie``, ``*api_key``,
    ``*token``, ``username``, ``credential``, ``password``, ``*secret``...; any case, ``-`` or
    ``_``) become ``"[REDACTED]"``; so does the second item of a ``(name, value)`` tuple such as
    an ASGI header. Lists, tuples and sets are recursed into. Any other object is judged by its
    ``str()`` and ``repr()``: when either shows a secret, the scrubbed text replaces it.
    Containers are copied only when something inside them changed; nothing is mutated.
    """
    return _redact(value, 0, True)


def _redact(value: object, depth: int, objects: bool) -> object:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("latin-1")  # latin-1 round-trips any byte
        clean = redact(text)
        return value if clean is text else clean.encode("latin-1")
    if depth >= _MAX_DEPTH:
        return _redact_object(value) if objects else value
    if isinstance(value, Mapping):
        changed = False
        out: dict[object, object] = {}
        for key, item in value.items():
            new_key = redact(key) if isinstance(key, str) else key
            if _is_sensitive_key(key):
                new_item = _mask_sensitive(item)
            else:
                new_item = _redact(item, depth + 1, objects)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if isinstance(value, tuple) and len(value) == 2 and _is_sensitive_key(value[0]):
        masked = _mask_sensitive(value[1])
        return value if masked is value[1] else (value[0], masked)
    if isinstance(value, (list, tuple, set, frozenset)):
        new = [_redact(item, depth + 1, objects) for item in value]
        if all(a is b for a, b in zip(new, value, strict=True)):
            return value
        if isinstance(value, list):
            return new
        if isinstance(value, tuple):
            make = getattr(value, "_make", None)  # a named tuple keeps its type
            return make(new) if make is not None else tuple(new)
        return set(new) if isinstance(value, set) else frozenset(new)
    return _redact_object(value) if objects else value


def _redact_args(args: tuple[object, ...] | Mapping[str, object]) -> Any:
    # Element by element: the args tuple itself is not a (name, value) pair, and masking a
    # number would break a `%d` in the format string. Objects are left to the render check.
    if isinstance(args, Mapping):
        return _redact(args, 0, False)
    texts: list[str] = []
    for arg in args:
        if isinstance(arg, str):
            texts.append(arg)
        elif type(arg) not in _SCALARS:
            break
    else:
        # Only strings and numbers, the common case: one scan over all the strings ("\0"
        # keeps a pattern from spanning two arguments) instead of one scan per argument.
        joined = "\0".join(texts)
        if redact(joined) is joined:
            return args
    new = tuple(_redact(arg, 1, False) for arg in args)
    return args if all(a is b for a, b in zip(new, args, strict=True)) else new


def _redact_object(value: object) -> object:
    # str() too, for secret wrappers whose repr is safe but whose str is the raw value.
    for render in (str, repr):
        text = _render(render, value)
        if text is not None:
            clean = redact(text)
            if clean is not text:
                return clean
    return value


def _render(render: Callable[[object], str], value: object) -> str | None:
    try:
        return render(value)
    except Exception:  # a broken __str__ is the formatter's problem to report, not ours
        return None


# Attributes every LogRecord has; anything else on a record came from `extra=` or a filter.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_PLAIN_RECORD_SIZE = len(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
_TRACEBACK_FORMATTER = logging.Formatter()
# structlog's ProcessorFormatter keeps the LogRecord here; later processors need it intact.
_STRUCTLOG_META = frozenset({"_record", "_from_structlog"})


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs a record in place and always lets it through.

    It scrubs ``msg``, ``args`` (tuple or mapping), extra attributes, ``exc_text`` and
    ``stack_info``. When the rendered message (``msg % args``) still shows a secret, for example
    through the ``str()`` of an object argument, the record is frozen to the scrubbed text and
    its args are dropped. An exception is rendered once here; when its traceback shows a
    secret, the scrubbed text goes to ``exc_text`` and ``exc_info`` is dropped, because
    formatters that re-render ``exc_info`` themselves (JSON formatters, Sentry) would otherwise
    print the secret again. Clean tracebacks keep ``exc_info`` untouched.

    A filter on a logger sees only records created by that logger, not those propagated from
    its children; a filter on a handler sees every record the handler emits.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` and return ``True``."""
        msg = record.msg
        if record.args:
            try:
                rendered: str | None = record.getMessage()
            except Exception:  # the handler will report the bad format; keep that report clean
                rendered = None
            clean = None if rendered is None else redact(rendered)
            if clean is not rendered:  # a secret shows in the output: freeze the scrubbed text
                record.msg, record.args = clean, ()
            else:
                # Clean output, but args may hold more than it shows (`%.4s`, unused mapping
                # keys) and some handlers ship args as they are (Sentry).
                record.args = _redact_args(record.args)
                if rendered is None and isinstance(msg, str):
                    record.msg = redact(msg)
        elif isinstance(msg, str):
            record.msg = redact(msg)
        else:
            text = str(msg)
            clean = redact(text)
            if clean is not text:
                record.msg = clean
        if isinstance(record.exc_info, tuple) and not record.exc_text:
            text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
            clean = redact(text)
            if clean is not text:
                record.exc_text, record.exc_info = clean, None
        elif record.exc_text:
            clean = redact(record.exc_text)
            if clean is not record.exc_text:
                record.exc_text, record.exc_info = clean, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if len(record.__dict__) <= _PLAIN_RECORD_SIZE:  # no extra attributes: skip the diff
            return True
        for name in record.__dict__.keys() - _STANDARD_ATTRS:
            value = record.__dict__[name]
            if _is_sensitive_key(name):  # extra={"token": ...}: the name says it all
                clean_value = _mask_sensitive(value)
            else:
                clean_value = _redact(value, 0, True)
            if clean_value is not value:
                record.__dict__[name] = clean_value
        return True


def structlog_processor(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor applying :func:`redact_value` to the whole event dict.

    structlog stays optional: this module never imports it. Place it after
    ``structlog.processors.format_exc_info`` (or ``dict_tracebacks``) so exception text is
    scrubbed too, and before the renderer.
    """
    changes: dict[str, object] = {}
    for key, value in event_dict.items():
        if key in _STRUCTLOG_META:
            continue
        clean = _mask_sensitive(value) if _is_sensitive_key(key) else _redact(value, 0, True)
        if clean is not value:
            changes[key] = clean
    # structlog builds a fresh dict for each event, so updating it in place is the convention;
    # the bound context's own values are replaced here, never mutated.
    event_dict.update(changes)
    return event_dict


_SHARED_FILTER = RedactingFilter()


def install(logger: logging.Logger | None = None, *, all_handlers: bool = False) -> RedactingFilter:
    """Scrub every record a logger and its handlers emit; calling it again changes nothing.

    One shared :class:`RedactingFilter` is attached to ``logger`` (default: the root logger),
    to each handler currently on it, and to :data:`logging.lastResort`. The handler filters are
    what cover the application: records of child loggers propagate to the root's *handlers*
    but never pass the root *logger's* filters. Handlers added later need
    ``handler.addFilter(filter)`` with the returned filter, so call this after configuring
    logging (``basicConfig``, ``dictConfig``, your server's log config).

    Args:
        logger: the logger to cover; ``None`` means the root logger.
        all_handlers: also attach the filter to the handlers of every logger that exists now.
            Use it for loggers that do not propagate to the root, such as uvicorn's.

    Returns:
        The shared filter, for handlers created later.

    Why not ``logging.setLogRecordFactory``: a factory would cover late handlers too, but it is
    one process-wide slot that other libraries also wrap (undoing or reordering it is fragile),
    it runs before filters that add context to records, and it would scrub loggers the caller
    did not ask for. Explicit filters are visible, local and reversible (:func:`uninstall`).
    """
    target = logger if logger is not None else logging.getLogger()
    # Filterer.addFilter ignores a filter that is already attached: this is what makes
    # repeated calls idempotent, so the shared instance matters.
    target.addFilter(_SHARED_FILTER)
    handlers = list(target.handlers)
    if all_handlers:
        for other in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(other, logging.Logger):
                handlers.extend(other.handlers)
    if logging.lastResort is not None:  # the handler used when logging is not configured
        handlers.append(logging.lastResort)
    for handler in handlers:
        handler.addFilter(_SHARED_FILTER)
    return _SHARED_FILTER


def uninstall(logger: logging.Logger | None = None) -> None:
    """Undo :func:`install`: detach the shared filter from ``logger`` and from every handler."""
    target = logger if logger is not None else logging.getLogger()
    target.removeFilter(_SHARED_FILTER)
    loggers = [logging.getLogger(), target]
    loggers.extend(
        other
        for other in logging.Logger.manager.loggerDict.values()
        if isinstance(other, logging.Logger)
    )
    handlers = [h for each in loggers for h in each.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        handler.removeFilter(_SHARED_FILTER)
