"""The doctor's HTTP side: the target URL, and requests bounded in count, time and size.

Every request is a fresh, exact probe: no cookie jar (a ``Set-Cookie`` on one answer must not
turn the next "anonymous" request into a signed-in one), no ``.netrc`` or proxy settings from
the environment (they would add credentials the user did not ask for), no redirects followed
(a redirect is itself what some checks look for).
"""

from __future__ import annotations

import ipaddress
import math
import ssl
import time
from dataclasses import dataclass, replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import anyio
import httpx

__all__ = ["MAX_BODY", "Failure", "Prober", "Reply", "Target", "parse_target"]

MAX_BODY = 64 * 1024  # a token answer is well under 2 KiB; an error page has no need for more
_DEFAULT_PORTS = {"http": 80, "https": 443}
_USER_AGENT = "orga-asgi-doctor"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a probe goes: a parsed ``http(s)://host[:port]/path[?query]`` URL."""

    scheme: str
    host: str  # without IPv6 brackets
    port: int
    path: str  # path and query, as given
    loopback: bool

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, the default port left out."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The full URL."""
        return self.origin + self.path

    @property
    def route(self) -> str:
        """The path without the query."""
        return self.path.partition("?")[0]

    def switched(self, scheme: str, port: int | None = None) -> Target:
        """The same host and path over ``scheme`` (on its default port unless ``port``)."""
        return replace(self, scheme=scheme, port=port or _DEFAULT_PORTS[scheme])


def parse_target(url: str) -> Target:
    """Parse and check a URL given on the command line.

    Raises:
        ValueError: not an absolute http(s) URL with a host, or it carries credentials.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("the URL is not valid (expected https://host/path)") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("the URL must be absolute: https://host/path")
    if "@" in parts.netloc:
        raise ValueError("the URL must not carry credentials: pass them with --header")
    host = parts.hostname.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or _DEFAULT_PORTS[scheme], path, _is_loopback(host))


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: status, headers and at most :data:`MAX_BODY` bytes of body."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool


@dataclass(frozen=True, slots=True)
class Failure:
    """A request that got no (complete) answer, and why, in words safe to print."""

    reason: str


class Prober:
    """Sends requests, each within ``timeout`` seconds, all within ``budget`` seconds.

    Args:
        timeout: Seconds for one request, connection to last body byte.
        budget: Seconds for every request together; once spent, requests fail at once.
        verify: TLS verification: ``True`` (the system's CAs) or a CA bundle path.
    """

    def __init__(self, *, timeout: float, budget: float, verify: str | bool = True) -> None:
        self._timeout = timeout
        self._budget = budget
        self._deadline = math.inf  # the budget starts with the first request's context
        self.sent = 0
        context = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._client = httpx.AsyncClient(
            verify=context,
            follow_redirects=False,
            trust_env=False,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            headers={"user-agent": _USER_AGENT, "accept": "application/json"},
        )

    async def __aenter__(self) -> Prober:
        # Not at construction: making the client may import httpcore, seconds on a cold start.
        self._deadline = time.monotonic() + self._budget
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def send(
        self, method: str, url: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> Reply | Failure:
        """One request; never raises for network trouble (that is a :class:`Failure`)."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return Failure(f"not sent: the overall budget of {self._budget:g} s ran out")
        limit = min(self._timeout, remaining)
        self.sent += 1
        try:
            # fail_after bounds the whole exchange; httpx's own timeout bounds each read.
            with anyio.fail_after(limit):
                return await self._exchange(method, url, headers, limit)
        except (TimeoutError, httpx.TimeoutException):
            return Failure(f"no complete answer within {limit:.3g} s")
        except httpx.ConnectError as exc:
            # Connection errors name the peer and the TLS problem, never a header we sent.
            return Failure(f"could not connect: {str(exc)[:200] or type(exc).__name__}")
        except httpx.HTTPError as exc:
            return Failure(f"the exchange failed ({type(exc).__name__})")

    async def _exchange(
        self, method: str, url: str, headers: tuple[tuple[str, str], ...], limit: float
    ) -> Reply:
        request = self._client.build_request(method, url, headers=list(headers), timeout=limit)
        response = await self._client.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    break
        finally:
            await response.aclose()
        truncated = len(body) > MAX_BODY
        return Reply(response.status_code, response.headers, bytes(body[:MAX_BODY]), truncated)

    @property
    def elapsed(self) -> float:
        """Seconds since probing began."""
        if self._deadline == math.inf:
            return 0.0
        return max(0.0, self._budget - (self._deadline - time.monotonic()))
