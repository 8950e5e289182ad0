"""``from_env``: the key in the first environment variable that is set."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from orga_asgi._errors import ConfigurationError

from .check import validate_key

if TYPE_CHECKING:
    from orga_asgi._principal import Principal, Secret

__all__ = ["DEFAULT_NAMES", "EnvKey", "first_set"]

# ORGAAI_API_KEY: the spelling of the vendor's own examples.
DEFAULT_NAMES = ("ORGA_API_KEY", "ORGAAI_API_KEY")


def first_set(
    environ: Mapping[str, str], names: tuple[str, ...] = DEFAULT_NAMES
) -> tuple[str, str] | None:
    """The first of ``names`` holding more than white space, and its value; else ``None``.

    The endpoint's default key (no ``api_key``) and the sandbox's check for a real key
    next to it both read the variables this way, in :data:`DEFAULT_NAMES`' order.
    """
    for name in names:
        value = environ.get(name, "")
        if value.strip():
            return name, value
    return None


class EnvKey:
    """The key of the first variable of ``names`` that is set (and not empty).

    Read once, at construction; :meth:`invalidate` reads the variables again, so a key
    changed in ``os.environ`` by the process itself is picked up after a rejection.
    """

    __slots__ = ("_environ", "_key", "_name", "_names", "_stale")

    def __init__(self, names: tuple[str, ...], environ: Mapping[str, str] = os.environ) -> None:
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ConfigurationError("from_env() takes the names of environment variables.")
        self._names = names
        self._environ = environ
        self._name, self._key = self._read()
        self._stale = False

    def _read(self) -> tuple[str, Secret]:
        # An empty or blank variable (`ORGA_API_KEY=` in a .env file) is not set: the same
        # rule as the endpoint's default key.
        found = first_set(self._environ, self._names)
        if found is not None:
            return found[0], validate_key(found[1], source=found[0])
        raise ConfigurationError(
            f"No Orga API key: set {' or '.join(self._names)} (from the Orga dashboard, API Keys)."
        )

    async def resolve(self, principal: Principal | None) -> Secret:
        """The key, the same for every principal."""
        if self._stale:
            self._stale = False
            # A variable that went bad: the key it held is still the best one.
            with contextlib.suppress(ConfigurationError):
                self._name, self._key = self._read()
        return self._key

    def invalidate(self) -> None:
        """Read the variables again at the next :meth:`resolve`."""
        self._stale = True

    def __repr__(self) -> str:
        return f"from_env({', '.join(map(repr, self._names))}) reading {self._name}"
