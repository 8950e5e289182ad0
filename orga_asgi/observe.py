"""What happened, told to whoever listens: the observer seam, and the default audit line.

The endpoint tells its observers what happened; it never knows which observers are attached:

* :meth:`Observer.on_request`: a request of the route finished (issued or refused), with an
  :class:`AuditEvent`;
* :meth:`Observer.on_upstream_attempt`: one call to Orga finished (``UpstreamAttempt``:
  route, status or error, duration, retry number);
* :meth:`Observer.on_store_state`: the shared rate-limit store went down (``False``) or came
  back (``True``);
* :meth:`Observer.on_token_issued`: a token was minted (:class:`TokenIssued`, also for
  :meth:`~orga_asgi.OrgaClientSecrets.issue`).
* :meth:`Observer.on_issue_start` / :meth:`Observer.on_issue_end`: a mint (admission and
  exchange, on the route or in ``issue()``) began / ended with an outcome;
* :meth:`Observer.on_upstream_queue`: how long a mint waited for an upstream slot;
* :meth:`Observer.on_handles_expired`: sealed session handles expired unredeemed
  (:class:`HandlesExpired`).

Observers are called inline, in the request's task: keep them quick (hand slow work to a
queue). One that raises never breaks a request; its failure is logged once per kind.
The default observer, :class:`AuditLog`, writes each :class:`AuditEvent` as one logfmt line
to the ``orga_asgi.audit`` logger (turn it off with ``audit_log=False``); pass more with
``observers=[...]``. Subclass :class:`Observer` to implement only the methods you need.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

from ._log import get_logger
from ._upstream.attempts import UpstreamAttempt  # what on_upstream_attempt is given

__all__ = [
    "AuditEvent",
    "AuditLog",
    "HandlesExpired",
    "Observer",
    "TokenIssued",
    "UpstreamAttempt",
    "logfmt",
    "parse_logfmt",
    "token_fingerprint",
]


def token_fingerprint(token: str, audit_key: str | bytes) -> str:
    """The ``token_fingerprint`` the audit events give ``token`` under ``audit_key``.

    HMAC-SHA256, first 16 hex characters: it names a token without storing it. Compute it
    for a token seen elsewhere (a support ticket, the vendor's logs) and look it up in the
    audit records to find who minted it. With the default ``audit_principal="hmac"`` the
    records' ``principal`` is ``token_fingerprint(principal_id, audit_key)`` too.

    Args:
        token: the ephemeral token (or a principal id).
        audit_key: the endpoint's ``audit_key`` (``ORGA_AUDIT_KEY``).
    """
    key = audit_key.encode("utf-8") if isinstance(audit_key, str) else audit_key
    digest = hmac.new(key, token.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return digest.hexdigest()[:16]


VALUE_LIMIT = 200
"""Characters of one logfmt value kept; longer values (a caller's path) end in ``...``."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One finished request of the route, issued or refused.

    Attributes:
        request_id: the id sent in ``X-Request-ID`` and every error body.
        method: the HTTP method.
        path: the request path as the server gave it.
        status: the HTTP status answered (499: the client left before the answer).
        outcome: ``issued``, ``preflight``, an error code of the table, or
            ``client_disconnected``.
        principal: the authorized caller's id as HMAC-SHA256 under ``audit_key``, 16 hex
            characters (the id itself with ``audit_principal="plain"``); ``None`` when
            refused before ``authorize`` or by it.
        token_fingerprint: HMAC-SHA256 of the issued token, 16 hex characters, keyed with
            ``audit_key`` (or a random per-process key); ``None`` when nothing was issued.
        expires_at: when the issued token expires, when the upstream said.
        client: the client address as keyed for rate limits (IPv6 on its prefix).
        origin: the ``Origin`` header, when the caller sent one.
        latency_ms: time from the first byte of the request to the answer.
        upstream_attempts: calls made to Orga for this request (retries included).
        conversation_id: the conversation a sealed session's relay request started (its
            ``token_fingerprint`` is the one of the mint that handed out its handle).
    """

    request_id: str
    method: str
    path: str
    status: int
    principal: str | None
    outcome: str
    latency_ms: float
    client: str | None = None
    origin: str | None = None
    upstream_attempts: int = 0
    token_fingerprint: str | None = None
    expires_at: datetime | None = None
    conversation_id: str | None = None

    def fields(self) -> dict[str, str | None]:
        """The event as logfmt-ready text, in field order (``None`` where unknown)."""
        out: dict[str, str | None] = {}
        for name in _AUDIT_FIELDS:
            value = getattr(self, name)
            if value is None or isinstance(value, str):
                out[name] = value
            elif isinstance(value, float):
                out[name] = f"{value:.1f}"
            elif isinstance(value, datetime):
                out[name] = value.isoformat().replace("+00:00", "Z")
            else:
                out[name] = str(value)
        return out


_AUDIT_FIELDS = tuple(spec.name for spec in fields(AuditEvent))


@dataclass(frozen=True, slots=True)
class TokenIssued:
    """A token was minted.

    Attributes:
        request_id: the request it was minted for; ``None`` for ``issue()`` outside one.
        principal: the principal id it was minted for, when there was one.
        token_fingerprint: as in :class:`AuditEvent`; never the token.
        expires_at: when it expires, when the upstream said.
    """

    request_id: str | None
    principal: str | None
    token_fingerprint: str
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class HandlesExpired:
    """Sealed session handles expired without being redeemed: minted, never connected
    (the signature of a scraped or abused token route).

    Attributes:
        count: how many one sweep of the handle store found. With a shared store, each
            handle is counted once, by the process whose sweep found it: add the counts of
            every process.
    """

    count: int


class Observer(Protocol):
    """Told what happened. Every method is optional when you subclass: the defaults do
    nothing, and the endpoint skips methods a subclass does not override."""

    def on_request(self, event: AuditEvent) -> None:
        """A request of the route finished."""
        return

    def on_upstream_attempt(self, attempt: UpstreamAttempt) -> None:
        """One upstream call finished (or failed)."""
        return

    def on_store_state(self, available: bool) -> None:
        """The shared rate-limit store became unavailable (``False``) or available again."""
        return

    def on_token_issued(self, event: TokenIssued) -> None:
        """A token was minted."""
        return

    def on_issue_start(self) -> None:
        """A mint began (admission, upstream slot, exchange), in the request's task; a
        matching :meth:`on_issue_end` follows in the same task, whatever happens."""
        return

    def on_issue_end(self, outcome: str) -> None:
        """The mint ended: ``issued`` or the error code it was refused with."""
        return

    def on_upstream_queue(self, waited: float) -> None:
        """A mint found every upstream slot taken and waited ``waited`` seconds (then got
        one, or was refused ``busy``). Not told when a slot was free."""
        return

    def on_handles_expired(self, event: HandlesExpired) -> None:
        """Sealed session handles expired unredeemed (:class:`HandlesExpired`)."""
        return


class AuditLog(Observer):
    """The default observer: one INFO logfmt line per request on ``orga_asgi.audit``.

    The line is the :class:`AuditEvent` in field order, values quoted where needed (see
    :func:`logfmt`), so it always parses back into the fields it was written from. It is
    built only when the logger is enabled for INFO.
    """

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or get_logger("orga_asgi.audit")

    @property
    def enabled(self) -> bool:
        """Whether a line would be written (the logger is enabled for INFO)."""
        return self._logger.isEnabledFor(logging.INFO)

    def on_request(self, event: AuditEvent) -> None:
        """Write the event's line."""
        if self._logger.isEnabledFor(logging.INFO):
            self._logger.info("%s", logfmt(event.fields().items()))


# Printable ASCII without space, '"', '=' and '\': safe unquoted. One character class, so
# matching is linear in the value's length.
_BARE = re.compile(r"[!#-<>-\[\]-~]+")
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^ ]*)(?: |$)')


