"""Who is asking, the authorize hook types, and the secret wrapper."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, cast

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "ANONYMOUS",
    "MAX_ID_LENGTH",
    "AuthHook",
    "AuthorizeHook",
    "Principal",
    "Secret",
    "allow_anonymous",
    "as_async_hook",
]

MAX_ID_LENGTH = 256
"""The longest :attr:`Principal.id` accepted: room for any user id, email or JWT ``sub``
(OpenID Connect caps ``sub`` at 255 ASCII characters), small enough for a rate-limit key and
an audit line."""


@dataclass(frozen=True)
class Principal:
    """The caller a token is minted for.

    Attributes:
        id: a stable identifier of the caller (user id, session subject): a non-empty
            ``str`` of at most :data:`MAX_ID_LENGTH` printable characters. Rate limits and
            the in-flight cap key on it, and it appears in the audit log line.
        claims: anything else the authorize hook knows (roles, tenant, JWT claims). Never
            logged; only its keys show in ``repr``.

    Raises:
        TypeError: ``id`` is not a ``str`` (``Principal(id=user.pk)``: pass
            ``str(user.pk)``), or ``claims`` is not a mapping.
        ValueError: ``id`` is empty, too long, or holds control characters.

    Raised from an authorize hook, either is a bug in the hook: the request gets a 500 and
    the endpoint logs the traceback.
    """

    id: str
    claims: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Checked here, not after the response: 0.1.0 accepted Principal(id=42), and the
        # audit code then raised out of the app after the 200 was sent.
        value: object = self.id
        if (
            type(value) is str
            and 0 < len(value) <= MAX_ID_LENGTH
            and value.isprintable()
            and type(self.claims) is dict
        ):
            return  # the usual principal, in one test; below, each way it can be wrong
        if not isinstance(value, str):
            raise TypeError(
                f"Principal.id must be a str, not {type(value).__name__}; "
                "convert it in the authorize hook, e.g. Principal(id=str(user.id))"
            )
        if not value:
            raise ValueError("Principal.id must not be empty")
        if len(value) > MAX_ID_LENGTH:
            raise ValueError(
                f"Principal.id must be at most {MAX_ID_LENGTH} characters, not {len(value)}"
            )
        if not value.isprintable():
            raise ValueError("Principal.id must not hold control or line-separator characters")
        if type(value) is not str:  # a str subclass (an enum member): keep the plain string
            object.__setattr__(self, "id", str.__str__(value))
        claims = self.claims
        if type(claims) is not dict and not isinstance(claims, Mapping):  # dict: no ABC check
            raise TypeError(f"Principal.claims must be a mapping, not {type(claims).__name__}")

    def __repr__(self) -> str:
        return f"Principal(id={self.id!r}, claims=<{len(self.claims)} keys>)"


AuthorizeResult = Optional[Principal]  # noqa: UP045 - a runtime alias on Python 3.10
AuthorizeHook = Callable[["Request"], AuthorizeResult | Awaitable[AuthorizeResult]]
"""A callable taking a Starlette ``Request``, sync or async, returning the caller's
:class:`Principal` or ``None`` (401). It may raise :class:`orga_asgi.Forbidden` (403).
An :class:`AuthHook` is one, with a 401 challenge and resources to close."""


class AuthHook(abc.ABC):
    """An authorize hook with extras: the challenge its 401 carries, resources to close.

    Every hook of :mod:`orga_asgi.auth` is one. Subclass it for your own: implement the
    async ``__call__``, set :attr:`www_authenticate` if a 401 should say how to
    authenticate, override :meth:`aclose` if the hook holds connections. The endpoint sends
    the challenge with its 401s and awaits :meth:`aclose` when it closes.

    Example::

        class ApiKeyHook(AuthHook):
            www_authenticate = 'ApiKey realm="orga"'

            async def __call__(self, request: Request) -> Principal | None:
                owner = await keys.owner(request.headers.get("x-api-key", ""))
                return Principal(id=owner) if owner else None
    """

    www_authenticate: str | None = None
    """The ``WWW-Authenticate`` value of this hook's 401s (``"Bearer"``), or ``None``."""

    @abc.abstractmethod
    async def __call__(self, request: Request) -> Principal | None:
        """Return the caller's principal, ``None`` for a 401, or raise ``Forbidden`` (403)."""

    async def aclose(self) -> None:  # noqa: B027 - a no-op by default, on purpose
        """Release what the hook holds (connections, key fetchers); idempotent. No-op here."""

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} hook>"


ANONYMOUS = Principal(id="anonymous")
"""The principal :func:`allow_anonymous` returns. The endpoint recognises anonymous callers
by identity (``principal is ANONYMOUS``), so a hook's own ``Principal(id="anonymous")`` is
an ordinary caller."""


def allow_anonymous(request: Request) -> Principal:
    """An authorize hook that lets every caller in, as the principal :data:`ANONYMOUS`.

    Use it only deliberately: behind another authentication layer, or for local
    development. Anonymous callers do not share one quota: the per-principal rate limits
    and the in-flight cap key on each caller's client address instead (an IPv6 address on
    its prefix, ``ipv6_prefix_length``), so one address cannot lock everyone out.
    """
    return ANONYMOUS


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
