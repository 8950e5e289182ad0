"""A sandbox Orga upstream for tests, load runs and ``orga-asgi dev``; also a pytest plugin.

:class:`FakeOrga` is a plain ASGI app serving both upstream routes of the Orga wire
contract, with on-demand fault injection and a record of every call it received. Point an
``httpx.ASGITransport`` (or a real server such as uvicorn) at it.

When pytest is installed this module doubles as the ``orga_asgi`` pytest plugin, providing
the ``fake_orga`` and ``fake_orga_client`` fixtures.
"""

from __future__ import annotations

import contextlib
import hmac
import http
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio

from ._fake_tokens import TokenStore
from ._types import Receive, Scope, Send

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FAKE_API_KEY",
    "FAKE_BASE_URL",
    "FakeOrga",
    "RecordedCall",
    "recording_secrets",
    "sandbox_client",
]

FAKE_API_KEY = "sk_orga_ai_test"
FAKE_BASE_URL = "https://fake-orga.test"

TokenField = Literal["both", "ephemeralToken", "ephemeral_token"]
FaultRoute = Literal["client-secrets", "ice-config"]

_DEFAULT_TTL = 120
# A reused encoder: ``json.dumps`` with non-default arguments builds a new one per call.
_dumps = json.JSONEncoder(separators=(",", ":")).encode
# token_field -> the mint response keys carrying the token
_TOKEN_KEYS: dict[str, tuple[str, ...]] = {
    "both": ("ephemeral_token", "ephemeralToken"),
    "ephemeralToken": ("ephemeralToken",),
    "ephemeral_token": ("ephemeral_token",),
}
# path -> (route name, the one method it answers)
_ROUTES: dict[str, tuple[FaultRoute, str]] = {
    "/v1/realtime/client-secrets": ("client-secrets", "POST"),
    "/v1/realtime/ice-config": ("ice-config", "GET"),
}
_PATHS = {route: path for path, (route, _) in _ROUTES.items()}
_STUN = {"urls": "stun:stun.fake-orga.test:3478"}
_TURN_URLS = [
    "turn:turn.fake-orga.test:3478?transport=udp",
    "turn:turn.fake-orga.test:3478?transport=tcp",
]
# Default body of a dropped 2xx response: a plausible answer, so the half that is sent is
# cut mid-JSON as a real one would be.
_DROP_BODIES = {
    "client-secrets": b'{"ephemeral_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9","ttl":120}',
    "ice-config": b'{"iceServers":[{"urls":"stun:stun.fake-orga.test:3478"}]}',
}


@dataclass(frozen=True, slots=True, repr=False)
class RecordedCall:
    """One request FakeOrga received, verbatim.

    Attributes:
        method: HTTP method, e.g. ``"POST"``.
        path: Request path, e.g. ``"/v1/realtime/client-secrets"``.
        query_string: Raw query string without ``?`` (``""`` when absent).
        authorization: Raw ``Authorization`` header, or ``None``. Kept so tests can assert
            the key was sent; :meth:`__repr__` redacts it.
        body: Request body bytes.
    """

    method: str
    path: str
    query_string: str
    authorization: str | None
    body: bytes

    def __repr__(self) -> str:
        auth = self.authorization
        if auth is not None:
            # The scheme is not secret and helps debugging; the credentials are.
            scheme, sep, _ = auth.partition(" ")
            auth = f"{scheme} <redacted>" if sep else "<redacted>"
        body = repr(self.body[:64])
        if len(self.body) > 64:  # a 10 MB fault body must not flood a failure report
            body += f"...({len(self.body)} bytes)"
        return (
            f"RecordedCall(method={self.method!r}, path={self.path!r}, "
            f"query_string={self.query_string!r}, authorization={auth!r}, body={body})"
        )


class _Fault:
    """A queued fault; its response (if any) is built once, when queued."""

    __slots__ = ("delay", "drop", "remaining", "response")

    def __init__(
        self,
        response: tuple[int, list[tuple[bytes, bytes]], bytes] | None,
        delay: float,
        drop: bool,
        remaining: int | None,
    ) -> None:
        self.response, self.delay, self.drop, self.remaining = response, delay, drop, remaining


def _fault_response(
    route: FaultRoute,
    status: int | None,
    body: bytes | None,
    headers: dict[str, str] | None,
    drop: bool,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = 200 if status is None else status
    if body is None and status in (204, 304):  # HTTP forbids a body on these.
        body = b""
    elif body is None and status >= 400:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:  # e.g. 599: no standard phrase
            phrase = "Injected fault"
        body = _dumps({"error": phrase}).encode()
    elif body is None:
        body = _DROP_BODIES[route] if drop else b"{}"
    merged = {"content-type": "application/json", "content-length": str(len(body))}
    merged.update((name.lower(), value) for name, value in (headers or {}).items())
    # Encoding here, not per request, makes a bad header fail at ``fail()``, in the test.
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in merged.items()]
    return status, raw, body


