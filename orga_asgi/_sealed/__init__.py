"""Sealed sessions: the Orga token stays server-side, the browser gets a single-use handle.

* :mod:`.rules`, :mod:`.policy`: :class:`SessionPolicy` and its rules (``Pinned``,
  ``OneOf``, ``Range``), applied to the params of every session the relay starts;
* :mod:`.handles`: handles, their records, the memory store; :mod:`.redis_handles`: the
  shared store (imported only when ``storage_uri`` names one);
* :mod:`.sealer`: what the token route and ``issue()`` call to keep a token and hand out
  its handle, and what the relay calls to redeem one;
* :mod:`.offer`: the browser's session request, checked; :mod:`.relay`: the relay's
  per-request object and its ASGI app.
"""

from __future__ import annotations

from .handles import HandleStore, MemoryHandles, Sealed
from .policy import PolicySource, SessionPolicy, resolver
from .rules import OneOf, Pinned, Range
from .sealer import Sealer

__all__ = [
    "HandleStore",
    "MemoryHandles",
    "OneOf",
    "Pinned",
    "PolicySource",
    "Range",
    "Sealed",
    "Sealer",
    "SessionPolicy",
    "resolver",
]
