"""The two upstream calls, in order, with retries, one deadline and a report per attempt.

``POST /v1/realtime/client-secrets`` with the API key mints a token; ``GET
/v1/realtime/ice-config`` with that token returns the ICE servers whose TURN credentials
belong to it, so the calls are sequential and nothing is shared between tokens.
:meth:`Exchange.issue` raises only :class:`~orga_asgi.OrgaError` subclasses, whatever the
upstream or a supplied transport does.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import anyio

from orga_asgi._errors import (
    OrgaError,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamInvalidResponse,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from orga_asgi._log import get_logger
from orga_asgi._principal import Secret

from .attempts import AttemptHook, Reporter, Route, where
from .base import InvalidBody, Transport, TransportFailure, TransportTimeout, UpstreamReply
from .replies import ClientSecrets, check_content_type, parse_ice_servers, parse_token
from .sessions import parse_call_answer

__all__ = ["Exchange"]

logger = get_logger("orga_asgi.exchange")

_T = TypeVar("_T")
_RETRY_STATUSES = frozenset({502, 503, 504})
_BACKOFF_BASE = 0.1  # seconds; doubled per attempt, with full jitter


def _retry_after(value: str | None) -> int | None:
    """Whole seconds from a ``Retry-After`` header (seconds or HTTP date), clamped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        # A huge number is "a long time": never an int() of thousands of digits.
        seconds = int(value) if len(value) <= 9 else 3600
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = int((when - datetime.now(timezone.utc)).total_seconds() + 0.999)
    return min(max(seconds, 1), 3600)