class FakeOrga:
    """An in-process Orga upstream: ``POST /v1/realtime/client-secrets`` and
    ``GET /v1/realtime/ice-config``, faithful to both the vendor SDK and the guide.

    Args:
        api_key: The only key ``client-secrets`` accepts (as ``Authorization: Bearer``).
        token_field: Which token field the mint response carries: ``"both"`` (default),
            ``"ephemeralToken"`` (the guide) or ``"ephemeral_token"`` (the Node SDK).
            Also a settable attribute.
        ttl: Seconds a token lives, sent as ``ttl``. ``None`` omits the field (tokens then
            live 120 s). Also a settable attribute.
        clock: Wall-clock source in seconds; inject one to expire tokens in tests.
        max_tokens: Cap on live tokens held; the oldest are forgotten first.
        max_calls: How many of the most recent calls :attr:`calls` keeps.

    Example:
        >>> fake = FakeOrga()
        >>> fake.fail("ice-config", status=503, headers={"Retry-After": "7"})
    """

    def __init__(
        self,
        *,
        api_key: str = FAKE_API_KEY,
        token_field: TokenField = "both",  # noqa: S107 - a field name, not a password
        ttl: int | None = _DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
        max_tokens: int = 100_000,
        max_calls: int = 10_000,
    ) -> None:
        self._api_key = api_key.encode()
        self.token_field = token_field
        self.ttl = ttl
        self._clock = clock
        self._tokens = TokenStore(max_tokens)
        self._calls: deque[RecordedCall] = deque(maxlen=max_calls)
        self._faults: dict[FaultRoute, deque[_Fault]] = {r: deque() for r in _PATHS}
        for recorder in _RECORDERS:
            recorder.add(api_key)

    @property
    def token_field(self) -> TokenField:
        """The token field(s) the mint response carries; settable at runtime."""
        return self._token_field

    @token_field.setter
    def token_field(self, value: TokenField) -> None:
        if value not in _TOKEN_KEYS:
            raise ValueError(f"token_field must be one of {tuple(_TOKEN_KEYS)}")
        self._token_field = value

    @property
    def ttl(self) -> int | None:
        """Token lifetime in seconds sent as ``ttl``; ``None`` omits it. Settable."""
        return self._ttl

    @ttl.setter
    def ttl(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or value < 1):
            raise ValueError("ttl must be a positive number of seconds or None")
        self._ttl = value

    def set_token_field(self, token_field: TokenField) -> None:
        """Switch the mint response shape; same as assigning :attr:`token_field`."""
        self.token_field = token_field

    @property
    def calls(self) -> list[RecordedCall]:
        """A snapshot of the calls received, oldest first (the last ``max_calls``)."""
        return list(self._calls)

    def calls_to(self, route: FaultRoute) -> list[RecordedCall]:
        """The recorded calls to ``"client-secrets"`` or ``"ice-config"`` (any method)."""
        path = _PATHS[route]
        return [call for call in self._calls if call.path == path]

    def issued_secrets(self) -> set[str]:
        """The tokens and TURN credentials this fake has handed out and still holds.

        Leak checks use it: none of these may appear in a log line or an error body.
        """
        return self._tokens.secrets()

    @property
    def token_count(self) -> int:
        """Tokens currently held (expired ones linger until pruned on the next mint)."""
        return len(self._tokens)

    def fail(
        self,
        route: FaultRoute,
        *,
        status: int | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int | None = 1,
    ) -> None:
        """Queue a fault for the next ``times`` requests to ``route``.

        Faults on a route apply in the order queued; wrong-method calls do not consume them.

        Args:
            route: ``"client-secrets"`` or ``"ice-config"``.
            status: Answer with this status; the default body is ``{"error": <phrase>}``
                for 4xx/5xx, ``{}`` otherwise.
            body: Raw response body; alone (no ``status``) it comes with a 200, which is how
                to send malformed JSON or a JSON missing required fields.
            headers: Extra response headers, e.g. ``{"Retry-After": "7"}``; they replace
                defaults of the same name.
            delay: Seconds to sleep before answering. Alone, the normal answer follows.
            drop: Start the response (status, default 200) announcing a longer
                ``content-length`` than it sends, send half the body, then raise
                ``ConnectionResetError``: a real server closes the socket mid-body,
                ``httpx.ASGITransport`` hands the exception to the client.
            times: How many requests the fault applies to; ``None`` means until
                :meth:`clear_faults` or :meth:`reset`.

        Raises:
            ValueError: Unknown route, out-of-range argument, or a fault that does nothing.
        """
        if route not in _PATHS:
            raise ValueError(f"route must be one of {tuple(_PATHS)}")
        if status is not None and not 200 <= status <= 599:
            raise ValueError("status must be between 200 and 599")
        if delay < 0 or (times is not None and times < 1):
            raise ValueError("delay must be >= 0 and times >= 1 (or None)")
        if headers is not None and status is None and body is None and not drop:
            raise ValueError("headers need status, body or drop")
        answers = status is not None or body is not None or drop
        if not answers and not delay:
            raise ValueError("the fault does nothing: pass status, body, delay or drop")
        response = _fault_response(route, status, body, headers, drop) if answers else None
        self._faults[route].append(_Fault(response, delay, drop, times))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        for queue in self._faults.values():
            queue.clear()

    def reset(self) -> None:
        """Forget recorded calls, queued faults and minted tokens."""
        self._calls.clear()
        self.clear_faults()
        self._tokens.clear()

    def __repr__(self) -> str:
        # Never the API key: reprs end up in logs and assertion messages.
        return (
            f"FakeOrga(token_field={self._token_field!r}, ttl={self._ttl!r}, "
            f"calls={len(self._calls)}, tokens={len(self._tokens)})"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (http and lifespan; anything else is ignored)."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        body = await _read_body(receive)
        # Raw scope only: load runs push thousands of requests/s through this method.
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        method, path = scope["method"], scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        self._calls.append(RecordedCall(method, path, query, authorization, body))

        known = _ROUTES.get(path)
        if known is None:
            await _send(send, 404, {"error": "Not Found"})
            return
        route, allowed = known
        if method != allowed:
            await _send(send, 405, {"error": "Method Not Allowed"}, [(b"allow", allowed)])
            return

        fault = self._next_fault(route)
        if fault is not None:
            if fault.delay:
                await anyio.sleep(fault.delay)
            if fault.response is not None:
                await _answer_fault(send, fault.response, fault.drop)
                return
        credentials = _bearer(authorization)
        if route == "client-secrets":
            await self._mint(send, credentials)
        else:
            await self._ice_config(send, credentials)

    def _next_fault(self, route: FaultRoute) -> _Fault | None:
        queue = self._faults[route]
        if not queue:
            return None
        fault = queue[0]
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.popleft()
        return fault

    async def _mint(self, send: Send, api_key: str | None) -> None:
        if api_key is None or not hmac.compare_digest(api_key.encode(), self._api_key):
            await _send(send, 401, {"error": "Unauthorized"})
            return
        lifetime = self._ttl if self._ttl is not None else _DEFAULT_TTL
        token = self._tokens.mint(self._clock(), lifetime)
        if _RECORDERS:  # a leak check is listening: tell it what must never show up
            grant = self._tokens.lookup(token, self._clock())
            for recorder in _RECORDERS:
                recorder.update((token, self._api_key.decode()))
                if grant is not None:
                    recorder.update((grant.username, grant.credential))
        payload: dict[str, object] = dict.fromkeys(_TOKEN_KEYS[self._token_field], token)
        if self._ttl is not None:
            payload["ttl"] = self._ttl
        await _send(send, 200, payload)

    async def _ice_config(self, send: Send, token: str | None) -> None:
        grant = None if token is None else self._tokens.lookup(token, self._clock())
        if grant is None:
            await _send(send, 401, {"error": "Unauthorized"})
            return
        turn = {"urls": _TURN_URLS, "username": grant.username, "credential": grant.credential}
        await _send(send, 200, {"iceServers": [_STUN, turn]})


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(
    send: Send, status: int, payload: object, extra: list[tuple[bytes, str]] | None = None
) -> None:
    body = _dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(name, value.encode("latin-1")) for name, value in extra or ()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer_fault(
    send: Send, response: tuple[int, list[tuple[bytes, bytes]], bytes], drop: bool
) -> None:
    status, headers, body = response
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if not drop:
        await send({"type": "http.response.body", "body": body})
        return
    # Announce the full length, send half: the client sees a connection cut mid-body.
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise ConnectionResetError("fake orga dropped the connection")


_RECORDERS: list[set[str]] = []


@contextlib.contextmanager
def recording_secrets() -> Iterator[set[str]]:
    """Collect every API key, token and TURN credential any FakeOrga uses meanwhile.

    For leak checks: none of what the set holds may appear in a log line, an error body or
    a response header. The set keeps filling until the block ends, even after the fakes
    that minted the secrets are gone::

        with recording_secrets() as secrets:
            ...  # run requests
        assert not any(s in log_text for s in secrets)
    """
    found: set[str] = set()
    _RECORDERS.append(found)
    try:
        yield found
    finally:
        _RECORDERS.remove(found)


def sandbox_client(fake: FakeOrga | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that reaches ``fake`` (a new FakeOrga by default) in-process.

    Pass it as ``http_client`` together with ``api_key=FAKE_API_KEY`` and
    ``base_url=FAKE_BASE_URL`` to run an endpoint with no account and no network; close it
    when the app shuts down.
    """
    import httpx

    transport = httpx.ASGITransport(app=fake if fake is not None else FakeOrga())
    return httpx.AsyncClient(transport=transport, base_url=FAKE_BASE_URL)


async def _lifespan(receive: Receive, send: Send) -> None:
    # Answer lifespan so servers running FakeOrga alone don't log a failed startup.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
