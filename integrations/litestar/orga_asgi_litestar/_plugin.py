"""``OrgaPlugin``: the orga-asgi route as a first-class Litestar route.

Why an HTTP route handler that *returns the core endpoint as its ASGI response*, and not an
``@asgi`` handler or a middleware:

* Litestar's OpenAPI plugin only documents ``HTTPRoute`` handlers (``litestar/_openapi/
  plugin.py``, ``receive_route`` skips every other route), so an ``@asgi`` handler could
  never appear in the schema.
* An HTTP handler whose return annotation is an ASGI app gets Litestar's generic ASGI
  response handler: ``HTTPRoute.handle`` then awaits ``app(scope, receive, send)`` with the
  untouched ``receive`` (the handler asks for no ``data``, so Litestar reads no body). The
  core therefore runs its whole pipeline (request id, HTTPS, origin, body size, limits,
  authorize, exchange) exactly as it does anywhere else; no stage is re-implemented here.
* Litestar runs the handler's guards, and the app's authentication middleware sets
  ``scope["user"]``, before the handler is called: the default ``authorize`` hook,
  :func:`orga_asgi.auth.scope_user`, reads that user, so no second auth layer is needed.

GET and POST are the documented operation. A second handler, hidden from the schema and
without the plugin's guards, hands every other method to the core too, so CORS preflights
(``allowed_origins``) and the core's own 405 body keep working. Both handlers set an
identity ``after_request`` hook: the app's hooks expect a ``Response`` (``.headers``,
``.set_cookie``) and this route has none, so they are not applied to it.

A sealed endpoint's relay (``POST {relay_prefix}/v1/realtime/calls``) is an ``@asgi`` handler
at ``endpoint.relay_path`` that awaits ``endpoint.relay`` with the raw scope, ``receive`` and
``send``: every method, the relay's own front stages, body cap and error bodies. The session
handle is its credential, so it has none of the plugin's guards, is excluded from the app's
authentication middleware (``exclude_from_auth``) and is not in the schema.

Handlers of the app that mint themselves (``await orga.issue(...)`` through the ``orga``
dependency) raise :class:`orga_asgi.OrgaError`; the plugin registers
:func:`orga_error_handler` for it, so a rate limit there is the route's 429 (same body,
``Retry-After``, ``Cache-Control: no-store``), not Litestar's 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from litestar import Request, Response, asgi, route
from litestar.di import Provide
from litestar.enums import HttpMethod
from litestar.handlers import ASGIRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import InitPlugin
from litestar.types import ASGIApp  # at runtime: Litestar resolves the return annotation
from litestar.types import Receive as LitestarReceive
from litestar.types import Scope as LitestarScope
from litestar.types import Send as LitestarSend

from orga_asgi import ConfigurationError, OrgaClientSecrets, OrgaError, RequestError, error_response
from orga_asgi._log import get_logger
from orga_asgi._middleware import normalize_path

from ._config import OrgaPluginConfig
from ._schema import ERRORS, ClientSecretsBody, ErrorBody, IceServer

if TYPE_CHECKING:
    from litestar.config.app import AppConfig

    OrgaDependency = OrgaClientSecrets
else:
    try:  # Litestar >= 2.23 deprecates dependencies inferred from the parameter name alone
        from litestar.di import NamedDependency
    except ImportError:  # pragma: no cover - older Litestar
        OrgaDependency = OrgaClientSecrets
    else:
        OrgaDependency = NamedDependency[OrgaClientSecrets]
# OrgaDependency: annotate a handler parameter named like ``dependency_key`` with it, e.g.
# ``async def mint(orga: OrgaDependency)``; statically it is ``OrgaClientSecrets``.

__all__ = [
    "ClientSecretsBody",
    "ErrorBody",
    "IceServer",
    "OrgaDependency",
    "OrgaPlugin",
    "OrgaPluginConfig",
    "orga_error_handler",
]

logger = get_logger("orga_asgi.litestar")
_OTHER_METHODS = [m for m in HttpMethod if m not in (HttpMethod.GET, HttpMethod.POST)]


def orga_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Answer an :class:`orga_asgi.OrgaError` as the route does: status, JSON, headers.

    :class:`OrgaPlugin` registers it for ``OrgaError`` (``handle_errors``); register it
    yourself with ``exception_handlers={OrgaError: orga_error_handler}`` on a router or
    handler that the plugin does not cover. The caller's valid ``X-Request-ID`` is kept, as
    on the route. An error that is no :class:`orga_asgi.RequestError` (a server fault) is a
    500 ``internal_error``, logged with its traceback.

    Args:
        request: the request being served.
        exc: the error a handler raised.

    Returns:
        The route's answer to ``exc``.
    """
    if not isinstance(exc, RequestError):
        logger.error("a handler raised %s", type(exc).__name__, exc_info=exc)
    answer = error_response(exc, request_id=request.headers.get("x-request-id"))
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in answer.raw_headers}
    return Response(
        bytes(answer.body),
        status_code=answer.status_code,
        headers=headers,
        media_type=headers.get("content-type"),
    )


