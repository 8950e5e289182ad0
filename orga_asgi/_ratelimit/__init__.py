"""Rate limiting: windows per address and per principal, the in-flight cap, RateLimit headers.

Modules, in the order a request meets them:

* :mod:`.gate`: :class:`RateLimitGate`, what the pipeline calls (``check_ip``, ``admit``);
  its bases :mod:`.inflight` (the in-flight cap) and :mod:`.lifecycle` (the store's
  construction, startup check, reset and close);
* :mod:`.clients`: the bucket key of a client address (IPv6 on its prefix);
* :mod:`.space`: one namespace of windows, its header bytes, the 429 error;
* :mod:`.memory`: the ``memory://`` windows (and the fallback of a shared store);
* :mod:`.redis_store`: the shared windows and the store check at startup (imported only
  when a shared store is configured: it imports redis-py); :mod:`.redis_policy`: the
  ``on_storage_error`` policy while the store fails; :mod:`.redis_client`: limits' storage
  on the running loop and what its script replies;
* :mod:`.deny`: keys the shared store refused, answered in this process until their window
  has room (a 429 flood costs no round trip);
* :mod:`.backend`: the one module that knows ``limits``' internals; ``lua/``: its scripts;
  :mod:`.script`: runs them on a plain redis-py client with little CPU per call;
* :mod:`.config`: validation of windows and storage URIs, :func:`redact_uri`.
"""

from __future__ import annotations

from .admission import Admission
from .clients import ClientKeys
from .config import Window, parse_windows
from .gate import RateLimitGate
from .space import NO_ADDRESS, LimitHeaders, RateLimitExceeded, key_id
from .storage import StorageTarget, parse_storage, redact_uri

__all__ = [
    "NO_ADDRESS",
    "Admission",
    "ClientKeys",
    "LimitHeaders",
    "RateLimitExceeded",
    "RateLimitGate",
    "StorageTarget",
    "Window",
    "key_id",
    "parse_storage",
    "parse_windows",
    "redact_uri",
]
