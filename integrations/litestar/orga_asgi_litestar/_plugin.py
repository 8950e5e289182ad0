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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, cast

from litestar import route
from litestar.di import Provide
from litestar.enums import HttpMethod
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import InitPlugin
from litestar.types import ASGIApp  # at runtime: Litestar resolves the return annotation

from orga_asgi import DEFAULT_PATH, AuthorizeHook, ConfigurationError, OrgaClientSecrets
from orga_asgi._middleware import normalize_path
from orga_asgi.auth import scope_user

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.types import Guard

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
]


class _IceServerRequired(TypedDict):
    urls: str | list[str]


class IceServer(_IceServerRequired, total=False):
    """One ``RTCIceServer``; TURN entries carry credentials bound to the token."""

    username: str
    credential: str


class _ClientSecretsRequired(TypedDict):
    ephemeralToken: str
    iceServers: list[IceServer]


class ClientSecretsBody(_ClientSecretsRequired, total=False):
    """The 200 body; ``ttl`` and ``expiresAt`` come when the upstream gave a ttl."""

    ttl: int
    expiresAt: datetime


class ErrorBody(TypedDict):
    """Every error the core sends: a stable code, a fixed message, the request id."""

    error: str
    message: str
    requestId: str


_GUARD = " A refusal by a Litestar guard has Litestar's error body instead."
_ERRORS: dict[int, str] = {
    401: "`unauthorized`: no authenticated user (the authorize hook returned None)." + _GUARD,
    403: "`forbidden`, `https_required` or `cross_origin_forbidden`." + _GUARD,
    413: "`payload_too_large`: the request body is over `max_body_size`.",
    429: "`rate_limited` or `too_many_in_flight`; see `Retry-After`.",
    500: "`internal_error`: the authorize hook raised.",
    502: "`upstream_auth_failed`, `upstream_unavailable` or `upstream_invalid_response`.",
    503: "`busy`, `rate_limiter_unavailable` or `upstream_rate_limited`; see `Retry-After`.",
    504: "`upstream_timeout`: Orga did not answer within the deadline.",
}
_OTHER_METHODS = [m for m in HttpMethod if m not in (HttpMethod.GET, HttpMethod.POST)]


@dataclass
class OrgaPluginConfig:
    """How :class:`OrgaPlugin` serves the route."""

    path: str = DEFAULT_PATH
    """Where the route is served."""

    endpoint: OrgaClientSecrets | None = None
    """A ready endpoint to serve; leave ``None`` to build one from ``endpoint_options``.
    The plugin closes it at shutdown either way."""

    endpoint_options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of :class:`orga_asgi.OrgaClientSecrets` (``api_key``,
    ``rate_limits``, ``allowed_origins``, ...), used when ``endpoint`` is ``None``."""

    authorize: AuthorizeHook | None = None
    """Who the caller is; default :func:`orga_asgi.auth.scope_user`: the ``request.user``
    set by the app's authentication middleware (no user: 401)."""

    guards: Sequence[Guard] = ()
    """Litestar guards run before the route (for GET and POST)."""

    dependency_key: str | None = "orga"
    """Name of the dependency providing the endpoint, for handlers that mint themselves
    (``await orga.issue(principal)``: no authorization or rate limit there, the handler
    decides); annotate it with :data:`OrgaDependency`. ``None`` registers none."""

    include_in_schema: bool = True
    """Document the route in the app's OpenAPI schema."""

    tags: Sequence[str] | None = None
    """OpenAPI tags of the route."""


class OrgaPlugin(InitPlugin):
    """Serve the Orga client-secrets route in a Litestar app.

    ``on_app_init`` adds the route (documented in OpenAPI with its 200 and error bodies),
    a shutdown hook closing the endpoint, and the ``orga`` dependency.

    Args:
        config: the plugin settings; default: every default of :class:`OrgaPluginConfig`.

    Raises:
        ConfigurationError: a setting is wrong (also any error of ``OrgaClientSecrets``).
    """

    __slots__ = ("config", "endpoint")

    def __init__(self, config: OrgaPluginConfig | None = None) -> None:
        config = config if config is not None else OrgaPluginConfig()
        normalize_path(config.path)  # the core's one route-path check
        if config.endpoint is not None:
            if config.endpoint_options or config.authorize is not None:
                raise ConfigurationError(
                    "Pass either endpoint=... or endpoint_options/authorize, not both: "
                    "a ready endpoint already has its settings."
                )
            endpoint = config.endpoint
        else:
            options = dict(config.endpoint_options)
            if config.authorize is not None and "authorize" in options:
                raise ConfigurationError("authorize is given twice (config and endpoint_options).")
            options.setdefault("authorize", config.authorize or scope_user())
            endpoint = OrgaClientSecrets(**options)
        self.config = config
        self.endpoint = endpoint

    def _provide(self) -> OrgaClientSecrets:
        return self.endpoint

    @staticmethod
    async def _as_is(response: ASGIApp) -> ASGIApp:
        return response

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the route, the shutdown hook and the dependency to the app.

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
                    for code, text in _ERRORS.items()
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
        app_config.on_shutdown.append(self.endpoint.aclose)
        if config.dependency_key:
            app_config.dependencies[config.dependency_key] = Provide(
                self._provide, sync_to_thread=False
            )
        return app_config
