"""``from_file``: the key in a file, re-read when the file changes.

Kubernetes secret volumes and the Vault agent replace a file by swapping a symlink (a new
directory, then an atomic rename of ``..data``), never by writing it in place. So a change
is told by the identity of the file the path resolves to now, ``(st_dev, st_ino,
st_mtime_ns, st_size)``, checked at most every ``refresh`` seconds; the key is read from
the same open file whose identity is recorded, so the two always agree. Disk I/O runs in a
worker thread, never on the event loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from orga_asgi._errors import ConfigurationError
from orga_asgi._log import get_logger

from .check import fingerprint, validate_key
from .flight import Flight

if TYPE_CHECKING:
    from orga_asgi._principal import Principal, Secret

__all__ = ["FileKey"]

logger = get_logger("orga_asgi.keys")

Identity = tuple[int, int, int, int]
_MOST = 4096  # bytes: a key file is one line; anything longer is the wrong file


def _identity(stat: os.stat_result) -> Identity:
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _probe(path: str, known: Identity | None) -> tuple[Identity, str | None]:
    """The identity of the file ``path`` resolves to, and its text unless it is ``known``."""
    if known is not None and _identity(os.stat(path)) == known:
        return known, None
    with open(path, "rb") as file:
        found = _identity(os.fstat(file.fileno()))
        data = file.read(_MOST + 1)
    if len(data) > _MOST:
        raise ConfigurationError(f"The key file {path} holds more than {_MOST} bytes.")
    text = data.decode("utf-8", "replace")
    # One line terminator is how text files end (`echo key > file`); anything else stays
    # for the key check to refuse.
    return found, text.removesuffix("\n").removesuffix("\r")


class FileKey:
    """The key in ``path``, re-read when the file behind it changes.

    Read once at construction (a missing or bad file is a ConfigurationError then). While
    running, a file that cannot be read or holds a bad key leaves the last good key in use,
    with one WARNING until it is good again.
    """

    __slots__ = ("_clock", "_due", "_failing", "_flight", "_forced", "_id", "_key", "_path",
                 "_refresh")  # fmt: skip

    def __init__(
        self, path: str | os.PathLike[str], refresh: float, clock: Callable[[], float]
    ) -> None:
        if isinstance(refresh, bool) or not isinstance(refresh, (int, float)):
            raise ConfigurationError("from_file(refresh=...) must be a number of seconds.")
        if not 0 <= refresh < math.inf:
            raise ConfigurationError("from_file(refresh=...) must be 0 or more seconds.")
        self._path = os.fspath(path)
        self._refresh = float(refresh)
        self._clock = clock
        self._flight = Flight()
        self._forced = False
        self._failing = False
        try:
            self._id, text = _probe(self._path, None)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read the Orga API key file {self._path} ({type(exc).__name__}): "
                "check the path and that the secret is mounted there."
            ) from None
        self._key = validate_key(text, source=f"the key file {self._path}")
        self._due = clock() + self._refresh

    async def resolve(self, principal: Principal | None) -> Secret:
        """The key, checking the file first when ``refresh`` seconds have passed."""
        # A due check under way elsewhere: the key it started from is still current.
        if self._forced or (self._clock() >= self._due and not self._flight.running):
            await self._flight.run(self._check)
            if self._forced:  # that check began before the rejection: read once more
                await self._flight.run(self._check)
        return self._key

    def invalidate(self) -> None:
        """Read the file again at the next :meth:`resolve`, changed or not."""
        self._forced = True

    async def _check(self) -> None:
        forced, self._forced = self._forced, False
        started = self._clock()
        try:
            found, text = await anyio.to_thread.run_sync(
                _probe, self._path, None if forced else self._id
            )
            key = None if text is None else validate_key(text, source=f"the key file {self._path}")
        except (OSError, UnicodeError, ConfigurationError) as exc:
            self._due = started + self._refresh
            if not self._failing:
                self._failing = True
                why = exc if isinstance(exc, ConfigurationError) else type(exc).__name__
                logger.warning(
                    "Cannot use the Orga API key file %s (%s); still using key %s",
                    self._path, why, fingerprint(self._key),
                )  # fmt: skip
            return
        except BaseException:
            self._forced = self._forced or forced  # cancelled: the next caller checks again
            raise
        self._id, self._due = found, started + self._refresh
        if self._failing:
            self._failing = False
            logger.info("The Orga API key file %s is usable again", self._path)
        if key is not None and key != self._key:
            logger.info(
                "The Orga API key file %s changed: key %s replaces %s",
                self._path, fingerprint(key), fingerprint(self._key),
            )  # fmt: skip
            self._key = key

    def __repr__(self) -> str:
        return f"from_file({self._path!r}, refresh={self._refresh!r})"
