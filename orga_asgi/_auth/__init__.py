"""The hooks behind :mod:`orga_asgi.auth`; the public names and factories live there.

- :mod:`.verify`: calling the app's ``verify`` function, sync or async, with the credential
  masked in whatever it raises.
- :mod:`.credentials`: the hooks reading a credential from the request (the bearer token,
  a session cookie) and handing it to ``verify``.
- :mod:`.scope_user`: the hook trusting the ``scope["user"]`` framework authentication set.
- :mod:`.any_of`: several hooks tried in order.
"""

from __future__ import annotations

from .any_of import AnyOf
from .credentials import Bearer, Cookie
from .scope_user import ScopeUser
from .verify import Verify

__all__ = ["AnyOf", "Bearer", "Cookie", "ScopeUser", "Verify"]
