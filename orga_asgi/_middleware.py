"""``OrgaMiddleware``: serve the endpoint at one path in front of any ASGI app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._endpoint import OrgaClientSecrets
    from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_PATH", "OrgaMiddleware"]

DEFAULT_PATH = "/api/orga-client-secrets"


class OrgaMiddleware:
    """Serve ``endpoint`` at ``path``; pass everything else to ``app`` untouched.

    The path matches exactly, after the scope's ``root_path``, with or without a trailing
    slash. Websockets and lifespan go to ``app``; when the server shuts the app down, the
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
        if not path.startswith("/") or path == "/" or "?" in path or "#" in path:
            raise ConfigurationError(
                f"path must be an absolute route path such as {DEFAULT_PATH!r}, not {path!r}."
            )
        self.app = app
        self.endpoint = endpoint
        self.path = path.rstrip("/")
        self._paths = frozenset({self.path, self.path + "/"})

    def _matches(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path in self._paths:
            return True
        # Servers differ on whether scope["path"] includes root_path (the ASGI spec now
        # says it does; older servers strip it): accept both spellings.
        root: str = scope.get("root_path", "")
        return bool(root) and path.startswith(root) and path[len(root) :] in self._paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self._matches(scope):
                await self.endpoint(scope, receive, send)
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
            await send(message)

        try:
            await self.app(scope, tracked_receive, send_after_closing)
        except Exception:
            if answered:
                raise
            # The app does not speak lifespan (Django raises on it): answer it ourselves,
            # so shutdown still closes the endpoint.
            await _answer_lifespan(received, receive, send_after_closing)


async def _answer_lifespan(received: list[str], receive: Receive, send: Send) -> None:
    pending = received[-1] if received else None
    while True:
        kind = pending or (await receive())["type"]
        pending = None
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
