"""Moved to :mod:`orga_asgi._ratelimit.config`; this re-export goes away before 0.2."""

from ._ratelimit.config import Window, parse_windows
from ._ratelimit.storage import StorageTarget, parse_storage, redact_uri

__all__ = ["StorageTarget", "Window", "parse_storage", "parse_windows", "redact_uri"]
