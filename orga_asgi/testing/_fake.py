"""FakeOrga: the upstream routes of the Orga wire contract, in-process.

The public face: configuration, fault injection and what the fake saw. The routes and
their handlers are :mod:`._routes`, what they read and change :mod:`._state`, the queued
faults :mod:`._faults`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from orga_asgi._keys.check import fingerprint
from orga_asgi._types import Receive, Scope, Send

from ._faults import FaultQueues, build_fault
from ._recording import RecordedCall, remember
from ._routes import PATHS, ROUTES, FaultRoute, serve
from ._state import DEFAULT_TTL, FakeState, TokenField, check_token_field, check_ttl

__all__ = ["FAKE_API_KEY", "FAKE_BASE_URL", "FakeOrga", "FaultRoute", "TokenField"]

FAKE_API_KEY = "sk_orga_ai_test"
FAKE_BASE_URL = "https://fake-orga.test"


class FakeOrga:
    """An in-process Orga upstream: ``POST /v1/realtime/client-secrets`` and
    ``GET /v1/realtime/ice-config`` and ``POST /v1/realtime/calls`` (a session start: an
    SDP answer to the offer), faithful to both the vendor SDK and the guide.

    Args:
        api_key: The key ``client-secrets`` accepts (as ``Authorization: Bearer``).
        api_keys: Several keys accepted at once (one per tenant, or the old and the new
            one of a rotation), instead of ``api_key``. Change them at runtime with
            :meth:`rotate_key`. Each recorded mint call says which key it used
            (:attr:`RecordedCall.key_fingerprint`), each token which key minted it
            (:meth:`minted_with`).
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
        api_keys: Iterable[str] | None = None,
        token_field: TokenField = "both",  # noqa: S107 - a field name, not a password
        ttl: int | None = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
        max_tokens: int = 100_000,
        max_calls: int = 10_000,
    ) -> None:
        keys = [api_key] if api_keys is None else list(api_keys)
        if not keys or not all(isinstance(key, str) and key for key in keys):
            raise ValueError("api_keys must be non-empty strings, at least one")
        self._state = FakeState(
            keys, check_token_field(token_field), check_ttl(ttl), clock, max_tokens, max_calls
        )
        self._faults = FaultQueues(PATHS)
        remember(keys)

    def rotate_key(self, new: str, *, revoke: str | None = None) -> None:
        """Accept ``new`` from now on and, if given, stop accepting ``revoke``.

        ``rotate_key(new)`` is the dashboard's "create key" (both keys work meanwhile);
        ``rotate_key(new, revoke=old)`` also revokes the old one: mints with it get 401.
        """
        if not isinstance(new, str) or not new:
            raise ValueError("new must be a non-empty string")
        self._state.keys[new] = new.encode()
        remember((new,))
        if revoke is not None and revoke != new:
            self._state.keys.pop(revoke, None)

    @property
    def accepted_keys(self) -> list[str]:
        """The fingerprints of the keys accepted now (never the keys themselves)."""
        return [fingerprint(key) for key in self._state.keys]

    def minted_with(self, token: str) -> str | None:
        """The fingerprint of the key that minted ``token``, while the fake holds it."""
        grant = self._state.tokens.lookup(token, self._state.clock())
        return None if grant is None else grant.key

    @property
    def token_field(self) -> TokenField:
        """The token field(s) the mint response carries; settable at runtime."""
        return self._state.token_field

    @token_field.setter
    def token_field(self, value: TokenField) -> None:
        self._state.token_field = check_token_field(value)

    @property
    def ttl(self) -> int | None:
        """Token lifetime in seconds sent as ``ttl``; ``None`` omits it. Settable."""
        return self._state.ttl

    @ttl.setter
    def ttl(self, value: int | None) -> None:
        self._state.ttl = check_ttl(value)

    def set_token_field(self, token_field: TokenField) -> None:
        """Switch the mint response shape; same as assigning :attr:`token_field`."""
        self.token_field = token_field

    @property
    def calls(self) -> list[RecordedCall]:
        """A snapshot of the calls received, oldest first (the last ``max_calls``)."""
        return list(self._state.calls)

    def calls_to(self, route: FaultRoute) -> list[RecordedCall]:
        """The recorded calls to ``"client-secrets"``, ``"ice-config"`` or ``"calls"``."""
        path = PATHS[route]
        return [call for call in self._state.calls if call.path == path]

    def issued_secrets(self) -> set[str]:
        """The tokens and TURN credentials this fake has handed out and still holds.

        Leak checks use it: none of these may appear in a log line or an error body.
        """
        return self._state.tokens.secrets()

    @property
    def token_count(self) -> int:
        """Tokens currently held (expired ones linger until pruned on the next mint)."""
        return len(self._state.tokens)

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
            route: ``"client-secrets"``, ``"ice-config"`` or ``"calls"``.
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
        if route not in PATHS:
            raise ValueError(f"route must be one of {tuple(PATHS)}")
        drop_body = ROUTES[PATHS[route]].drop_body
        fault = build_fault(
            status=status,
            body=body,
            headers=headers,
            delay=delay,
            drop=drop,
            times=times,
            drop_body=drop_body,
        )
        self._faults.add(route, fault)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def reset(self) -> None:
        """Forget recorded calls, queued faults and minted tokens."""
        self._state.calls.clear()
        self.clear_faults()
        self._state.tokens.clear()

    def __repr__(self) -> str:
        # Never the API key: reprs end up in logs and assertion messages.
        state = self._state
        return (
            f"FakeOrga(token_field={state.token_field!r}, ttl={state.ttl!r}, "
            f"calls={len(state.calls)}, tokens={len(state.tokens)})"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (http and lifespan; anything else is ignored)."""
        await serve(self._state, self._faults, scope, receive, send)
