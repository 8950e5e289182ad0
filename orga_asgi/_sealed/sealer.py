"""The endpoint's sealed side: resolve the policy, keep the token, hand out and redeem handles.

Built once per endpoint when ``sealed`` is on; both the token route (and ``issue()``) and
the relay go through it, so a handle means the same thing on every path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from orga_asgi._errors import InvalidSessionHandle
from orga_asgi._principal import Secret

from .handles import HANDLE_PATTERN, MemoryHandles, Sealed, new_handle
from .policy import SessionPolicy, resolver

if TYPE_CHECKING:
    from orga_asgi._principal import Principal
    from orga_asgi._ratelimit.redis_store import SharedStore
    from orga_asgi._upstream import ClientSecrets

    from .handles import HandleStore

__all__ = ["DEFAULT_HANDLE_TTL", "Sealer", "bearer_handle", "make_sealer"]

DEFAULT_HANDLE_TTL = 120
"""Seconds a handle lives when the upstream gave its token no ttl (the vendor's usual)."""


def bearer_handle(authorization: bytes | None) -> str:
    """The handle in ``Authorization: Bearer <handle>``, checked for shape only (no I/O).

    Raises:
        InvalidSessionHandle: no such header, another scheme, or not a handle's shape (an
            Orga token, a cookie value): refused before any store is asked.
    """
    if authorization is None:
        raise InvalidSessionHandle("no Authorization header")
    scheme, _, value = authorization.partition(b" ")
    if scheme.lower() != b"bearer":
        raise InvalidSessionHandle("not a Bearer credential")
    handle = value.strip(b" ").decode("latin-1")
    if HANDLE_PATTERN.fullmatch(handle) is None:
        raise InvalidSessionHandle("not a session handle")
    return handle


class Sealer:
    """Policy resolution, handle minting and redemption for one endpoint.

    Args:
        store: where records wait (memory, or the shared store).
        policy: the fixed policy, or the fallback of a callable one (never used then).
        resolve: for a callable ``session_policy``, the coroutine running it; else ``None``.
    """

    __slots__ = ("_resolve", "policy", "store")

    def __init__(
        self,
        *,
        store: HandleStore,
        policy: SessionPolicy,
        resolve: Callable[[Principal], Awaitable[SessionPolicy]] | None,
    ) -> None:
        self.store = store
        self.policy = policy
        self._resolve = resolve

    async def policy_for(self, principal: Principal | None) -> SessionPolicy | None:
        """The policy a callable ``session_policy`` gives ``principal`` (before the mint, so a
        refusal spends no token); ``None`` for a fixed policy.

        Raises:
            InternalError: the callable raised or broke its contract (logged).
            RequestError: what the callable raised on purpose (``Forbidden``).
        """
        if self._resolve is None:
            return None
        if principal is None:
            from orga_asgi._principal import ANONYMOUS

            principal = ANONYMOUS  # issue() without a principal: the anonymous one's policy
        return await self._resolve(principal)

    async def seal(
        self,
        secrets: ClientSecrets,
        *,
        principal: Principal | None,
        fingerprint: str,
        policy: SessionPolicy | None,
    ) -> ClientSecrets:
        """Keep the token for its ttl; return the same answer with a handle in its place.

        Raises:
            SessionStoreUnavailable: the shared store did not answer (nothing is handed out).
        """
        handle = new_handle()
        sealed = Sealed(
            token=Secret(secrets.ephemeral_token),
            principal=principal.id if principal is not None else None,
            fingerprint=fingerprint,
            expires_at=secrets.expires_at,
            policy=policy,
        )
        await self.store.put(handle, sealed, secrets.ttl or DEFAULT_HANDLE_TTL)
        return replace(secrets, ephemeral_token=handle)

    async def redeem(self, handle: str) -> Sealed:
        """Take the record of ``handle``: once.

        Raises:
            InvalidSessionHandle: unknown, used or expired.
            SessionStoreUnavailable: the shared store did not answer.
        """
        sealed = await self.store.take(handle)
        if sealed is None:
            raise InvalidSessionHandle("unknown, used or expired handle")
        return sealed

    def policy_of(self, sealed: Sealed) -> SessionPolicy:
        """The policy a redeemed record is started under."""
        return sealed.policy if sealed.policy is not None else self.policy


def make_sealer(
    source: object,
    *,
    shared: SharedStore | None,
    key_prefix: str,
    on_expired: Callable[[int], None],
) -> Sealer:
    """The endpoint's sealer: records in the rate limiter's shared store when it has one
    (one client per URI), else in memory; ``source`` is ``session_policy`` (or ``None``)."""
    store: HandleStore
    if shared is not None:
        from .redis_handles import RedisHandles

        store = RedisHandles(
            shared.client, describe=shared.scrub, key_prefix=key_prefix, on_expired=on_expired
        )
    else:
        store = MemoryHandles(on_expired)
    fixed = source if isinstance(source, SessionPolicy) else SessionPolicy()
    return Sealer(store=store, policy=fixed, resolve=resolver(source) if source else None)
