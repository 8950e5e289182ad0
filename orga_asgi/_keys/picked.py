"""``per_principal``: a callable of yours picks the key for each principal (each tenant)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Union

from orga_asgi._errors import ConfigurationError

from .check import validate_key

if TYPE_CHECKING:
    from orga_asgi._principal import Principal, Secret

__all__ = ["KeyPicker", "PickedKey"]

KeyPicker = Callable[
    [Union["Principal", None]],
    Union[str, "Secret", Awaitable[Union[str, "Secret"]]],
]
"""A callable taking the principal being served (``None`` for ``issue()`` without one),
sync or async, returning its key as a ``str`` or :class:`~orga_asgi.Secret`. Raise (or
return ``None``) to refuse with 503 ``api_key_unavailable``."""


class PickedKey:
    """Asks ``pick`` for every mint; it holds no key, so there is nothing to forget."""

    __slots__ = ("_pick",)

    def __init__(self, pick: KeyPicker) -> None:
        if not callable(pick):
            raise ConfigurationError(
                "per_principal() takes a callable: principal -> key (str or Secret)."
            )
        self._pick = pick

    async def resolve(self, principal: Principal | None) -> Secret:
        """The key ``pick`` gives for ``principal``, checked as any key is.

        Raises:
            ConfigurationError: ``pick`` returned something that is not a key.
        """
        value = self._pick(principal)
        if inspect.isawaitable(value):
            value = await value
        return validate_key(value, source="the key the api_key callable picked")

    def invalidate(self) -> None:
        """Nothing to forget: ``pick`` is asked again for the next mint."""

    def __repr__(self) -> str:
        name = getattr(self._pick, "__qualname__", type(self._pick).__qualname__)
        return f"per_principal({name})"
