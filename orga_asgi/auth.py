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

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._auth import AnyOf, Bearer, Cookie, ScopeUser, Verify
from ._errors import ConfigurationError, Forbidden
from ._principal import (
    ANONYMOUS,
    AuthHook,
    AuthorizeHook,
    Principal,
    allow_anonymous,
)
from ._redaction.exceptions import CredentialWithheld
from ._signed import SignedHeaderHook, signed_header

if TYPE_CHECKING:
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


def bearer(verify: Verify) -> AuthHook:
    """Read ``Authorization: Bearer <token>`` and pass the token to ``verify``.

    A missing or malformed header (another scheme, an empty token, a token outside the
    RFC 6750 ``b64token`` syntax) is a 401 without calling ``verify``; the 401 carries
    ``WWW-Authenticate: Bearer``. Whatever ``verify`` raises is re-raised with the token
    masked in it (a :class:`CredentialWithheld` stands in when that cannot be done in place).
    """
    return Bearer(verify)


def cookie(name: str, verify: Verify) -> AuthHook:
    """Read the session cookie ``name`` and pass its value to ``verify``.

    A missing or empty cookie is a 401 without calling ``verify``. Whatever ``verify``
    raises is re-raised with the cookie value masked in it, as for :func:`bearer`.
    """
    return Cookie(name, verify)


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
    return ScopeUser(principal_from)


def any_of(*hooks: AuthorizeHook) -> AuthHook:
    """Try ``hooks`` in order; the first that returns a principal wins.

    A hook raising :class:`Forbidden` stops the search (403). The 401 carries the
    ``WWW-Authenticate`` challenge of the first hook that has one; :meth:`AuthHook.aclose`
    closes every hook.
    """
    if not hooks:
        raise ConfigurationError("any_of() needs at least one hook")
    return AnyOf(hooks)


class JWTHook(Bearer):
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
