"""Moved to ``orga_asgi/_ratelimit/lua/*.lua``; this re-export goes away before 0.2."""

from ._ratelimit.backend import script_source

__all__ = ["MOVING_WINDOW_LUA", "SLIDING_WINDOW_LUA"]

MOVING_WINDOW_LUA = script_source(sliding=False)
SLIDING_WINDOW_LUA = script_source(sliding=True)
