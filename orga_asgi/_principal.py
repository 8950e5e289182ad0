"""Who is asking, the authorize hook type, and the secret wrapper."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, cast

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["AuthorizeHook", "Principal", "Secret", "allow_anonymous", "as_async_hook"]


@dataclass(frozen=True)
class Principal:
    """The caller a token is minted for.

    Attributes:
        id: a stable identifier of the caller (user id, session subject). Rate limits and
            the in-flight cap key on it, and it appears in the audit log line.
        claims: anything else the authorize hook knows (roles, tenant, JWT claims). Never
            logged; only its keys show in ``repr``.
    """

    id: str
    claims: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Principal(id={self.id!r}, claims=<{len(self.claims)} keys>)"


AuthorizeResult = Optional[Principal]  # noqa: UP045 - a runtime alias on Python 3.10
AuthorizeHook = Callable[["Request"], AuthorizeResult | Awaitable[AuthorizeResult]]
"""A callable taking a Starlette ``Request``, sync or async, returning the caller's
:class:`Principal` or ``None`` (401). It may raise :class:`orga_asgi.Forbidden` (403)."""

_ANONYMOUS = Principal(id="anonymous")


def allow_anonymous(request: Request) -> Principal:
    """An authorize hook that lets every caller in, as principal ``anonymous``.

    Use it only deliberately: behind another authentication layer, or for local
    development. Rate limits then key on the client address alone in practice, since
    every caller shares the ``anonymous`` principal.
    """
    return _ANONYMOUS


def as_async_hook(hook: AuthorizeHook) -> Callable[[Request], Awaitable[AuthorizeResult]]:
    """Wrap ``hook`` once, at construction, so the hot path always awaits one call."""
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
        getattr(hook, "__call__", None)  # noqa: B004 - async callable objects
    ):
        return cast("Callable[[Request], Awaitable[AuthorizeResult]]", hook)

    async def call(request: Request) -> AuthorizeResult:
        # Sync hooks run inline: they must not block (do I/O in an async hook instead).
        result = hook(request)
        if inspect.isawaitable(result):
            return await result
        return result

    return call


class Secret:
    """A string that never shows itself in ``repr``/``str``; unwrap with :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself; call it only where a header is written."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        # Pickling would write the secret somewhere we do not control.
        raise TypeError("Secret values cannot be pickled")
