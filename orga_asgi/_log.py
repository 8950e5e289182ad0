"""The package's loggers: always scrubbed, always stamped with the request id.

:func:`get_logger` is the one way to get a logger inside ``orga_asgi``: ruff's ``TID251``
bans ``logging.getLogger`` everywhere else in the package, and ``tests/security/
test_loggers.py`` checks every logger the modules create. Use ``%(request_id)s`` in a
format string to show the id; it is ``-`` outside a request. A handler that also formats
other libraries' records needs :class:`RequestIdFilter` itself (``orga_asgi.logging``).
"""

from __future__ import annotations

import logging

from ._request_id import request_id_var
from .redaction import RedactingFilter

__all__ = ["RequestIdFilter", "get_logger"]


class RequestIdFilter(logging.Filter):
    """Set ``record.request_id`` from the request id context variable; never drops a record.

    Outside a request an id given explicitly (``extra={"request_id": ...}``) is kept, so a
    line written after the context was reset can still name its request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp ``record`` and return ``True``."""
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        elif not hasattr(record, "request_id"):
            record.request_id = "-"
        return True


# One instance each: Filterer.addFilter skips a filter already attached, so sharing them makes
# get_logger idempotent however often it is called.
_REQUEST_ID_FILTER = RequestIdFilter()
_REDACTING_FILTER = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` with the request id and redaction filters attached.

    Filters are attached to each logger rather than once to ``orga_asgi``: a logger's filters
    never see records created by its child loggers, only the handlers' filters do. The id
    filter runs first so the redaction filter also checks the id.
    """
    logger = logging.getLogger(name)
    logger.addFilter(_REQUEST_ID_FILTER)
    logger.addFilter(_REDACTING_FILTER)
    return logger
