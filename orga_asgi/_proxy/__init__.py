"""The effective scheme and client address of a request, behind trusted proxies only.

- :mod:`.resolver`: :class:`ProxyResolver`, the per-request walk of the forwarding chain
  (and whether a request provably comes from this machine);
- :mod:`.forwarded`: the forwarding headers parsed by hand, linear, never raising;
- :mod:`.networks`: the ``trusted_proxies`` setting, parsed and checked at startup;
- :mod:`.loopback`: loopback peers and ``Host`` headers naming this machine.
"""

from __future__ import annotations

from .loopback import is_loopback, is_loopback_host
from .resolver import ProxyResolver

__all__ = ["ProxyResolver", "is_loopback", "is_loopback_host"]
