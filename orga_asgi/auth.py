"""Ready authorize hooks for the ways apps already authenticate.

Each hook takes a Starlette ``Request`` and returns a :class:`Principal` or ``None``
(401). A hook, or the ``verify`` function given to it, may raise :class:`Forbidden` for a
known caller who may not have credentials (403). Anything else a hook raises is a server
fault: 500 ``internal_error``, logged with its traceback (redacted, and with the caller's
credential masked wherever the exception shows text).

Every hook here is an :class:`AuthHook`: ``hook.www_authenticate`` is the challenge its
401s carry, ``await hook.aclose()`` releases what it holds. Subclass :class:`AuthHook` for
hooks of your own that need either.

Example::

    async def verify(token: str) -> Principal | None:
        user = await sessions.lookup(token)
        return Principal(id=user.id) if user else None

    endpoint = OrgaClientSecrets(authorize=bearer(verify))
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from ._errors import ConfigurationError, Forbidden
from ._log import get_logger
from ._principal import (
    ANONYMOUS,
    AuthHook,
    AuthorizeHook,
    Principal,
    allow_anonymous,
    as_async_hook,
)
from ._redaction.exceptions import CredentialWithheld, scrub_exception
from ._signed import SignedHeaderHook, signed_header

if TYPE_CHECKING:
    from starlette.requests import Request

    from ._jwt import JWTVerifier

__all__ = [
    "ANONYMOUS",
    "AuthHook",
    "AuthorizeHook",
    "CredentialWithheld",
    "Forbidden",
    "JWTHook",
    "Principal",
    "SignedHeaderHook",
    "Verify",
    "allow_anonymous",
    "any_of",
    "bearer",
    "cookie",
    "jwt",
    "scope_user",
    "signed_header",
]

Verify = Callable[[str], Awaitable[Principal | None] | Principal | None]
"""Checks a credential string (token or cookie value); sync or async."""

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_ID_ATTRIBUTES = ("identity", "id", "pk", "username")
_ID_KEYS = ("id", "sub", "username")
_ABSENT = object()  # an id attribute the user object does not have at all

logger = get_logger("orga_asgi.auth")


def _as_async_verify(verify: Verify) -> Callable[[str], Awaitable[Principal | None]]:
    """Wrap ``verify`` once, at construction, so the hot path always awaits one call."""
    if inspect.iscoroutinefunction(verify) or inspect.iscoroutinefunction(
        getattr(verify, "__call__", None)  # noqa: B004 - async callable objects
    ):
        return cast("Callable[[str], Awaitable[Principal | None]]", verify)

    async def call(value: str) -> Principal | None:
        result = verify(value)  # sync verify functions run inline: they must not block
        if result is None or type(result) is Principal:  # the usual answers, cheaply
            return result
        if inspect.isawaitable(result):
            return await result
        return result

    return call


async def _checked(
    check: Callable[[str], Awaitable[Principal | None]], value: str
) -> Principal | None:
    """Call ``check``; if it raises, scrub ``value`` from what it raised before re-raising.

    ``verify`` functions are user code: ``raise LookupError(f"no session {token}")`` would
    otherwise put the credential in the logged traceback, and the pattern-based log
    redaction cannot know an opaque session id. This hook does, so it masks it exactly:
    in args, attributes (``OSError.filename``), notes, exception groups (an anyio task group
    inside ``verify``) and the cause/context chain. Cancellation and other exceptions that
    are not errors pass through untouched.
    """
    try:
        return await check(value)
    except Exception as exc:
        clean = scrub_exception(exc, value)
        if clean is exc:
            raise
        if isinstance(exc, Forbidden):  # keep the 403; its text is never sent anyway
            clean = Forbidden()
        failure = clean
    except BaseException as exc:
        # A group holding a cancellation next to errors: scrubbed in place, but always
        # re-raised as itself, since a stand-in would swallow the cancellation. Lone
        # CancelledError, KeyboardInterrupt...: not ours to touch.
        if _is_group(exc):
            scrub_exception(exc, value)
        raise
    # Raised here, outside the except blocks, so the original is not its __context__.
    raise failure


def _is_group(exc: BaseException) -> bool:
    # A BaseExceptionGroup (builtin on 3.11+, the exceptiongroup backport on 3.10) holding
    # both errors and cancellations still carries the errors' text.
    subs = getattr(exc, "exceptions", None)
    return isinstance(subs, tuple) and all(isinstance(e, BaseException) for e in subs)


class _Bearer(AuthHook):
    www_authenticate = "Bearer"

    def __init__(self, verify: Verify) -> None:
        self._check = _as_async_verify(verify)

    async def __call__(self, request: Request) -> Principal | None:
        # The raw ASGI header, not request.headers: this runs on every request, and the
        # refusal path should cost next to nothing.
        raw = next((v for k, v in request.scope["headers"] if k == b"authorization"), b"")
        scheme, _, token = raw.decode("latin-1").partition(" ")
        token = token.strip(" ")
        if scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
            return None
        return await _checked(self._check, token)


def bearer(verify: Verify) -> AuthHook:
    """Read ``Authorization: Bearer <token>`` and pass the token to ``verify``.

    A missing or malformed header (another scheme, an empty token, a token outside the
    RFC 6750 ``b64token`` syntax) is a 401 without calling ``verify``; the 401 carries
    ``WWW-Authenticate: Bearer``. Whatever ``verify`` raises is re-raised with the token
    masked in it (a :class:`CredentialWithheld` stands in when that cannot be done in place).
    """
    return _Bearer(verify)


class _Cookie(AuthHook):
    def __init__(self, name: str, verify: Verify) -> None:
        self._name = name
        self._check = _as_async_verify(verify)

    async def __call__(self, request: Request) -> Principal | None:
        value = request.cookies.get(self._name)
        if not value:
            return None
        return await _checked(self._check, value)


def cookie(name: str, verify: Verify) -> AuthHook:
    """Read the session cookie ``name`` and pass its value to ``verify``.

    A missing or empty cookie is a 401 without calling ``verify``. Whatever ``verify``
    raises is re-raised with the cookie value masked in it, as for :func:`bearer`.
    """
    return _Cookie(name, verify)


class _ScopeUser(AuthHook):
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


def scope_user(
    principal_from: Callable[[Any], Principal | None] | None = None,
) -> AuthHook:
    """Trust ``scope["user"]`` set by framework authentication.

    Works with Starlette's ``AuthenticationMiddleware`` and any framework that puts a
    user object in the scope (Litestar, Django's ASGI auth through a middleware, ...).
    A missing user, or one whose ``is_authenticated`` is false, means 401.

    Two misconfigurations are logged, one WARNING each (never with the user's values): no
    ``scope["user"]`` at all (no authentication middleware ran before the route), and a
    user type without any of the id attributes below (once per type), e.g. Litestar's
    ``User(user_id=...)``: pass ``scope_user(lambda user: Principal(id=user.user_id))``.

    Args:
        principal_from: turn the user object into a Principal; by default the id is the
            user's ``identity``, ``id``, ``pk`` or ``username`` (first found, as a string;
            for a dict, its ``id``, ``sub`` or ``username`` key), or the string itself when
            the user is a string.
    """
    return _ScopeUser(principal_from)


def _attribute(user: Any, name: str, default: Any) -> Any:
    # Starlette's BaseUser raises NotImplementedError for what a subclass does not define;
    # that is "not there", not a server fault. A missing is_authenticated defaults to True
    # (a plain user object), one that cannot answer is False (fail closed).
    try:
        return getattr(user, name, default)
    except NotImplementedError:
        return False if name == "is_authenticated" else default


class _AnyOf(AuthHook):
    def __init__(self, hooks: Sequence[AuthorizeHook]) -> None:
        self._hooks = tuple(hooks)
        self._checks = [as_async_hook(h) for h in hooks]
        challenges = (getattr(h, "www_authenticate", None) for h in hooks)
        self.www_authenticate = next((c for c in challenges if c), None)

    async def __call__(self, request: Request) -> Principal | None:
        for check in self._checks:
            principal = await check(request)
            if principal is not None:
                return principal
        return None

    async def aclose(self) -> None:
        # Every member is closed even when one fails; the first failure is raised after.
        failure: BaseException | None = None
        for hook in self._hooks:
            close = getattr(hook, "aclose", None)  # plain callables may carry one too
            if close is None:
                continue
            try:
                await close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure


def any_of(*hooks: AuthorizeHook) -> AuthHook:
    """Try ``hooks`` in order; the first that returns a principal wins.

    A hook raising :class:`Forbidden` stops the search (403). The 401 carries the
    ``WWW-Authenticate`` challenge of the first hook that has one; :meth:`AuthHook.aclose`
    closes every hook.
    """
    if not hooks:
        raise ConfigurationError("any_of() needs at least one hook")
    return _AnyOf(hooks)


class JWTHook(_Bearer):
    """The hook :func:`jwt` returns: a bearer hook whose ``verify`` is a JWT verifier.

    Attributes:
        verifier: the :class:`~orga_asgi._jwt.JWTVerifier` checking the tokens.
    """

    def __init__(self, verifier: JWTVerifier) -> None:
        super().__init__(verifier.verify)
        self.verifier = verifier

    async def aclose(self) -> None:
        """Close the HTTP client the verifier created (a supplied one is left open)."""
        await self.verifier.aclose()

    def __repr__(self) -> str:
        return f"<JWTHook {self.verifier!r}>"


def jwt(
    *,
    jwks_url: str,
    audience: str | Sequence[str] | None = None,
    issuer: str | None = None,
    algorithms: str | Sequence[str] = ("RS256", "ES256"),
    **options: Any,
) -> JWTHook:
    """Verify a bearer JWT against a JWKS; the principal id is the ``sub`` claim.

    Needs the ``jwt`` extra (``pip install 'orga-asgi[jwt]'``). Keys are fetched on
    first use, cached, and refreshed when a token names an unknown key id. A token that
    is invalid, expired, for another audience or issuer, or signed by an unknown key is a
    401; so is every token while the JWKS cannot be fetched and no keys are cached (a
    WARNING is logged). See :class:`orga_asgi._jwt.JWTVerifier` for ``options``
    (``leeway``, ``cache_ttl``, ``min_refresh_interval``, ``timeout``, ``http_client``).

    The returned :class:`JWTHook` has the verifier as ``verifier``; its ``aclose()``
    closes the HTTP client the verifier created (the endpoint calls it when it closes, and
    :func:`any_of` passes it on). A supplied ``http_client`` is left open.

    Raises:
        ConfigurationError: ``jwks_url`` is not https (http only on loopback), or an
            option is wrong.
        ModuleNotFoundError: joserfc is not installed.
    """
    try:
        from ._jwt import JWTVerifier
    except ModuleNotFoundError as exc:
        if exc.name != "joserfc" and not (exc.name or "").startswith("joserfc."):
            raise
        raise ModuleNotFoundError(
            "orga_asgi.auth.jwt needs joserfc: pip install 'orga-asgi[jwt]'", name=exc.name
        ) from exc

    try:
        verifier = JWTVerifier(
            jwks_url=jwks_url, audience=audience, issuer=issuer, algorithms=algorithms, **options
        )
    except TypeError as exc:  # an unknown keyword: say which options exist
        raise ConfigurationError(
            f"{exc}; see orga_asgi._jwt.JWTVerifier for the options of auth.jwt"
        ) from None
    return JWTHook(verifier)
