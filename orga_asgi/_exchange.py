"""The two upstream calls, the validation of what comes back, retries and the deadline.

``POST /v1/realtime/client-secrets`` with the API key mints a token; ``GET
/v1/realtime/ice-config`` with that token returns the ICE servers whose TURN credentials
belong to it, so the calls are sequential and nothing is shared between tokens.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import anyio

from ._errors import (
    UpstreamAuthFailed,
    UpstreamInvalidResponse,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._principal import Secret
from ._transport import (
    BodyTooLarge,
    Transport,
    TransportFailure,
    TransportTimeout,
    UpstreamReply,
)

__all__ = ["ClientSecrets", "Exchange", "parse_ice_servers", "parse_token"]

logger = logging.getLogger("orga_asgi.exchange")

_RETRY_STATUSES = frozenset({502, 503, 504})
_BACKOFF_BASE = 0.1  # seconds; doubled per attempt, with full jitter


@dataclass(frozen=True)
class ClientSecrets:
    """What one exchange produced: the token and the ICE servers that belong to it.

    Attributes:
        ephemeral_token: the short-lived token for the browser (a secret: not in repr).
        ice_servers: RTCIceServer dictionaries, TURN credentials included.
        ttl: the token's lifetime in seconds, when the upstream said.
        expires_at: when the token expires (UTC), when the upstream gave a ttl.
    """

    ephemeral_token: str = field(repr=False)
    ice_servers: list[dict[str, Any]] = field(repr=False)
    ttl: int | None = None
    expires_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"ClientSecrets(ephemeral_token=<redacted>, ice_servers=<{len(self.ice_servers)}>,"
            f" ttl={self.ttl!r}, expires_at={self.expires_at!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The camelCase body browsers and the vendor SDKs expect."""
        body: dict[str, Any] = {
            "ephemeralToken": self.ephemeral_token,
            "iceServers": self.ice_servers,
        }
        if self.ttl is not None and self.expires_at is not None:
            body["ttl"] = self.ttl
            body["expiresAt"] = self.expires_at.isoformat().replace("+00:00", "Z")
        return body


def parse_token(body: bytes) -> tuple[str, int | None]:
    """Read ``ephemeralToken``/``ephemeral_token`` and an optional ``ttl``."""
    data = _json_object(body)
    token = data.get("ephemeralToken", data.get("ephemeral_token"))
    if not isinstance(token, str) or not token or not token.isascii() or not token.isprintable():
        raise UpstreamInvalidResponse("client-secrets: missing or invalid token")
    ttl = data.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
        raise UpstreamInvalidResponse("client-secrets: ttl is not a positive integer")
    return token, ttl


