"""``OrgaClientSecrets``: the route's pipeline, in one straight line.

request id -> method / preflight -> HTTPS -> origin -> body size -> per-IP limit ->
authorize -> per-user limit + in-flight -> exchange -> 200. Cheap refusals come first;
the exchange is the only upstream I/O. Every stage ends a request by raising a typed
error; :func:`orga_asgi._errors.describe` alone turns it into a response.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import anyio
from starlette.requests import Request

from ._config import EndpointConfig, as_tuple, load_api_key, load_base_url
from ._errors import (
    INTERNAL_ERROR,
    Busy,
    ConfigurationError,
    HTTPSRequired,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestError,
    Unauthorized,
    describe,
)
from ._exchange import ClientSecrets, Exchange
from ._limits import RateLimitGate
from ._log import get_logger
from ._origin import OriginPolicy
from ._principal import AuthorizeHook, Principal, Secret, as_async_hook
from ._proxy import ProxyResolver
from ._request_id import request_id_var, resolve_request_id
from ._responses import SECURITY_HEADERS, error_body, send_json, success_body
from ._upstream_slots import UpstreamSlots

if TYPE_CHECKING:
    import httpx

    from ._types import Message, Receive, Scope, Send

__all__ = ["OrgaClientSecrets"]

_MISSING: Any = object()
_ALLOW = (b"allow", b"GET, POST")
_WANTED = frozenset(
    {
        b"x-request-id",
        b"origin",
        b"sec-fetch-site",
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"access-control-request-headers",
    }
)
logger = get_logger("orga_asgi")
audit = get_logger("orga_asgi.audit")


class OrgaClientSecrets:
    """An ASGI app that hands a caller a short-lived Orga token and its ICE servers.

    Serve it as a route, mount it, or put it behind :class:`OrgaMiddleware`. GET and
    POST answer ``{"ephemeralToken", "iceServers"}`` (plus ``ttl`` and ``expiresAt``
    when the upstream gave a ttl); every refusal is a JSON error with a request id.

    Args:
        authorize: who is asking: a callable taking a Starlette ``Request``, sync or
            async, returning a :class:`Principal` or ``None`` (401). Required; pass
            :func:`allow_anonymous` to let everyone in deliberately.
        api_key: the Orga API key; default: ``ORGA_API_KEY``.
        base_url: the Orga API origin; default: ``ORGA_BASE_URL``, else
            ``https://api.orga-ai.com``.
        timeout: seconds per upstream call.
        http_client: an ``httpx.AsyncClient`` to use instead of the built-in aiohttp
            pool (you close it).
        **options: the other fields of :class:`EndpointConfig` (``require_https``,
            ``trusted_proxies``, ``allowed_origins``, ``rate_limits``, ...).

    Raises:
        ConfigurationError: a setting is missing or wrong; the message says how to fix it.
    """

    def __init__(
        self,
        *,
        authorize: AuthorizeHook = _MISSING,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
        trusted_proxies: Sequence[str] = (),
        allowed_origins: Sequence[str] | None = None,
        rate_limits: Sequence[str] | str | None = EndpointConfig.rate_limits,
        ip_rate_limits: Sequence[str] | str | None = EndpointConfig.ip_rate_limits,
        strategy: Literal["moving-window", "sliding-window-counter"] = "moving-window",
        on_storage_error: Literal["fallback", "deny", "allow"] = "fallback",
        **options: Any,
    ) -> None:
        if authorize is _MISSING:
            raise ConfigurationError(
                "OrgaClientSecrets needs authorize=...: a hook that says who the caller is "
                "(see orga_asgi.auth). To mint tokens for anyone, pass "
                "authorize=orga_asgi.allow_anonymous deliberately."
            )
        try:
            config = EndpointConfig(
                authorize=authorize,
                api_key=load_api_key(api_key),
                base_url=load_base_url(base_url),
                timeout=timeout,
                http_client=http_client,
                trusted_proxies=tuple(trusted_proxies),
                allowed_origins=as_tuple(allowed_origins),
                rate_limits=as_tuple(rate_limits),
                ip_rate_limits=as_tuple(ip_rate_limits),
                strategy=strategy,
                on_storage_error=on_storage_error,
                **options,
            )
        except TypeError as exc:  # an unknown keyword: say which settings exist
            raise ConfigurationError(
                f"{exc}; see orga_asgi.EndpointConfig for the settings"
            ) from None
        self.config = config
        self._authorize = as_async_hook(config.authorize)
        self._challenge = getattr(config.authorize, "www_authenticate", None)
        self._proxies = ProxyResolver(config.trusted_proxies)
        self._origins = OriginPolicy(config.allowed_origins)
        self._gate = RateLimitGate(
            rate_limits=config.rate_limits,
            ip_rate_limits=config.ip_rate_limits,
            storage_uri=config.storage_uri,
            strategy=config.strategy,
            on_storage_error=config.on_storage_error,
            max_in_flight_per_principal=config.max_in_flight_per_principal,
        )
        from ._transport import default_transport

        self._exchange = Exchange(
            transport=default_transport(
                config.http_client,
                timeout=config.timeout,
                limit=config.max_upstream_concurrency or 100,
            ),
            base_url=config.base_url,
            api_key=config.api_key,
            timeout=config.timeout,
            deadline=config.deadline,
            retries=config.retries,
        )
        self._slots = UpstreamSlots(config.max_upstream_concurrency, config.upstream_queue_timeout)
        base = list(SECURITY_HEADERS) + list(config.extra_headers)
        if self._origins.enabled:
            base.append((b"vary", b"Origin"))
        self._base_headers = tuple(base)
        self._hsts = (
            (b"strict-transport-security", config.hsts.encode("latin-1")) if config.hsts else None
        )

    def __repr__(self) -> str:
        return (
            f"OrgaClientSecrets(base_url={self.config.base_url!r}, api_key=Secret('**********'),"
            f" storage={self._gate!r})"
        )

    async def issue(self, principal: Principal | None = None) -> ClientSecrets:
        """Mint a token and fetch its ICE servers, for callers building their own route.

        Authorization is the caller's job. With a ``principal``, its rate limits and
        in-flight cap apply exactly as on the route; without one, none do.

        Raises:
            RateLimited: a window of ``principal`` is exhausted (``retry_after`` set).
            TooManyInFlight: ``principal`` already has that many mints running.
            UpstreamError: the upstream failed (see the error table).
        """
        if principal is None:
            async with self._slots:
                return await self._exchange.issue()
        await self._gate.check_principal(principal.id)
        self._gate.acquire_in_flight(principal.id)
        try:
            async with self._slots:
                return await self._exchange.issue()
        finally:
            self._gate.release_in_flight(principal.id)

    async def aclose(self) -> None:
        """Close the upstream pool (unless the user supplied it), the limit store, and
        the authorize hook's own resources (a ``jwt()`` hook's key fetcher)."""
        await self._exchange.aclose()
        await self._gate.aclose()
        close_hook = getattr(self.config.authorize, "aclose", None)
        if close_hook is not None:
            await close_hook()

    async def __aenter__(self) -> OrgaClientSecrets:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._handle(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        found = {k: v for k, v in scope["headers"] if k in _WANTED}
        request_id = resolve_request_id(found.get(b"x-request-id"))
        token = request_id_var.set(request_id)
        headers = list(self._base_headers)
        headers.append((b"x-request-id", request_id.encode("ascii")))
        principal_id: str | None = None
        status, outcome = 500, "internal_error"
        response_started = False

        async def tracked_send(message: Message) -> None:
            nonlocal response_started
            response_started = True
            await send(message)

        try:
            scheme, client = self._proxies.resolve(scope)
            if scheme == "https" and self._hsts:
                headers.append(self._hsts)
            status, outcome, principal_id = await self._pipeline(
                scope, receive, tracked_send, found, headers, scheme, client
            )
        except RequestError as exc:
            status, outcome = await self._refuse(tracked_send, exc, headers, request_id)
        except _ClientGone:
            status, outcome = 499, "client_disconnected"
        except (_HookContractError, _HookFailed):
            status, outcome = await self._refuse(tracked_send, None, headers, request_id)
        except Exception:
            logger.exception("orga-asgi request failed")
            status, outcome = await self._refuse(tracked_send, None, headers, request_id)
        except BaseException as exc:
            # Cancelled by the server (graceful-shutdown timeout): answer with a JSON error
            # while the connection is still there, then let the cancellation through.
            if response_started or not isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            with anyio.CancelScope(shield=True):
                status, outcome = await self._refuse(
                    tracked_send, Busy("cancelled by the server"), headers, request_id
                )
            raise
        finally:
            if self.config.audit_log and audit.isEnabledFor(20):
                audit.info(
                    "request_id=%s method=%s path=%s status=%d principal=%s outcome=%s"
                    " latency_ms=%.1f",
                    request_id,
                    _loggable(scope["method"]),
                    _loggable(scope["path"]),
                    status,
                    _loggable(principal_id) if principal_id else "-",
                    outcome,
                    (time.perf_counter() - started) * 1000,
                )
            request_id_var.reset(token)

    async def _pipeline(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        found: dict[bytes, bytes],
        headers: list[tuple[bytes, bytes]],
        scheme: str,
        client: str | None,
    ) -> tuple[int, str, str | None]:
        method = scope["method"]
        origin = found.get(b"origin")
        if method == "OPTIONS" and self._origins.enabled and origin is not None:
            allowed = self._origins.check(
                origin=origin,
                sec_fetch_site=found.get(b"sec-fetch-site"),
                scheme=scheme,
                host=found.get(b"host"),
            )
            if allowed is None:
                raise MethodNotAllowed("OPTIONS without a cross-origin request")
            headers.extend(
                self._origins.preflight_headers(
                    allowed, found.get(b"access-control-request-headers")
                )
            )
            await send_json(send, 204, b"", headers)
            return 204, "preflight", None
        if method != "GET" and method != "POST":
            raise MethodNotAllowed(method)
        # Loopback means the direct peer is loopback and nothing was forwarded: a local
        # proxy relaying remote clients over plain HTTP does not count.
        if (
            scheme != "https"
            and self.config.require_https
            and not (
                self.config.allow_insecure_loopback and self._proxies.is_loopback_request(scope)
            )
        ):
            raise HTTPSRequired
        if origin is not None or b"sec-fetch-site" in found:
            allowed = self._origins.check(
                origin=origin,
                sec_fetch_site=found.get(b"sec-fetch-site"),
                scheme=scheme,
                host=found.get(b"host"),
            )
            if allowed is not None:
                headers.extend(self._origins.cors_headers(allowed))
        if method == "POST":
            receive = await self._check_body(found, receive)
        limit_headers = await self._gate.check_ip(client)
        if limit_headers is not None:
            headers.extend(limit_headers.headers)
        principal = await self._authorize_caller(Request(scope, receive))
        pid = principal.id
        limit_headers = await self._gate.check_principal(pid)
        if limit_headers is not None:
            if self.config.ip_rate_limits:  # the per-user window is the one to report
                _drop_ratelimit(headers)
            headers.extend(limit_headers.headers)
        self._gate.acquire_in_flight(pid)
        try:
            async with self._slots:
                secrets = await self._exchange.issue()
        finally:
            self._gate.release_in_flight(pid)
        await send_json(send, 200, success_body(secrets.to_dict()), headers)
        return 200, "issued", pid

    async def _authorize_caller(self, request: Request) -> Principal:
        try:
            principal = await self._authorize(request)
        except RequestError:
            raise
        except Exception:
            # A hook's own failure is a server fault, not the caller's: 500, logged.
            logger.exception("the authorize hook raised")
            raise _HookFailed from None
        if principal is None:
            raise Unauthorized
        if not isinstance(principal, Principal) or not principal.id:
            logger.error(
                "the authorize hook returned %s, not a Principal with a non-empty id",
                type(principal).__name__,
            )
            raise _HookContractError
        return principal

    async def _check_body(self, found: dict[bytes, bytes], receive: Receive) -> Receive:
        """Refuse large bodies from Content-Length, or while streaming, without reading on."""
        limit = self.config.max_body_size
        length = found.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > limit:
                raise PayloadTooLarge
            return receive
        if b"transfer-encoding" not in found:
            return receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone  # disconnected mid-body: nobody is left to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replay: list[Any] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Any:
            # The hook may read the body; hand it what we already consumed, once.
            return replay.pop() if replay else await receive()

        return replayed

    async def _refuse(
        self,
        send: Send,
        exc: RequestError | None,
        headers: list[tuple[bytes, bytes]],
        request_id: str,
    ) -> tuple[int, str]:
        info = describe(exc) if exc is not None else INTERNAL_ERROR
        if exc is not None:
            if exc.retry_after is not None:
                headers.append((b"retry-after", str(exc.retry_after).encode("ascii")))
            extra = getattr(exc, "headers", None)
            if extra:
                _drop_ratelimit(headers)
                headers.extend(extra)
        if info.status == 401 and self._challenge:
            headers.append((b"www-authenticate", self._challenge.encode("latin-1")))
        elif info.status == 405:
            headers.append(_ALLOW)
        try:
            await send_json(send, info.status, error_body(info, request_id), headers)
        except Exception:
            logger.debug("could not send the error response", exc_info=True)
        return info.status, info.code


class _ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class _HookContractError(Exception):
    """The authorize hook returned something that is not a usable Principal."""


class _HookFailed(Exception):
    """The authorize hook raised; already logged with its traceback."""


def _loggable(text: str, limit: int = 200) -> str:
    """Caller-controlled text for a log line: no control characters, bounded length."""
    if len(text) <= limit and text.isprintable():
        return text
    return repr(text[:limit])[1:-1] + ("..." if len(text) > limit else "")


def _drop_ratelimit(headers: list[tuple[bytes, bytes]]) -> None:
    headers[:] = [h for h in headers if h[0] not in (b"ratelimit", b"ratelimit-policy")]
