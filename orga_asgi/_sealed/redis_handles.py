"""Handles in Redis or Valkey, so any process can redeem a handle minted by another.

Each record lives under ``{<prefix>:h}:<handle id>`` with the token's ttl (``SET PX``),
encrypted (AES-GCM) with a key derived from the handle, which is never stored: a dump of
the database holds neither a usable handle nor a usable token, nor a pinned prompt. A redeem
is one Lua script that reads and deletes the record (one use, whatever races across
processes).

Expired-unredeemed counting, without keyspace notifications (often disabled, and lossy):
``{<prefix>:h}:live`` is a sorted set of handle ids scored by expiry. A mint adds its id, a
redeem removes its id, and both scripts sweep up to :data:`SWEEP` ids whose expiry passed:
each of those expired unredeemed, and is counted once, by the process whose script removed
it. The two keys share a cluster hash tag, so handles live on one shard of a cluster (they
are few: every one is a rate-limited mint). One round trip per mint and per redeem.

The client is the rate limiter's: the same URI parsing and redis-py connection settings
(:mod:`orga_asgi._ratelimit`), handed in as ``connect``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

from orga_asgi._errors import ConfigurationError, SessionStoreUnavailable
from orga_asgi._log import get_logger
from orga_asgi._principal import Secret

from .handles import Sealed, handle_id, handle_key
from .policy import decode, encode

__all__ = ["SWEEP", "RedisHandles"]

logger = get_logger("orga_asgi.sealed")

SWEEP = 100
"""Expired ids one script removes at most; the rest wait for the next mint or redeem."""
_NONCE = 12
_VERSION = 1


@cache
def _script(name: str) -> bytes:
    return files(__package__).joinpath(f"lua/{name}.lua").read_bytes()


def _aead(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


class RedisHandles:
    """A :class:`~orga_asgi._sealed.handles.HandleStore` in the shared store.

    Args:
        connect: returns the redis-py asyncio client of the storage URI (the rate
            limiter's), created lazily on the running loop.
        describe: masks the storage URI's secrets in a text (``StorageTarget.scrub``).
        key_prefix: prefix of the two keys (the rate limiter's ``key_prefix``).
        on_expired: told how many handles expired unredeemed, at each sweep that found some.

    Raises:
        ConfigurationError: the ``cryptography`` package (the ``redis`` extra) is missing.
    """

    __slots__ = ("_connect", "_describe", "_down", "_live", "_on_expired", "_prefix", "_scripts")

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        describe: Callable[[str], str],
        key_prefix: str = "orga_asgi",
        on_expired: Callable[[int], None] | None = None,
    ) -> None:
        try:
            import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "sealed sessions in a shared store encrypt each record with the "
                "cryptography package; install it with pip install 'orga-asgi[redis]'"
            ) from None
        self._connect = connect
        self._describe = describe
        self._prefix = f"{{{key_prefix}:h}}:"
        self._live = self._prefix + "live"
        self._on_expired = on_expired
        self._scripts: tuple[Any, Any, Any] | None = None
        self._down = False

    def __repr__(self) -> str:
        return "RedisHandles()"

    def _bound(self) -> tuple[Any, Any]:
        client = self._connect()
        scripts = self._scripts
        if scripts is None or scripts[0] is not client:
            # Registered on each new client (a new loop): redis-py's Script objects are
            # bound to the client that made them.
            scripts = (client, client.register_script(_script("keep")),
                       client.register_script(_script("take")))  # fmt: skip
            self._scripts = scripts
        return scripts[1], scripts[2]

    async def put(self, handle: str, sealed: Sealed, ttl: float) -> None:
        """Keep ``sealed`` for ``ttl`` seconds, encrypted under ``handle``.

        Raises:
            SessionStoreUnavailable: the store did not answer.
        """
        ident = handle_id(handle)
        blob = _seal(handle, ident, sealed)
        try:
            keep, _ = self._bound()
            swept = await keep(
                keys=[self._prefix + ident, self._live],
                args=[blob, max(1, int(ttl * 1000)), ident, SWEEP],
            )
        except Exception as exc:
            raise self._failed(exc) from None
        self._up()
        self._count(int(swept))

    async def take(self, handle: str) -> Sealed | None:
        """Remove and return the record of ``handle`` (atomically), else ``None``.

        Raises:
            SessionStoreUnavailable: the store did not answer.
        """
        ident = handle_id(handle)
        try:
            _, take = self._bound()
            blob, swept = await take(keys=[self._prefix + ident, self._live], args=[ident, SWEEP])
        except Exception as exc:
            raise self._failed(exc) from None
        self._up()
        self._count(int(swept))
        if blob is None:
            return None
        try:
            return _open(handle, ident, blob)
        except Exception as exc:  # not ours, or tampered with: as good as unknown
            logger.error("a session record in the shared store could not be read (%s)",
                         type(exc).__name__)  # fmt: skip
            return None

    def _count(self, swept: int) -> None:
        if swept and self._on_expired is not None:
            self._on_expired(swept)

    def _failed(self, exc: Exception) -> SessionStoreUnavailable:
        if not self._down:
            self._down = True
            logger.warning("The shared session store failed (%s); sealed sessions are "
                           "refused with 503 until it answers",
                           self._describe(f"{type(exc).__name__}: {exc}"))  # fmt: skip
        return SessionStoreUnavailable(type(exc).__name__)

    def _up(self) -> None:
        if self._down:
            self._down = False
            logger.info("The shared session store answers again")

    async def aclose(self) -> None:
        """Nothing of its own to close: the client is the rate limiter's, closed by it."""
        self._scripts = None


def _seal(handle: str, ident: str, sealed: Sealed) -> bytes:
    record = {
        "v": _VERSION,
        "t": sealed.token.reveal(),
        "p": sealed.principal,
        "f": sealed.fingerprint,
        "e": sealed.expires_at.isoformat() if sealed.expires_at is not None else None,
        "s": encode(sealed.policy) if sealed.policy is not None else None,
    }
    data = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    nonce = os.urandom(_NONCE)
    # The id as associated data: a record copied under another key does not open.
    return nonce + bytes(_aead(handle_key(handle)).encrypt(nonce, data, ident.encode("ascii")))


def _open(handle: str, ident: str, blob: bytes) -> Sealed:
    data = _aead(handle_key(handle)).decrypt(blob[:_NONCE], blob[_NONCE:], ident.encode("ascii"))
    record = json.loads(data)
    if record.get("v") != _VERSION:
        raise ValueError("unknown record version")
    expires = record["e"]
    return Sealed(
        token=Secret(record["t"]),
        principal=record["p"],
        fingerprint=record["f"],
        expires_at=datetime.fromisoformat(expires) if expires is not None else None,
        policy=decode(record["s"]) if record["s"] is not None else None,
    )
