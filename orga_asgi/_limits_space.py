"""Moved to :mod:`orga_asgi._ratelimit.space`; this re-export goes away before 0.2."""

from ._ratelimit.space import NO_ADDRESS, LimitHeaders, RateLimitExceeded, Space, key_id

__all__ = ["NO_ADDRESS", "LimitHeaders", "RateLimitExceeded", "Space", "key_id"]
