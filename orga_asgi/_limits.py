"""Moved to :mod:`orga_asgi._ratelimit`; this re-export goes away before 0.2."""

from ._ratelimit.gate import RateLimitGate
from ._ratelimit.space import LimitHeaders, RateLimitExceeded

__all__ = ["LimitHeaders", "RateLimitExceeded", "RateLimitGate"]
