"""``OrgaMiddleware``: serve the endpoint at one path in front of any ASGI app.

Also the two pieces every way of serving the route shares: :func:`normalize_path` (the one
check of a route path, used by the Litestar and Quart adapters too) and
:func:`answer_lifespan` (the one lifespan responder, used by the endpoint served alone and
by the middleware in front of an app that does not speak lifespan).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._endpoint import OrgaClientSecrets
    from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_PATH", "OrgaMiddleware", "answer_lifespan", "match_path", "normalize_path"]

DEFAULT_PATH = "/api/orga-client-secrets"


def normalize_path(path: object) -> str:
    """Check a route path and return it without a trailing slash.

    Raises:
        ConfigurationError: ``path`` is not an absolute path such as ``/api/orga``
            (relative, ``/`` alone, or carrying a query or a fragment).
    """
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or not path.strip("/")
        or "?" in path
        or "#" in path
    ):
        raise ConfigurationError(
            f"path must be an absolute route path such as {DEFAULT_PATH!r}, not {path!r}."
        )
    return path.rstrip("/")


def match_path(scope: Scope, paths: frozenset[str]) -> bool:
    """Whether the request's path is one of ``paths``, with or without ``root_path``.

    Servers differ on whether ``scope["path"]`` includes ``root_path`` (the ASGI spec now
    says it does; older servers strip it): both spellings match.
    """
    path: str = scope["path"]
    if path in paths:
        return True
    root: str = scope.get("root_path", "")
    return bool(root) and path.startswith(root) and path[len(root) :] in paths


async def answer_lifespan(
    receive: Receive,
    send: Send,
    *,
    pending: str | None = None,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Answer the lifespan protocol: startup runs ``on_startup`` (a
    :class:`ConfigurationError` from it fails the startup, with its message), then
    completes; shutdown runs ``on_shutdown`` first, then completes.

    Args:
        receive: the lifespan scope's ``receive``.
        send: its ``send``.
        pending: a message type already received (by an app that then gave up).
        on_startup: what to check before the server hears that startup is complete.
        on_shutdown: what to close before the server hears that shutdown is complete.
    """
    while True:
        kind = pending or (await receive())["type"]
        pending = None
        if kind == "lifespan.startup":
            if on_startup is not None:
                try:
                    await on_startup()
                except ConfigurationError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            if on_shutdown is not None:
                await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


class OrgaMiddleware:
    """Serve ``endpoint`` at ``path``; pass everything else to ``app`` untouched.

    The path matches exactly, after the scope's ``root_path``, with or without a trailing
    slash. A sealed endpoint's relay is served beside it, at ``endpoint.relay_path``.
    Websockets and lifespan go to ``app``; when the server shuts the app down, the
    middleware also closes the endpoint's upstream pool and limit store.

    Args:
        app: the application to wrap.
        endpoint: the :class:`OrgaClientSecrets` to serve.
        path: where to serve it.

    Raises:
        ConfigurationError: ``path`` is not an absolute path.
    """

    def __init__(
        self, app: ASGIApp, *, endpoint: OrgaClientSecrets, path: str = DEFAULT_PATH
    ) -> None:
        self.app = app
        self.endpoint = endpoint
        self.path = normalize_path(path)
        self._paths = frozenset({self.path, self.path + "/"})
        relay = endpoint.relay_path
        if endpoint.relay is not None and relay in self._paths:
            raise ConfigurationError(f"path {path!r} is the relay's path; change one of them.")
        self._relay = frozenset({relay, relay + "/"}) if endpoint.relay is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if match_path(scope, self._paths):
                await self.endpoint(scope, receive, send)
            elif self._relay is not None and match_path(scope, self._relay):
                await self.endpoint.relay(scope, receive, send)  # type: ignore[misc]
            else:
                await self.app(scope, receive, send)
            return
        if kind != "lifespan":
            await self.app(scope, receive, send)
            return
        await self._lifespan(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoint
        received: list[str] = []
        answered = False

        async def tracked_receive() -> Message:
            message = await receive()
            received.append(message["type"])
            return message

        async def send_after_closing(message: Message) -> None:
            nonlocal answered
            answered = True
            # Close our pools before the server hears that shutdown is complete, so no
            # connection outlives the application.
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await endpoint.aclose()
            elif message["type"] == "lifespan.startup.complete":
                # The app started: check the endpoint's store before the server hears it.
                try:
                    await endpoint.startup()
                except ConfigurationError as exc:
                    message = {"type": "lifespan.startup.failed", "message": str(exc)}
            await send(message)

        try:
            await self.app(scope, tracked_receive, send_after_closing)
        except Exception:
            if answered:
                raise
            # The app does not speak lifespan (Django raises on it): answer it ourselves,
            # so shutdown still closes the endpoint.
            pending = received[-1] if received else None
            await answer_lifespan(
                receive,
                send,
                pending=pending,
                on_startup=endpoint.startup,
                on_shutdown=endpoint.aclose,
            )