class OrgaPlugin(InitPlugin):
    """Serve the Orga client-secrets route in a Litestar app.

    ``on_app_init`` adds the route (documented in OpenAPI with its 200 and error bodies),
    a sealed endpoint's relay at ``endpoint.relay_path`` (not in the schema), a shutdown
    hook closing the endpoint, the ``orga`` dependency and the exception handler for
    :class:`orga_asgi.OrgaError`.

    Args:
        config: the plugin settings; default: every default of :class:`OrgaPluginConfig`,
            the endpoint's settings read from the ``ORGA_*`` environment variables.

    Raises:
        ConfigurationError: a setting is wrong (also any error of ``OrgaClientSecrets``), or
            ``path`` is the relay's path.
    """

    __slots__ = ("config", "endpoint")

    def __init__(self, config: OrgaPluginConfig | None = None) -> None:
        config = config if config is not None else OrgaPluginConfig()
        path = normalize_path(config.path)  # the core's one route-path check
        self.config = config
        self.endpoint = config.build_endpoint()
        if self.endpoint.relay is not None and path == self.endpoint.relay_path:
            raise ConfigurationError(
                f"path {config.path!r} is the relay's path; change OrgaPluginConfig(path=...) "
                "or the endpoint's relay_prefix=..."
            )

    def _provide(self) -> OrgaClientSecrets:
        return self.endpoint

    @staticmethod
    async def _as_is(response: ASGIApp) -> ASGIApp:
        return response

    def _relay_handler(self, relay: ASGIApp) -> ASGIRouteHandler:
        async def orga_relay(
            scope: LitestarScope, receive: LitestarReceive, send: LitestarSend
        ) -> None:
            await relay(scope, receive, send)

        return asgi(
            self.endpoint.relay_path,
            name="orga_relay",
            copy_scope=True,
            opt={"exclude_from_auth": True},  # the session handle is the credential
        )(orga_relay)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the route (and a sealed endpoint's relay), the shutdown hook and the
        dependency to the app.

        Args:
            app_config: the application's configuration, being built.

        Returns:
            The same configuration, extended.
        """
        config = self.config
        # Litestar types ASGI apps with its own scope types; the core uses plain mappings.
        endpoint = cast("ASGIApp", self.endpoint)

        async def orga_client_secrets() -> ASGIApp:
            return endpoint

        async def orga_client_secrets_other_methods() -> ASGIApp:
            return endpoint

        documented = route(
            config.path,
            http_method=[HttpMethod.GET, HttpMethod.POST],
            status_code=200,
            guards=list(config.guards),
            include_in_schema=config.include_in_schema,
            tags=list(config.tags) if config.tags else None,
            summary="Mint Orga realtime client secrets",
            description="A short-lived Orga token and the ICE servers that belong to it, "
            "for the authenticated caller. Errors are `{error, message, requestId}`.",
            responses={
                200: ResponseSpec(
                    ClientSecretsBody, generate_examples=False, description="The credentials."
                ),
                **{
                    code: ResponseSpec(ErrorBody, generate_examples=False, description=text)
                    for code, text in ERRORS.items()
                },
            },
            name="orga_client_secrets",
            after_request=self._as_is,
        )(orga_client_secrets)
        hidden = route(
            config.path,
            http_method=_OTHER_METHODS,
            status_code=200,
            include_in_schema=False,
            after_request=self._as_is,
        )(orga_client_secrets_other_methods)
        # The hidden handler first: it claims OPTIONS before Litestar adds its default one.
        app_config.route_handlers.extend([hidden, documented])
        if self.endpoint.relay is not None:
            app_config.route_handlers.append(
                self._relay_handler(cast("ASGIApp", self.endpoint.relay))
            )
        app_config.on_shutdown.append(self.endpoint.aclose)
        if config.dependency_key:
            app_config.dependencies[config.dependency_key] = Provide(
                self._provide, sync_to_thread=False
            )
        if config.handle_errors:  # the app's own handler for OrgaError wins
            app_config.exception_handlers.setdefault(OrgaError, orga_error_handler)
        return app_config
