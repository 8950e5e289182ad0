"""Moved to :mod:`orga_asgi._ratelimit.redis_store`; this re-export goes away before 0.2."""

from ._ratelimit.redis_store import SharedStore

__all__ = ["SharedStore"]
