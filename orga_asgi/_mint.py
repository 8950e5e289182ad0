"""The one admission and mint sequence, shared by the route and ``issue()``.

Admission (:meth:`Minter.admit`): the principal's in-flight slot, then its rate-limit
windows (so a ``too_many_in_flight`` refusal spends no window), then a per-process upstream
slot; all released when the mint is over. Mint (:meth:`Minter.mint`): the key for this
principal from the key provider, the exchange, the ``token issued`` event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._error_table import describe
from ._errors import ApiKeyUnavailable, ConfigurationError, UpstreamAuthFailed
from ._keys.check import KeyUnavailable
from ._log import get_logger
from ._principal import ANONYMOUS, Principal, Secret
from ._ratelimit.admission import Admission
from ._request_id import request_id_var
from .keys import StaticKey, fingerprint, validate_key
from .observe import TokenIssued

if TYPE_CHECKING:
    from ._observers import Observers
    from ._ratelimit import LimitHeaders, RateLimitGate
    from ._upstream import ClientSecrets, Exchange, UpstreamSlots
    from .keys import KeyProvider

__all__ = ["Admitted", "Minter"]

logger = get_logger("orga_asgi.keys")


class Minter:
    """Admits a principal and mints for it; built once per endpoint."""

    __slots__ = ("_checked", "_exchange", "_gate", "_keys", "_observers", "_slots", "_static")

    def __init__(
        self,
        *,
        gate: RateLimitGate,
        slots: UpstreamSlots,
        exchange: Exchange,
        keys: KeyProvider,
        observers: Observers,
    ) -> None:
        self._gate = gate
        self._slots = slots
        self._exchange = exchange
        self._keys = keys
        # A static key was validated at construction; any other provider's keys are
        # validated every time, as a constructor key is.
        self._checked = type(keys) is StaticKey
        # The default provider's one key, taken without a coroutine on every mint.
        self._static = keys.key if type(keys) is StaticKey else None  # not a subclass's
        self._observers = observers

    def key_of(self, principal: Principal, client: str | None) -> str:
        """The key the principal's limits count under: its id, or for the anonymous
        principal (:func:`~orga_asgi.allow_anonymous`) its client address, so anonymous
        callers do not share one quota (``issue()`` has no address: one shared bucket)."""
        if principal is ANONYMOUS:
            return "anon:" + self._gate.client_key(client)
        named = principal.id
        if named.startswith(("anon:", "~")):
            # A user named "anon:203.0.113.50" must not spend that address's quota: such
            # ids move under "~" (one more "~" each, so no two ids meet).
            return "~" + named
        return named

    def admit(self, key: str | None) -> Admitted:
        """Hold the principal's admission (none without a key) and an upstream slot:
        ``async with minter.admit(key) as limit``.

        ``limit`` is the principal's RateLimit headers, or ``None`` when it has no windows.

        Raises:
            TooManyInFlight: the in-flight cap of ``key`` is reached (no window spent).
            RateLimited: a window of ``key`` is exhausted.
            RateLimiterUnavailable: the shared store failed and the policy is ``deny``.
            Busy: no upstream slot within the queue timeout.
        """
        return Admitted(self._gate, self._slots, self._observers, key)

    async def mint(self, principal: Principal | None) -> ClientSecrets:
        """Resolve the key for ``principal``, run the exchange, tell the observers.

        Raises:
            ApiKeyUnavailable: the key provider failed or gave an unusable key.
            UpstreamError: the upstream failed; on 401/403 after asking the provider again
                and retrying once if it gave another key.
        """
        key = self._static or await self._key(principal)
        try:
            secrets = await self._exchange.issue(key)
        except UpstreamAuthFailed as exc:
            secrets = await self._rotated(principal, key, exc)
        observers = self._observers
        if observers.wants_tokens:
            observers.token_issued(
                TokenIssued(
                    request_id_var.get(),
                    principal.id if principal is not None else None,
                    observers.fingerprint(secrets.ephemeral_token),
                    secrets.expires_at,
                )
            )
        return secrets

    async def _rotated(
        self, principal: Principal | None, rejected: Secret, exc: UpstreamAuthFailed
    ) -> ClientSecrets:
        """Orga rejected ``rejected``: ask the provider again (a rotation may be under way)
        and, if it now gives another key, retry the mint once with that one."""
        self._keys.invalidate()
        key = await self._key(principal)
        if key == rejected:
            logger.error("Orga rejected the API key %s (%s): check ORGA_API_KEY or the key "
                         "provider", fingerprint(rejected), exc)  # fmt: skip
            raise exc
        logger.warning("Orga rejected the API key %s (%s); retrying once with the provider's "
                       "new key %s", fingerprint(rejected), exc, fingerprint(key))  # fmt: skip
        try:
            return await self._exchange.issue(key, resent=exc.sent)  # the same request again
        except UpstreamAuthFailed as again:
            self._keys.invalidate()
            logger.error("Orga rejected the API key %s too (%s): check ORGA_API_KEY or the "
                         "key provider", fingerprint(key), again)  # fmt: skip
            raise

    async def _key(self, principal: Principal | None) -> Secret:
        try:
            key = await self._keys.resolve(principal)
            if not self._checked:
                key = validate_key(key, source="the key provider's key")
        except KeyUnavailable as exc:  # our providers' own message: it never shows the key
            logger.error("The API key provider failed: %s", exc)
            raise
        except ConfigurationError as exc:  # our own message: it never shows the key
            logger.error("The API key provider gave an unusable key: %s", exc)
            raise ApiKeyUnavailable("unusable key") from None
        except Exception as exc:
            # Only the type: a provider's exception text may quote anything, a key included.
            logger.error("The API key provider failed (%s)", type(exc).__name__)
            failed = type(exc).__name__
        else:
            return key
        # Outside the handler, so the provider's exception is not this one's __context__.
        raise ApiKeyUnavailable(failed)


class Admitted(Admission):
    """What :meth:`Minter.admit` returns: the principal's :class:`Admission` (none without
    a key), then an upstream slot. A plain object rather than an ``asynccontextmanager``, so
    a refusal (the 429 path) crosses no generator frames; the slot is taken without a
    coroutine when one is free."""

    __slots__ = ("_limited", "_observers", "_slots")

    def __init__(
        self, gate: RateLimitGate, slots: UpstreamSlots, observers: Observers, key: str | None
    ) -> None:
        # Admission's fields, set here: no super().__init__() frame on every mint.
        self._gate = gate
        self._key = key or ""
        self._held = False
        self._limited = key is not None
        self._slots = slots
        self._observers = observers

    async def __aenter__(self) -> LimitHeaders | None:
        if self._observers.wants_issues:
            # Told in this task, around admission and the exchange: a span can be current
            # for the upstream attempts in between.
            self._observers.issue_started()
        limit = None
        try:
            if self._limited:  # a refusal holds nothing
                limit = self.enter_now() if self._gate.local else await super().__aenter__()
            if not self._slots.take():
                await self._slots.wait()
        except BaseException as exc:
            self.leave()  # the slot was refused: give the admission back
            if self._observers.wants_issues:
                self._finished(exc)
            raise
        return limit

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        self._slots.give()
        self.leave()
        if self._observers.wants_issues:
            self._finished(exc)

    def _finished(self, exc: BaseException | None) -> None:
        if exc is None:
            outcome = "issued"
        elif isinstance(exc, Exception):
            outcome = describe(exc).code
        else:
            outcome = "cancelled"
        self._observers.issue_finished(outcome)
