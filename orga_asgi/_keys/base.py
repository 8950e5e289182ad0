"""The seam itself: :class:`KeyProvider`, the default :class:`StaticKey`, and
:func:`as_provider`, which turns whatever ``api_key=`` was given into a provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from orga_asgi._principal import Secret

from .check import validate_key
from .picked import PickedKey

if TYPE_CHECKING:
    from orga_asgi._principal import Principal

__all__ = ["KeyProvider", "StaticKey", "as_provider"]


@runtime_checkable
class KeyProvider(Protocol):
    """Resolves the Orga API key to use for one mint.

    The endpoint calls :meth:`resolve` for every mint and checks what it returns as a
    constructor key is checked. When Orga rejects the key (401/403) it calls
    :meth:`invalidate`, then :meth:`resolve` again, and retries once if the key changed.
    A provider that holds resources may also define ``async aclose()``: the endpoint's
    ``aclose()`` awaits it.
    """

    async def resolve(self, principal: Principal | None) -> Secret:
        """Return the key for ``principal`` (``None``: a mint without a principal).

        Raise anything to refuse the mint with 503 ``api_key_unavailable``; only the
        exception's type is logged.
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


def as_provider(value: object, *, source: str = "api_key") -> KeyProvider:
    """``api_key=`` as a provider: a provider as it is, a callable wrapped to pick a key
    per principal, a ``str`` or ``Secret`` checked and made a :class:`StaticKey`.

    Raises:
        ConfigurationError: a key that does not look like one, or a value of another type.
    """
    if isinstance(value, KeyProvider):
        return value
    if callable(value) and not isinstance(value, (str, Secret)):
        return PickedKey(value)
    return StaticKey(validate_key(value, source=source))
