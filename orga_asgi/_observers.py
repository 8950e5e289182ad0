"""Fan the endpoint's events out to its observers, isolating their failures.

Built once at construction: for each event, the tuple of observer methods that handle it
(methods a subclass of :class:`~orga_asgi.observe.Observer` leaves at the default are
skipped), so an event nobody handles costs a tuple check.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from ._audit_hook import AuditHook
from ._errors import ConfigurationError
from ._log import get_logger
from .observe import AuditEvent, AuditLog, HandlesExpired, Observer, TokenIssued, token_fingerprint

if TYPE_CHECKING:
    from ._principal import Principal
    from ._types import Scope
    from ._upstream import ClientSecrets, UpstreamAttempt

__all__ = ["EVENTS", "Observers", "check_observers", "counting_attempts"]

EVENTS = (
    "on_request",
    "on_upstream_attempt",
    "on_store_state",
    "on_token_issued",
    "on_handles_expired",
    "on_issue_start",
    "on_issue_end",
    "on_upstream_queue",
)
logger = get_logger("orga_asgi.observe")


class _Counts(Protocol):
    upstream_attempts: int


class _Finished(_Counts, Protocol):
    """What a finished request tells (the per-request object of ``_request``)."""

    request_id: str
    scope: Scope
    found: dict[bytes, bytes]
    status: int
    outcome: str
    principal: Principal | None
    client: str | None
    started: float
    secrets: ClientSecrets | None
    token_fingerprint: str | None
    conversation_id: str | None


# The request being minted in this context, so an upstream attempt (reported by the exchange,
# which knows no request) is counted on it. Set only around the mint, off the refusal path.
counting_attempts: ContextVar[_Counts | None] = ContextVar(
    "orga_asgi_upstream_attempts", default=None
)


def _handler(observer: object, name: str) -> Callable[[Any], None] | None:
    method = getattr(observer, name, None)
    if method is None or getattr(type(observer), name, None) is getattr(Observer, name):
        return None
    return method  # type: ignore[no-any-return]


def check_observers(observers: object) -> tuple[object, ...]:
    """Validate ``observers=`` at construction: a sequence of objects with sync methods.

    Raises:
        ConfigurationError: not a sequence, an entry handles no event, or a handler is
            ``async`` (observers are called inline; hand slow work to a queue).
    """
    if isinstance(observers, (str, bytes)) or not isinstance(observers, Sequence):
        raise ConfigurationError("observers must be a list of observers (see orga_asgi.observe).")
    for observer in observers:
        handlers = [h for h in (_handler(observer, name) for name in EVENTS) if h is not None]
        if not handlers or not all(callable(h) for h in handlers):
            raise ConfigurationError(
                f"{type(observer).__name__} is not an observer: give it one of "
                f"{', '.join(EVENTS)} (subclass orga_asgi.observe.Observer)."
            )
        if any(inspect.iscoroutinefunction(h) for h in handlers):
            raise ConfigurationError(
                f"{type(observer).__name__} has an async handler: observers are called inline, "
                "in the request's task; make it a plain method that hands the work to a queue."
            )
    return tuple(observers)


def _same(client: str | None) -> str | None:
    return client


_NO_ARG = object()  # the handler takes no argument (on_issue_start)
_PROCESS_KEY: list[bytes] = []


def _process_key() -> bytes:
    """One random key per process, for endpoints without ``audit_key`` (said once)."""
    if not _PROCESS_KEY:
        _PROCESS_KEY.append(os.urandom(32))
        logger.info(
            "audit_key is not set: token fingerprints and principal hashes use a random key "
            "of this process and will not match those of other processes or restarts; set "
            "ORGA_AUDIT_KEY (the same in every process) to match them"
        )
    return _PROCESS_KEY[0]


class Observers:
    """The endpoint's observers: the audit line (unless turned off) and ``observers=``."""

    __slots__ = (
        "_attempts",
        "_audit",
        "_closers",
        "_expired",
        "_failed",
        "_issue_end",
        "_issue_start",
        "_issued",
        "_key",
        "_others",
        "_outcomes",
        "_plain",
        "_queue",
        "_requests",
        "_store",
        "client_key",
        "wants_issues",
        "wants_tokens",
    )  # fmt: skip

    def __init__(
        self,
        observers: Sequence[object],
        *,
        audit_log: bool,
        audit_key: str | None,
        on_audit: Callable[[AuditEvent], object] | None = None,
        audit_principal: str = "hmac",
    ) -> None:
        audit = AuditLog() if audit_log else None
        observers = [*observers, AuditHook(on_audit)] if on_audit is not None else observers
        every: list[object] = [audit, *observers] if audit is not None else list(observers)

        def handlers(name: str) -> tuple[Callable[[Any], None], ...]:
            return tuple(h for h in (_handler(o, name) for o in every) if h is not None)

        self._audit = audit
        # The client address as keyed for limits; the endpoint sets the gate's.
        self.client_key: Callable[[str | None], str | None] = _same
        self._requests = handlers("on_request")
        # Kit-internal: an observer that needs only a request's outcome (the OpenTelemetry
        # refusal counter) is told just that, and no AuditEvent, with its two fingerprints,
        # is built for it.
        self._outcomes = tuple(
            h for h in (getattr(o, "_on_request_outcome", None) for o in every) if h is not None
        )
        self._others = len(self._requests) > (1 if audit is not None else 0)
        self._attempts = handlers("on_upstream_attempt")
        self._store = handlers("on_store_state")
        self._issued = handlers("on_token_issued")
        self._expired = handlers("on_handles_expired")
        self._issue_start = handlers("on_issue_start")
        self._issue_end = handlers("on_issue_end")
        self._queue = handlers("on_upstream_queue")
        self.wants_issues = bool(self._issue_start or self._issue_end)
        """Whether anyone listens for mints starting and ending (read twice per mint)."""
        self.wants_tokens = bool(self._issued)
        """Whether anyone listens for issued tokens (read on every mint)."""
        self._closers = tuple(c for c in (getattr(o, "aclose", None) for o in every) if c)
        self._plain = audit_principal == "plain"
        # Fingerprints let an operator match a token seen elsewhere without storing tokens;
        # a per-process key unless configured, so they cannot be precomputed from tokens.
        self._key = audit_key.encode("utf-8") if audit_key else _process_key()
        self._failed: set[tuple[str, str, str]] = set()

    @property
    def wants_queue(self) -> bool:
        """Whether anyone listens for upstream slot waits."""
        return bool(self._queue)

    def fingerprint(self, token: str) -> str:
        """HMAC-SHA256 of ``token`` under the audit key, first 16 hex characters."""
        return token_fingerprint(token, self._key)

    def request_finished(self, call: _Finished) -> None:
        """Tell the ``on_request`` handlers, if anyone listens, with an :class:`AuditEvent`."""
        for outcome_handler in self._outcomes:
            self._call(outcome_handler, call.outcome, "on_request")
        if not self._others and (self._audit is None or not self._audit.enabled):
            return  # nobody listens: no event is built
        secrets, origin = call.secrets, call.found.get(b"origin")
        event = AuditEvent(
            request_id=call.request_id,
            method=str(call.scope["method"]),
            path=str(call.scope["path"]),
            status=call.status,
            principal=self._principal(call.principal),
            outcome=call.outcome,
            latency_ms=(time.perf_counter() - call.started) * 1000,
            client=self.client_key(call.client),
            origin=origin.decode("latin-1") if origin is not None else None,
            upstream_attempts=call.upstream_attempts,
            # Sealed: the real token's (the secrets hold the handle; the relay has none).
            token_fingerprint=call.token_fingerprint
            or (self.fingerprint(secrets.ephemeral_token) if secrets else None),
            expires_at=secrets.expires_at if secrets is not None else None,
            conversation_id=call.conversation_id,
        )
        for handler in self._requests:
            self._call(handler, event, "on_request")

    @property
    def wants_attempts(self) -> bool:
        """Whether anyone listens for upstream attempts (else they are only counted)."""
        return bool(self._attempts)

    def count_attempt(self, *_attempt: object) -> None:
        """Count one upstream attempt on the request being minted (the audit event's); the
        exchange's report when nobody listens for attempts (its arguments are ignored)."""
        counts = counting_attempts.get()
        if counts is not None:
            counts.upstream_attempts += 1

    def upstream_attempt(self, attempt: UpstreamAttempt) -> None:
        """The exchange's ``on_attempt``: count it on the request being minted, tell all."""
        counts = counting_attempts.get()
        if counts is not None:
            counts.upstream_attempts += 1
        for handler in self._attempts:
            self._call(handler, attempt, "on_upstream_attempt")

    def store_state(self, available: bool) -> None:
        """The gate's ``on_store_state``."""
        for handler in self._store:
            self._call(handler, available, "on_store_state")

    def handles_expired(self, count: int) -> None:
        """A handle store swept ``count`` handles that expired unredeemed."""
        if self._expired:
            event = HandlesExpired(count)
            for handler in self._expired:
                self._call(handler, event, "on_handles_expired")

    def token_issued(self, event: TokenIssued) -> None:
        for handler in self._issued:
            self._call(handler, event, "on_token_issued")

    def issue_started(self) -> None:
        """A mint began (the minter's admission)."""
        for handler in self._issue_start:
            self._call(handler, _NO_ARG, "on_issue_start")

    def issue_finished(self, outcome: str) -> None:
        """The mint begun last in this task ended with ``outcome``."""
        for handler in self._issue_end:
            self._call(handler, outcome, "on_issue_end")

    def upstream_queued(self, waited: float) -> None:
        """The upstream slots' ``on_wait``."""
        for handler in self._queue:
            self._call(handler, waited, "on_upstream_queue")

    def _principal(self, principal: Principal | None) -> str | None:
        if principal is None:
            return None
        return principal.id if self._plain else self.fingerprint(principal.id)

    async def aclose(self) -> None:
        """Close the observers that have an ``aclose()`` (``on_audit``'s queue drains)."""
        for close in self._closers:
            try:
                await close()
            except Exception as exc:
                logger.warning("closing observer failed (%s)", type(exc).__name__)

    def _call(self, handler: Callable[..., None], arg: object, event: str) -> None:
        try:
            handler() if arg is _NO_ARG else handler(arg)
        except Exception as exc:
            owner = type(getattr(handler, "__self__", handler)).__qualname__
            kind = (event, owner, type(exc).__qualname__)
            if kind not in self._failed:  # once per kind: a broken observer must not flood
                self._failed.add(kind)
                logger.exception(
                    "observer %s failed in %s (%s); further such failures are not logged",
                    owner,
                    event,
                    type(exc).__name__,
                )
