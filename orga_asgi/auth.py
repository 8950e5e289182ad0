"""Ready authorize hooks for the ways apps already authenticate.

Each hook takes a Starlette ``Request`` and returns a :class:`Principal` or ``None``
(401). A hook, or the ``verify`` function given to it, may raise :class:`Forbidden` for a
known caller who may not have credentials (403). Anything else a hook raises is a server
fault: 500 ``internal_error``, logged with its traceback (redacted).

Example::

    async def verify(token: str) -> Principal | None:
        user = await sessions.lookup(token)
        return Principal(id=user.id) if user else None

    endpoint = OrgaClientSecrets(authorize=bearer(verify))
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError, Forbidden
from ._principal import AuthorizeHook, Principal, allow_anonymous, as_async_hook
from .redaction import REDACTED

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "AuthorizeHook",
    "Forbidden",
    "Principal",
    "Verify",
    "allow_anonymous",
    "any_of",
    "bearer",
    "cookie",
    "jwt",
    "scope_user",
]

Verify = Callable[[str], Awaitable[Principal | None] | Principal | None]
"""Checks a credential string (token or cookie value); sync or async."""

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_ID_ATTRIBUTES = ("identity", "id", "pk", "username")
_ID_KEYS = ("id", "sub", "username")


def _as_async_verify(verify: Verify) -> Callable[[str], Awaitable[Principal | None]]:
    # as_async_hook only cares about the calling convention, not the argument type.
    return as_async_hook(verify)  # type: ignore[arg-type, return-value]


async def _checked(
    check: Callable[[str], Awaitable[Principal | None]], value: str
) -> Principal | None:
    try:
        return await check(value)
    except Exception as exc:
        _scrub(exc, value)
        raise


def _scrub(exc: BaseException, secret: str) -> None:
    """Mask ``secret`` in the messages of ``exc`` and the exceptions chained to it.

    ``verify`` functions are user code: ``raise LookupError(f"no session {token}")`` would
    otherwise put the credential in the logged traceback. The pattern-based log redaction
    cannot know an opaque session id; this hook does, so it masks it exactly.
    """
    if len(secret) < 4:  # masking a tiny string everywhere would only garble the message
        return
    raw = secret.encode("latin-1", "replace")
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 32:
        seen.add(id(current))
        current.args = tuple(
            a.replace(secret, REDACTED)
            if isinstance(a, str)
            else a.replace(raw, REDACTED.encode())
            if isinstance(a, bytes)
            else a
            for a in current.args
        )
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            clean = [n.replace(secret, REDACTED) if isinstance(n, str) else n for n in notes]
            setattr(current, "__notes__", clean)  # noqa: B010 - not on 3.10's BaseException
        current = current.__cause__ or current.__context__


def bearer(verify: Verify) -> AuthorizeHook:
    """Read ``Authorization: Bearer <token>`` and pass the token to ``verify``.

    A missing or malformed header (another scheme, an empty token, a token outside the
    RFC 6750 ``b64token`` syntax) is a 401 without calling ``verify``; the 401 carries
    ``WWW-Authenticate: Bearer``.
    """
    check = _as_async_verify(verify)

    async def hook(request: Request) -> Principal | None:
        # The raw ASGI header, not request.headers: this runs on every request, and the
        # refusal path should cost next to nothing.
        raw = next((v for k, v in request.scope["headers"] if k == b"authorization"), b"")
        scheme, _, token = raw.decode("latin-1").partition(" ")
        token = token.strip(" ")
        if scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
            return None
        return await _checked(check, token)

    hook.www_authenticate = "Bearer"  # type: ignore[attr-defined]
    return hook


def cookie(name: str, verify: Verify) -> AuthorizeHook:
    """Read the session cookie ``name`` and pass its value to ``verify``."""
    check = _as_async_verify(verify)

    async def hook(request: Request) -> Principal | None:
        value = request.cookies.get(name)
        if not value:
            return None
        return await _checked(check, value)

    return hook


def scope_user(
    principal_from: Callable[[Any], Principal | None] | None = None,
) -> AuthorizeHook:
    """Trust ``scope["user"]`` set by framework authentication.

    Works with Starlette's ``AuthenticationMiddleware`` and any framework that puts a
    user object in the scope (Litestar, Django's ASGI auth through a middleware, ...).
    A missing user, or one whose ``is_authenticated`` is false, means 401.

    Args:
        principal_from: turn the user object into a Principal; by default the id is the
            user's ``identity``, ``id``, ``pk`` or ``username`` (first found), or the
            string itself when the user is a string.
    """

    def hook(request: Request) -> Principal | None:
        user = request.scope.get("user")
        if user is None or not _attribute(user, "is_authenticated", True):
            return None
        if principal_from is not None:
            return principal_from(user)
        if isinstance(user, str):
            return Principal(id=user) if user else None
        if isinstance(user, dict):
            values = (user.get(k) for k in _ID_KEYS)
        else:
            values = (_attribute(user, k, None) for k in _ID_ATTRIBUTES)
        found = next((v for v in values if v is not None and v != ""), None)
        return Principal(id=str(found)) if found is not None else None

    return hook


def _attribute(user: Any, name: str, default: Any) -> Any:
    # Starlette's BaseUser raises NotImplementedError for what a subclass does not define;
    # that is "not there", not a server fault. A missing is_authenticated defaults to True
    # (a plain user object), one that cannot answer is False (fail closed).
    try:
        return getattr(user, name, default)
    except NotImplementedError:
        return False if name == "is_authenticated" else None


def any_of(*hooks: AuthorizeHook) -> AuthorizeHook:
    """Try ``hooks`` in order; the first that returns a principal wins.

    A hook raising :class:`Forbidden` stops the search (403). The 401 carries
    ``WWW-Authenticate`` when one of the hooks asks for it.
    """
    if not hooks:
        raise ConfigurationError("any_of() needs at least one hook")
    checks = [as_async_hook(h) for h in hooks]

    async def hook(request: Request) -> Principal | None:
        for check in checks:
            principal = await check(request)
            if principal is not None:
                return principal
        return None

    challenges = [getattr(h, "www_authenticate", None) for h in hooks]
    challenge = next((c for c in challenges if c), None)
    if challenge:
        hook.www_authenticate = challenge  # type: ignore[attr-defined]
    closers = [c for c in (getattr(h, "aclose", None) for h in hooks) if c is not None]
    if closers:

        async def aclose() -> None:
            for close in closers:
                await close()

        hook.aclose = aclose  # type: ignore[attr-defined]
    return hook


def jwt(
    *,
    jwks_url: str,
    audience: str | Sequence[str] | None = None,
    issuer: str | None = None,
    algorithms: str | Sequence[str] = ("RS256", "ES256"),
    **options: Any,
) -> AuthorizeHook:
    """Verify a bearer JWT against a JWKS; the principal id is the ``sub`` claim.

    Needs the ``jwt`` extra (``pip install 'orga-asgi[jwt]'``). Keys are fetched on
    first use, cached, and refreshed when a token names an unknown key id. A token that
    is invalid, expired, for another audience or issuer, or signed by an unknown key is a
    401; so is every token while the JWKS cannot be fetched and no keys are cached (a
    WARNING is logged). See :class:`orga_asgi._jwt.JWTVerifier` for ``options``
    (``leeway``, ``cache_ttl``, ``min_refresh_interval``, ``timeout``, ``http_client``).

    The returned hook has two extra attributes: ``verifier`` (the
    :class:`~orga_asgi._jwt.JWTVerifier`) and ``aclose``, a coroutine function that closes
    the HTTP client the verifier created; call it at shutdown (:func:`any_of` passes it
    on). A supplied ``http_client`` is left open.

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
    hook = bearer(verifier.verify)
    hook.verifier = verifier  # type: ignore[attr-defined]
    hook.aclose = verifier.aclose  # type: ignore[attr-defined]
    return hook