def _quote(value: str | None) -> str:
    if value is None:
        return "-"
    if len(value) > VALUE_LIMIT:
        value = value[:VALUE_LIMIT] + "..."
    if value != "-" and _BARE.fullmatch(value):
        return value
    # JSON string syntax, ASCII only: control characters, quotes and non-ASCII are escaped,
    # so a value can neither end the line nor start a forged field.
    return json.dumps(value, ensure_ascii=True)


def logfmt(pairs: Iterable[tuple[str, str | None]]) -> str:
    """Render ``key=value`` pairs as one logfmt line.

    Values made only of printable ASCII without space, ``"``, ``=`` and ``\\`` stay bare;
    any other value is a JSON string (``"..."``, ASCII, escapes included). ``None`` is a bare
    ``-`` (a value that is ``-`` itself is quoted). Values are cut at :data:`VALUE_LIMIT`
    characters plus ``...``. Keys must be identifiers (they are ours, never a caller's).
    """
    return " ".join(f"{key}={_quote(value)}" for key, value in pairs)


def parse_logfmt(line: str) -> dict[str, str | None]:
    """Parse a line written by :func:`logfmt` back into its fields (bare ``-``: ``None``).

    Raises:
        ValueError: the line is not one :func:`logfmt` writes.
    """
    out: dict[str, str | None] = {}
    pos = 0
    while pos < len(line):
        match = _PAIR.match(line, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"not a logfmt pair at offset {pos}")
        key, raw = match.group(1), match.group(2)
        if raw.startswith('"'):
            out[key] = json.loads(raw)
        else:
            out[key] = None if raw == "-" else raw
        pos = match.end()
    return out
