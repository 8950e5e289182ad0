"""Logs that show up: the audit line and the request id under any server, secrets scrubbed.

The package writes one logfmt line per request on ``orga_asgi.audit`` but configures no
handler: under uvicorn, hypercorn or gunicorn nothing prints it until logging is set up.
:func:`dict_config` returns a ready :func:`logging.config.dictConfig` dict: one stderr handler
for the package, the server's own loggers (uvicorn, hypercorn, gunicorn) and the root, with
:class:`RequestIdFilter` and :class:`~orga_asgi.redaction.RedactingFilter` on the *handler*::

    uvicorn myapp:app --log-config "$(python -m orga_asgi.logging)"

(``python -m orga_asgi.logging`` prints :func:`config_path`, the shipped ``log_config.json``.)

The filters sit on the handler because a ``%(request_id)s`` format needs every record the
handler formats to have the attribute: a filter on a logger only sees that logger's own
records, so uvicorn's or another library's would fail with "--- Logging error ---". On the
handler every record gets the current request's id, or ``-`` outside a request.

This module shadows :mod:`logging` only as ``orga_asgi.logging``; inside it (absolute
imports) ``import logging`` is the standard library's.
"""

from __future__ import annotations

import contextlib
import json as _json
import logging
import logging.config
from collections.abc import MutableMapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._log import RequestIdFilter
from ._request_id import request_id_var
from .observe import parse_logfmt
from .redaction import RedactingFilter

__all__ = [
    "FORMAT",
    "JsonFormatter",
    "RedactingFilter",
    "RequestIdFilter",
    "config_path",
    "configure",
    "current_request_id",
    "dict_config",
    "structlog_request_id",
]

FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
"""The text format of :func:`dict_config`: time, level, request id (``-`` outside one),
logger, message."""

_AUDIT_LOGGER = "orga_asgi.audit"
# Loggers of the servers: each gets the handler itself and stops propagating, as the servers'
# own configs do, so that a root handler of the application does not print them twice. No
# level: the server's --log-level sets theirs. gunicorn's uvicorn worker copies the handlers
# of gunicorn.error / gunicorn.access onto uvicorn's loggers, so those must hold the handler.
_SERVER_LOGGERS = (
    "uvicorn",
    "uvicorn.access",
    "hypercorn.error",
    "hypercorn.access",
    "gunicorn.error",
    "gunicorn.access",
)
# The upstream client logs every call to Orga at INFO; the audit line already tells it.
_QUIET_LOGGERS = ("httpx", "httpcore")
_TRACE = 5  # uvicorn's TRACE level, below DEBUG
_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}


def current_request_id() -> str | None:
    """The id of the request being served in this context (``X-Request-ID``), else ``None``."""
    return request_id_var.get()


def _level(level: str | int) -> str | int:
    if isinstance(level, int):
        return level
    name = level.upper()
    if name == "TRACE":
        return _TRACE
    if name not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}: one of {sorted(_LEVELS)} or TRACE")
    return name


def dict_config(level: str | int = "INFO", *, json: bool = False) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dict showing the audit line with the request id.

    One handler on stderr, with :class:`RequestIdFilter` then ``RedactingFilter``, serves the
    root logger, ``orga_asgi`` (through the root) and the servers' loggers. Existing loggers
    stay enabled; ``httpx`` and ``httpcore`` are kept at WARNING.

    Args:
        level: the level of the root and ``orga_asgi`` loggers: a name (``"info"``,
            ``"TRACE"`` too) or a number. INFO shows one audit line per request.
        json: one JSON object per line (:class:`JsonFormatter`) instead of :data:`FORMAT`.

    Returns:
        A fresh dict: change it freely before passing it to ``dictConfig`` or a server.

    Raises:
        ValueError: ``level`` is not a level name.
    """
    chosen = _level(level)
    formatter: dict[str, Any] = (
        {"()": "orga_asgi.logging.JsonFormatter"} if json else {"format": FORMAT}
    )
    loggers: dict[str, Any] = {
        name: {"handlers": ["orga_asgi"], "propagate": False} for name in _SERVER_LOGGERS
    }
    loggers["orga_asgi"] = {"level": chosen}
    loggers.update({name: {"level": "WARNING"} for name in _QUIET_LOGGERS})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "orga_asgi.logging.RequestIdFilter"},
            "redact": {"()": "orga_asgi.logging.RedactingFilter"},
        },
        "formatters": {"orga_asgi": formatter},
        "handlers": {
            "orga_asgi": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "orga_asgi",
                # The id first, so the redaction filter also checks what it wrote.
                "filters": ["request_id", "redact"],
            }
        },
        "loggers": loggers,
        "root": {"level": chosen, "handlers": ["orga_asgi"]},
    }


def configure(level: str | int = "INFO", *, json: bool = False) -> None:
    """Apply :func:`dict_config` to this process (for servers run from Python code).

    A server that configures logging itself afterwards undoes it: pass
    ``log_config=dict_config()`` to ``uvicorn.run`` instead of calling this.
    """
    logging.config.dictConfig(dict_config(level, json=json))


def config_path() -> str:
    """The path of the shipped ``log_config.json``: :func:`dict_config` at INFO, as a file.

    For ``uvicorn --log-config``, ``hypercorn --log-config json:PATH`` and
    ``gunicorn --log-config-json``.
    """
    return str(Path(__file__).with_name("log_config.json"))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UTC), ``level``, ``logger``, ``request_id``,
    ``message``; ``audit`` with the audit line's fields; ``exc_info`` / ``stack_info`` as
    text when present. Non-ASCII is escaped, so a line is always one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        message = record.getMessage()
        created = datetime.fromtimestamp(record.created, timezone.utc)
        out: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": message,
        }
        # A line somebody else wrote on the audit logger: the message alone says it.
        if record.name == _AUDIT_LOGGER:
            with contextlib.suppress(ValueError):
                out["audit"] = parse_logfmt(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return _json.dumps(out, default=str)


def structlog_request_id(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor adding ``request_id``: the current request's, else ``-``.

    A stdlib record formatted by structlog's ``ProcessorFormatter`` keeps the id the handler's
    :class:`RequestIdFilter` gave it; an id already in the event is kept. structlog stays
    optional: this module never imports it.
    """
    if "request_id" not in event_dict:
        record = event_dict.get("_record")
        stamped = getattr(record, "request_id", None) if record is not None else None
        event_dict["request_id"] = stamped or request_id_var.get() or "-"
    return event_dict


if __name__ == "__main__":  # `python -m orga_asgi.logging`: the path, for a shell command line
    print(config_path())