class Exchange:
    """Runs the two calls against ``base_url`` through ``transport``.

    Args:
        transport: the HTTP seam (:class:`~orga_asgi._upstream.base.Transport`).
        base_url: the upstream's base URL, without a trailing slash.
        timeout: seconds for one attempt.
        deadline: seconds for the whole exchange, retries and both calls included.
        retries: how many times a call is retried after a 502/503/504 or a safe failure.
        on_attempt: told about every HTTP attempt; what it raises is logged once (DEBUG)
            and otherwise ignored.
        on_count: without ``on_attempt``, called once per attempt in its place (with the
            attempt's parts as arguments, to ignore), with nothing built.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        base_url: str,
        timeout: float,
        deadline: float,
        retries: int,
        on_attempt: AttemptHook | None = None,
        on_count: Callable[..., None] | None = None,
    ) -> None:
        self._transport = transport
        self._mint = Route("client-secrets", "POST", f"{base_url}/v1/realtime/client-secrets")
        self._ice = Route("ice-config", "GET", f"{base_url}/v1/realtime/ice-config")
        self._calls = Route("calls", "POST", f"{base_url}/v1/realtime/calls")
        self._timeout = timeout
        self._deadline = deadline
        self._retries = retries
        # Without a hook, the count is told directly (one call per attempt, nothing built,
        # no clock read for a duration nobody hears).
        self._report: Callable[..., None] = (
            on_count if on_attempt is None and on_count is not None
            else Reporter(on_attempt).report
        )  # fmt: skip
        self._timed = on_attempt is not None

    async def issue(self, api_key: Secret, *, resent: int = 0) -> ClientSecrets:
        """Mint a token with ``api_key`` and fetch its ICE servers; ``resent``: times this
        mint's client-secrets request was sent already (a retry with a rotated key).

        Raises:
            UpstreamError: the upstream failed (see the error table); nothing else.
        """
        try:
            give_up_at = time.monotonic() + self._deadline
            token, ttl = await self._call(
                self._mint, "Bearer " + api_key.reveal(), give_up_at, parse_token, resent=resent
            )
            minted_at = datetime.now(timezone.utc)
            ice_servers = await self._call(
                self._ice, "Bearer " + token, give_up_at, parse_ice_servers
            )
        except OrgaError:
            raise
        except Exception as exc:  # a bug, or a supplied transport breaking its contract
            logger.error("the upstream exchange failed unexpectedly: %s", where(exc))
            failed = type(exc).__name__
        else:
            expires_at = minted_at + timedelta(seconds=ttl) if ttl is not None else None
            return ClientSecrets(token, ice_servers, ttl, expires_at)
        # Outside the handler: no foreign exception (its request headers hold the key) as
        # this one's __context__.
        raise UpstreamUnavailable(failed)

    async def start_call(self, token: Secret, body: bytes) -> dict[str, Any]:
        """Start a session: ``POST /v1/realtime/calls`` with ``token`` and the JSON ``body``.

        Not idempotent (each call starts a conversation): retried only when nothing can
        have reached the upstream (a connect error), never after a status.

        Returns:
            ``{"conversation_id", "answer": {"sdp", "type"}}``, checked.

        Raises:
            UpstreamError: the upstream failed (see the error table); nothing else.
        """
        try:
            return await self._call(
                self._calls, "Bearer " + token.reveal(), time.monotonic() + self._deadline,
                parse_call_answer, body=body, statuses=frozenset(),
            )  # fmt: skip
        except OrgaError:
            raise
        except Exception as exc:  # a bug, or a supplied transport breaking its contract
            logger.error("the upstream session start failed unexpectedly: %s", where(exc))
            failed = type(exc).__name__
        raise UpstreamUnavailable(failed)  # outside the handler: no foreign __context__

    async def _call(
        self,
        route: Route,
        authorization: str,
        give_up_at: float,
        read: Callable[[bytes], _T],
        *,
        body: bytes | None = None,
        statuses: frozenset[int] = _RETRY_STATUSES,
        resent: int = 0,
    ) -> _T:
        # ``tries``: this call's retries (bounded by ``retries``); ``resend``: the request's
        # resends as reported, counting the ``resent`` sends before this call.
        tries, resend = 0, resent
        report, timed = self._report, self._timed
        while True:
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout("deadline exceeded")
            started = time.perf_counter() if timed else 0.0
            broken: str | None = None
            try:
                reply = await self._transport.request(
                    route.method, route.url, authorization, min(self._timeout, remaining), body
                )
            except TransportTimeout:
                report(route, None, started, "timeout", resend)
                raise UpstreamTimeout(f"{route.call} timed out") from None
            except InvalidBody as exc:
                report(route, exc.status, started, "invalid_response", resend)
                raise UpstreamInvalidResponse(f"{route.call}: {exc}") from None
            except TransportFailure as exc:
                report(route, None, started, exc.kind, resend)
                if not exc.retryable or tries >= self._retries:
                    # Our own message (a kind and an exception type): no secret in it.
                    logger.warning("Orga upstream call failed: %s", exc)
                    raise UpstreamUnavailable(str(exc)) from None
            except Exception as exc:  # a supplied transport breaking its contract, or a bug
                report(route, None, started, "transport", resend)
                logger.error("Orga upstream call failed unexpectedly: %s", where(exc))
                broken = type(exc).__name__  # raised below, with no foreign __context__
            else:
                ended = time.perf_counter() if timed else 0.0
                if reply.status not in statuses or tries >= self._retries:
                    try:
                        result = self._settle(route, reply, read)
                    except UpstreamError as exc:
                        failed = "invalid_response" if reply.status < 300 else str(reply.status)
                        report(route, reply.status, started, failed, resend, ended)
                        if isinstance(exc, UpstreamAuthFailed):
                            exc.sent = resend + 1
                        raise
                    report(route, reply.status, started, None, resend, ended)
                    return result
                report(route, reply.status, started, str(reply.status), resend, ended)
            if broken is not None:
                raise UpstreamUnavailable(broken)
            tries += 1
            resend += 1
            # Full jitter keeps many workers from retrying in lock-step.
            delay = random.uniform(0, _BACKOFF_BASE * 2**tries)  # noqa: S311
            if time.monotonic() + delay >= give_up_at:
                # The upstream kept failing; waiting longer would only miss the deadline.
                raise UpstreamUnavailable("no time left to retry")
            await anyio.sleep(delay)

    @staticmethod
    def _settle(route: Route, reply: UpstreamReply, read: Callable[[bytes], _T]) -> _T:
        status = reply.status
        if 200 <= status < 300:  # the usual answer first
            content_type = reply.content_type
            if content_type and content_type != "application/json":  # else no call
                check_content_type(content_type, route.call)
            try:
                return read(reply.body)
            except UpstreamError:
                raise
            except Exception as exc:  # every 2xx body is a 502, whatever it trips over
                logger.error("an upstream body could not be read: %s", where(exc))
            # Outside the handler: what the body tripped over (it may quote the body, a
            # token included) is not this one's __context__.
            raise UpstreamInvalidResponse(f"{route.call}: unreadable body")
        if status in (401, 403):
            if route.call == "client-secrets":
                # Logged by the caller, which knows the key (by fingerprint) and what came next.
                raise UpstreamAuthFailed(f"client-secrets answered {status}")
            if route.call == "calls":
                # The token a handle stood for was refused: the server's credential, not
                # the browser's (the API key is not at fault: no rotation is triggered).
                logger.error("Orga refused a sealed session's token (HTTP %d)", status)
                raise UpstreamAuthFailed(f"calls answered {status}")
            raise UpstreamInvalidResponse(f"ice-config refused the new token ({status})")
        if status == 429:
            raise UpstreamRateLimited(
                f"{route.call} answered 429", retry_after=_retry_after(reply.retry_after)
            )
        if status in _RETRY_STATUSES:
            raise UpstreamUnavailable(f"{route.call} answered {status} after retries")
        logger.warning("Orga %s answered HTTP %d", route.call, status)
        raise UpstreamUnavailable(f"{route.call} answered {status}")

    async def aclose(self) -> None:
        """Close the transport (never a client the user supplied)."""
        await self._transport.aclose()