def parse_ice_servers(body: bytes) -> list[dict[str, Any]]:
    """Validate ``iceServers`` as RTCIceServer dictionaries, keeping the known members."""
    servers = _json_object(body).get("iceServers")
    if not isinstance(servers, list):
        raise UpstreamInvalidResponse("ice-config: iceServers is not a list")
    clean: list[dict[str, Any]] = []
    for server in servers:
        if not isinstance(server, dict):
            raise UpstreamInvalidResponse("ice-config: an ICE server is not an object")
        urls = server.get("urls")
        if isinstance(urls, list):
            if not urls or not all(isinstance(u, str) and u for u in urls):
                raise UpstreamInvalidResponse("ice-config: urls is not a list of strings")
        elif not isinstance(urls, str) or not urls:
            raise UpstreamInvalidResponse("ice-config: urls is missing")
        entry: dict[str, Any] = {"urls": urls}
        for key in ("username", "credential"):
            if key in server:
                if not isinstance(server[key], str):
                    raise UpstreamInvalidResponse(f"ice-config: {key} is not a string")
                entry[key] = server[key]
        clean.append(entry)
    return clean


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamInvalidResponse("body is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamInvalidResponse("body is not a JSON object")
    return data


def _retry_after(value: str | None) -> int | None:
    """Whole seconds from a ``Retry-After`` header (seconds or HTTP date), clamped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = int((when - datetime.now(timezone.utc)).total_seconds() + 0.999)
    return min(max(seconds, 1), 3600)


class Exchange:
    """Runs the two calls against ``base_url`` through ``transport``."""

    def __init__(
        self,
        *,
        transport: Transport,
        base_url: str,
        api_key: Secret,
        timeout: float,
        deadline: float,
        retries: int,
    ) -> None:
        self._transport = transport
        self._secrets_url = f"{base_url}/v1/realtime/client-secrets"
        self._ice_url = f"{base_url}/v1/realtime/ice-config"
        self._api_key = api_key
        self._timeout = timeout
        self._deadline = deadline
        self._retries = retries

    async def issue(self) -> ClientSecrets:
        """Mint a token and fetch its ICE servers, or raise an :class:`UpstreamError`."""
        give_up_at = time.monotonic() + self._deadline
        reply = await self._call(
            "POST", self._secrets_url, "Bearer " + self._api_key.reveal(), give_up_at
        )
        if reply.status in (401, 403):
            logger.error("Orga rejected the API key (HTTP %d): check ORGA_API_KEY", reply.status)
            raise UpstreamAuthFailed(f"client-secrets answered {reply.status}")
        self._raise_for_status("client-secrets", reply.status, reply.retry_after)
        token, ttl = parse_token(reply.body)
        minted_at = datetime.now(timezone.utc)

        reply = await self._call("GET", self._ice_url, "Bearer " + token, give_up_at)
        if reply.status in (401, 403):
            raise UpstreamInvalidResponse(f"ice-config refused the new token ({reply.status})")
        self._raise_for_status("ice-config", reply.status, reply.retry_after)
        ice_servers = parse_ice_servers(reply.body)
        expires_at = minted_at + timedelta(seconds=ttl) if ttl is not None else None
        return ClientSecrets(token, ice_servers, ttl, expires_at)

    @staticmethod
    def _raise_for_status(route: str, status: int, retry_after: str | None) -> None:
        if 200 <= status < 300:
            return
        if status == 429:
            raise UpstreamRateLimited(
                f"{route} answered 429", retry_after=_retry_after(retry_after)
            )
        logger.warning("Orga %s answered HTTP %d", route, status)
        raise UpstreamUnavailable(f"{route} answered {status}")

    async def _call(
        self, method: str, url: str, authorization: str, give_up_at: float
    ) -> UpstreamReply:
        attempt = 0
        while True:
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout("deadline exceeded")
            try:
                reply = await self._transport.request(
                    method, url, authorization, min(self._timeout, remaining)
                )
            except TransportTimeout:
                raise UpstreamTimeout(f"{method} {url.rsplit('/', 1)[-1]} timed out") from None
            except BodyTooLarge:
                raise UpstreamInvalidResponse("body too large") from None
            except TransportFailure as exc:
                if not exc.retryable or attempt >= self._retries:
                    # Our own message (an exception type or a fixed text): no secret in it.
                    logger.warning("Orga upstream call failed: %s", exc)
                    raise UpstreamUnavailable(str(exc)) from None
            else:
                if reply.status not in _RETRY_STATUSES or attempt >= self._retries:
                    if reply.status in _RETRY_STATUSES:
                        raise UpstreamUnavailable(f"answered {reply.status} after retries")
                    return reply
            attempt += 1
            # Full jitter keeps many workers from retrying in lock-step.
            delay = random.uniform(0, _BACKOFF_BASE * 2**attempt)  # noqa: S311
            if time.monotonic() + delay >= give_up_at:
                # The upstream kept failing; waiting longer would only miss the deadline.
                raise UpstreamUnavailable("no time left to retry")
            await anyio.sleep(delay)

    async def aclose(self) -> None:
        await self._transport.aclose()
