"""``OrgaRouter``: the orga-asgi route as a documented FastAPI route behind your dependency.

Why a FastAPI route whose response *is the core endpoint run as ASGI*, and not
``await endpoint.issue(principal)`` in the handler:

* ``issue()`` skips the front of the core's pipeline (HTTPS, origin, body cap, per-IP and
  per-user limits, the audit line); rebuilding those stages here would fork them. Instead the
  handler stores the resolved user in the request scope and returns a response whose
  ``__call__`` awaits ``endpoint(scope, receive, send)`` with the untouched ``receive`` (the
  handler declares no body parameter, so FastAPI reads no body). The core then runs every
  stage as it does anywhere else; its ``authorize`` hook only reads that stored user and
  turns it into a :class:`orga_asgi.Principal`. Every ``OrgaError`` therefore leaves as the
  core's standard body and headers, the same as :func:`orga_asgi.error_response`.
* ``current_user`` is a parameter default of the handler (``Depends``/``Security``), so
  FastAPI's own injection resolves it: sub-dependencies, security schemes and scopes in the
  OpenAPI schema, and ``app.dependency_overrides`` in tests. It runs before the core's
  stages; an ``HTTPException`` it raises keeps FastAPI's own error body.

A second route, hidden from the schema and without ``current_user``, hands every other method
to the core, so CORS preflights and the core's 405 body keep working. A sealed endpoint's
relay (``POST {relay_prefix}/v1/realtime/calls``) is a plain Starlette ``Route`` whose app *is*
``endpoint.relay``: every method, the raw scope, ``receive`` and ``send``, no dependency (the
session handle is its credential) and no OpenAPI entry; a prefix given to ``include_router``
applies to it as to the token route. The router's lifespan
closes the endpoint: FastAPI merges an included router's lifespan into the app's from 0.115.2
(the oldest release claimed) up to the latest.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Depends, params
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from orga_asgi import DEFAULT_PATH, ConfigurationError, OrgaClientSecrets, Principal
from orga_asgi._middleware import normalize_path
from orga_asgi.schema import ERRORS as CORE_ERRORS
from orga_asgi.schema import ClientSecretsBody, ErrorBody, IceServer

__all__ = ["ClientSecretsBody", "ErrorBody", "IceServer", "OrgaRouter", "PrincipalOf"]

PrincipalOf = Callable[[Any], Principal | None]
"""Turns the ``current_user`` dependency's value into the caller's Principal (None: 401)."""

_USER = "orga_asgi_fastapi.user"  # the scope key the handler stores the resolved user under

_DEP = " An HTTPException raised by `current_user` has FastAPI's error body instead."
_ERRORS: dict[int, str] = {
    **CORE_ERRORS,
    401: "`unauthorized`: `current_user` gave no user." + _DEP,
    500: "`internal_error`: turning the user into a Principal failed.",
}
_OTHER_METHODS = ["OPTIONS", "PUT", "PATCH", "DELETE"]


def default_principal(user: Any) -> Principal | None:
    """The default ``principal``: ``None`` stays ``None`` (401), a Principal is kept,
    anything else becomes ``Principal(id=str(user.id))``."""
    if user is None or isinstance(user, Principal):
        return user
    user_id = getattr(user, "id", None)
    if user_id is None:
        raise TypeError(
            f"orga_asgi_fastapi: a {type(user).__name__} has no 'id' attribute; pass "
            "OrgaRouter(principal=lambda user: Principal(id=...)) to say who it is."
        )
    return Principal(id=str(user_id))


class _Core(Response):
    """A response that lets the core endpoint answer the request itself."""

    def __init__(self, endpoint: OrgaClientSecrets) -> None:
        super().__init__()
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._endpoint(scope, receive, send)


class OrgaRouter(APIRouter):
    """An ``APIRouter`` serving the Orga client-secrets route; ``app.include_router(it)``.

    Args:
        current_user: a FastAPI dependency returning the user or ``None`` (401), or a ready
            ``Depends(...)``/``Security(..., scopes=[...])``.
        principal: turns the user into a :class:`orga_asgi.Principal`; default: a Principal
            kept as is, else ``Principal(id=str(user.id))``.
        path: where the route is served. A sealed endpoint's relay is served beside it, at
            ``endpoint.relay_path``.
        endpoint: a ready endpoint (built with ``authorize=OrgaRouter.authorize_hook``);
            leave ``None`` to build one from ``endpoint_options``.
        tags: OpenAPI tags of the route.
        include_in_schema: document the route in the app's OpenAPI schema.
        **endpoint_options: keywords of :class:`orga_asgi.OrgaClientSecrets` (``api_key``,
            ``rate_limits``, ``allowed_origins``, ...), except ``authorize``.

    Raises:
        ConfigurationError: a setting is wrong (also any error of ``OrgaClientSecrets``), or
            ``path`` is the relay's path.
    """

    def __init__(
        self,
        current_user: Callable[..., Any] | params.Depends,
        *,
        principal: PrincipalOf | None = None,
        path: str = DEFAULT_PATH,
        endpoint: OrgaClientSecrets | None = None,
        tags: list[str] | None = None,
        include_in_schema: bool = True,
        **endpoint_options: Any,
    ) -> None:
        route_path = normalize_path(path)  # the core's one route-path check
        if "authorize" in endpoint_options:
            raise ConfigurationError(
                "OrgaRouter decides who asks through current_user=...; drop authorize=..."
            )
        if endpoint is not None and endpoint_options:
            raise ConfigurationError(
                "Pass either endpoint=... or endpoint settings, not both: a ready endpoint "
                "already has its settings."
            )
        self._principal_of = principal or default_principal
        if endpoint is None:
            endpoint = OrgaClientSecrets(authorize=self.authorize_hook, **endpoint_options)
        self.endpoint = endpoint
        if endpoint.relay is not None and route_path == endpoint.relay_path:
            raise ConfigurationError(
                f"path {path!r} is the relay's path; change path=... or the endpoint's "
                "relay_prefix=..."
            )
        super().__init__(lifespan=self._lifespan)
        dependency = (
            current_user if isinstance(current_user, params.Depends) else Depends(current_user)
        )

        async def orga_client_secrets(request: Request, user: Any = dependency) -> Response:
            request.scope[_USER] = user
            return _Core(endpoint)

        async def orga_client_secrets_other_methods() -> Response:
            return _Core(endpoint)

        for method in ("GET", "POST"):  # one route each: one operation id each
            self.add_api_route(
                path,
                orga_client_secrets,
                methods=[method],
                response_model=None,
                tags=list(tags) if tags else None,
                include_in_schema=include_in_schema,
                summary="Mint Orga realtime client secrets",
                description="A short-lived Orga token and the ICE servers that belong to it, "
                "for the caller `current_user` names. Errors are `{error, message, requestId}`.",
                responses=_responses(),
                name="orga_client_secrets",
            )
        self.add_api_route(
            path,
            orga_client_secrets_other_methods,
            methods=_OTHER_METHODS,
            response_model=None,
            include_in_schema=False,
        )
        if endpoint.relay is not None:
            # The relay is an ASGI app: Starlette hands it the request untouched, every method.
            self.routes.append(
                Route(
                    endpoint.relay_path,
                    endpoint.relay,
                    include_in_schema=False,
                    name="orga_relay",
                )
            )

    def authorize_hook(self, request: Request) -> Principal | None:
        """The core's ``authorize``: the user the route's dependency resolved, as a Principal.

        Args:
            request: the request the core is serving.

        Returns:
            The caller's Principal, or ``None`` (401).
        """
        return self._principal_of(request.scope.get(_USER))

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        async with self.endpoint:
            yield


def _responses() -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {
        200: {"model": ClientSecretsBody, "description": "The credentials."}
    }
    out.update({code: {"model": ErrorBody, "description": d} for code, d in _ERRORS.items()})
    return out
