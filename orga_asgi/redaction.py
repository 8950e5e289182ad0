"""Scrub secrets from log records and structlog events, wherever in them they appear.

What is scrubbed, by pattern: Orga API keys (``sk_orga_ai_...``), JWT-shaped tokens,
``Bearer ...`` and ``Basic ...`` credentials, ``Authorization``/``Cookie``/``Set-Cookie``/
``X-Api-Key`` header values, passwords in URLs (``redis://:pw@host``), and the values of
sensitive keys (token, username, credential, password, secret, api key, cookie, private key,
instructions..., and their plurals: ``cookies``, ``tokens``) in JSON, dict reprs, tuple pairs,
``key=value`` and ``key: value`` text, percent-encoded URLs included. A value that is a dict,
list or tuple (``cookies={'session': ...}``) is masked whole, brackets balanced. In
structured data (dicts, lists, tuples) the values of sensitive keys are replaced whatever
they look like. Numbers under ``*tokens`` keys (``max_tokens=5``) are counts and stay.

Every pattern runs in time linear in the text (``orga_asgi._redaction.text`` says how); a
text with more than ``MAX_SPANS`` (1024) secrets of one kind is masked from the last on.

The package's own loggers always carry a :class:`RedactingFilter`. Applications that want
their whole logging scrubbed call :func:`install` once, after configuring logging::

    logging.basicConfig(level=logging.INFO)
    orga_asgi.redaction.install()

With structlog, put :func:`structlog_processor` last before the renderer (after
``format_exc_info``, so tracebacks are text by the time it runs).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from ._redaction.text import REDACTED, redact
from ._redaction.values import is_sensitive_key, mask_sensitive, redact_args, redact_value, scrub

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "install",
    "redact",
    "redact_value",
    "structlog_processor",
    "uninstall",
]

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
                record.args = redact_args(record.args)
                if rendered is None and isinstance(msg, str):
                    record.msg = redact(msg)
        elif isinstance(msg, str):
            record.msg = redact(msg)
        elif isinstance(msg, dict):
            # structlog's ProcessorFormatter carries its event dict as ``msg`` and needs a
            # dict back: scrub its values, never turn it into text.
            record.msg = scrub(msg, 0, True)
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
            if is_sensitive_key(name):  # extra={"token": ...}: the name says it all
                clean_value = mask_sensitive(name, value)
            else:
                clean_value = scrub(value, 0, True)
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
        clean = mask_sensitive(key, value) if is_sensitive_key(key) else scrub(value, 0, True)
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
    target = logger if logger is not None else logging.root
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
    target = logger if logger is not None else logging.root
    target.removeFilter(_SHARED_FILTER)
    loggers = [logging.root, target]
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
