"""The hook trusting ``scope["user"]``, set by the framework's authentication middleware.

Misconfigurations are logged once each, on the ``orga_asgi.auth`` logger (the module the
app imported the hook from), naming only types: a user's attributes are personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orga_asgi._log import get_logger
from orga_asgi._principal import AuthHook, Principal

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["ScopeUser"]

_ID_ATTRIBUTES = ("identity", "id", "pk", "username")
_ID_KEYS = ("id", "sub", "username")
_ABSENT = object()  # an id attribute the user object does not have at all

logger = get_logger("orga_asgi.auth")


class ScopeUser(AuthHook):
    """The principal of ``scope["user"]``; see :func:`orga_asgi.auth.scope_user`."""

    def __init__(self, principal_from: Callable[[Any], Principal | None] | None) -> None:
        self._principal_from = principal_from
        # What was already warned about, so a misconfiguration is one line, not one per
        # request: the user types without an id, and "no scope['user'] at all" (None).
        self._warned: set[type | None] = set()

    async def __call__(self, request: Request) -> Principal | None:
        user = request.scope.get("user")
        if user is None:
            if "user" not in request.scope and None not in self._warned:
                self._warned.add(None)
                logger.warning(
                    "scope_user(): the request has no scope['user']: no authentication "
                    "middleware ran before this route, so every request is 401. Add the "
                    "framework's authentication middleware in front of the route, or pass "
                    "another authorize hook (see orga_asgi.auth)."
                )
            return None
        if not _attribute(user, "is_authenticated", True):
            return None
        if self._principal_from is not None:
            return self._principal_from(user)
        if isinstance(user, str):
            return Principal(id=user) if user else None
        if isinstance(user, dict):
            values = [user.get(k, _ABSENT) for k in _ID_KEYS]
        else:
            values = [_attribute(user, k, _ABSENT) for k in _ID_ATTRIBUTES]
        if all(v is _ABSENT for v in values):
            self._warn_no_id(type(user))
            return None
        found = next((v for v in values if v is not _ABSENT and v is not None and v != ""), None)
        return Principal(id=str(found)) if found is not None else None

    def _warn_no_id(self, kind: type) -> None:
        # Only the type is named: the user's attributes are personal data, maybe secrets.
        if kind in self._warned:
            return
        self._warned.add(kind)
        names = _ID_KEYS if issubclass(kind, dict) else _ID_ATTRIBUTES
        logger.warning(
            "scope_user(): the %s.%s in scope['user'] has none of %s, so every request is "
            "401. Say which attribute is the id, e.g. "
            "scope_user(lambda user: Principal(id=user.user_id)).",
            kind.__module__,
            kind.__qualname__,
            ", ".join(names),
        )


def _attribute(user: Any, name: str, default: Any) -> Any:
    # Starlette's BaseUser raises NotImplementedError for what a subclass does not define;
    # that is "not there", not a server fault. A missing is_authenticated defaults to True
    # (a plain user object), one that cannot answer is False (fail closed).
    try:
        return getattr(user, name, default)
    except NotImplementedError:
        return False if name == "is_authenticated" else default
