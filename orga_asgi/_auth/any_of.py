"""Several authorize hooks tried in order, closed together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from orga_asgi._principal import AuthHook, AuthorizeHook, Principal, as_async_hook

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["AnyOf"]


class AnyOf(AuthHook):
    """The first principal ``hooks`` find; see :func:`orga_asgi.auth.any_of`."""

    def __init__(self, hooks: Sequence[AuthorizeHook]) -> None:
        self._hooks = tuple(hooks)
        self._checks = [as_async_hook(h) for h in hooks]
        challenges = (getattr(h, "www_authenticate", None) for h in hooks)
        self.www_authenticate = next((c for c in challenges if c), None)

    async def __call__(self, request: Request) -> Principal | None:
        for check in self._checks:
            principal = await check(request)
            if principal is not None:
                return principal
        return None

    async def aclose(self) -> None:
        # Every member is closed even when one fails; the first failure is raised after.
        failure: BaseException | None = None
        for hook in self._hooks:
            close = getattr(hook, "aclose", None)  # plain callables may carry one too
            if close is None:
                continue
            try:
                await close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
