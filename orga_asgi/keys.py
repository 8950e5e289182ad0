"""Where the Orga API key comes from: the key-provider seam.

The endpoint asks its provider for the key of every mint, passing the principal the route
authorized (or the one given to :meth:`~orga_asgi.OrgaClientSecrets.issue`), so a provider
may rotate keys or pick one per tenant. ``api_key=`` accepts a string or a
:class:`~orga_asgi.Secret` (wrapped in :class:`StaticKey`, the default) or any
:class:`KeyProvider`.

A provider that raises, or returns something that is not a valid key, makes that request
fail with 503 ``api_key_unavailable`` and one ERROR log line that never shows the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._errors import ConfigurationError
from ._principal import Secret

if TYPE_CHECKING:
    from ._principal import Principal

__all__ = ["API_KEY_PREFIX", "KeyProvider", "StaticKey", "validate_key"]

API_KEY_PREFIX = "sk_orga_ai_"


@runtime_checkable
class KeyProvider(Protocol):
    """Resolves the Orga API key to use for one mint."""

    async def resolve(self, principal: Principal | None) -> Secret:
        """Return the key for ``principal`` (``None``: a mint without a principal).

        Raise anything to refuse the mint with 503 ``api_key_unavailable``.
        """
        ...

    def invalidate(self) -> None:
        """Forget any cached key: the upstream rejected it (a rotation may be under way)."""
        ...


class StaticKey:
    """The default provider: one key for every principal, for the life of the process.

    Args:
        key: the API key (``sk_orga_ai_...``), checked like any key (:func:`validate_key`).

    Raises:
        ConfigurationError: the key is not shaped like an Orga API key.
    """

    __slots__ = ("_key",)

    def __init__(self, key: str | Secret) -> None:
        self._key = validate_key(key)

    async def resolve(self, principal: Principal | None) -> Secret:
        """Return the key; the same for every principal."""
        return self._key

    def invalidate(self) -> None:
        """Nothing to forget: a static key cannot change without a restart."""

    @property
    def key(self) -> Secret:
        """The key, still wrapped."""
        return self._key

    def __repr__(self) -> str:
        return "StaticKey(Secret('**********'))"


def validate_key(key: object, *, source: str = "ORGA_API_KEY") -> Secret:
    """Check that ``key`` looks like an Orga API key and return it wrapped.

    Args:
        key: a ``str`` or a :class:`~orga_asgi.Secret`.
        source: where the key came from, named in the messages (never the key itself).

    Raises:
        ConfigurationError: the key is missing, blank, padded with white space, lacks the
            ``sk_orga_ai_`` prefix or contains white space; the message never echoes it.
    """
    value = key.reveal() if isinstance(key, Secret) else key
    if not isinstance(value, str):
        raise ConfigurationError(
            f"The Orga API key must be a string, a Secret or a key provider, not "
            f"{type(value).__name__}."
        )
    if not value.strip():
        raise ConfigurationError(
            f"No Orga API key: set {source} (from the Orga dashboard, API Keys) or pass "
            "api_key=... to OrgaClientSecrets."
        )
    if value != value.strip():
        raise ConfigurationError(
            f"The Orga API key has leading or trailing white space (a stray space or newline "
            f"from copying it): strip it in {source}."
        )
    if not value.startswith(API_KEY_PREFIX) or len(value) == len(API_KEY_PREFIX):
        raise ConfigurationError(
            f"The Orga API key does not look like one: keys start with {API_KEY_PREFIX!r}. "
            f"Copy it again from the Orga dashboard (API Keys) into {source}."
        )
    if any(c.isspace() for c in value):
        raise ConfigurationError(
            f"The Orga API key contains white space; check {source} for a stray character."
        )
    return key if isinstance(key, Secret) else Secret(value)
