"""``OrgaPluginConfig``: the plugin's settings, on top of :class:`orga_asgi.EndpointConfig`.

The endpoint's own settings are one typed :class:`~orga_asgi.EndpointConfig` (validated
when it is built, with a did-you-mean for a wrong name), read from ``ORGA_*`` variables when
nothing is given; this class adds only what is Litestar's: the path, guards, the dependency,
the exception handler and the schema.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orga_asgi import (
    DEFAULT_PATH,
    AuthorizeHook,
    ConfigurationError,
    EndpointConfig,
    OrgaClientSecrets,
)
from orga_asgi.auth import scope_user

if TYPE_CHECKING:
    from litestar.types import Guard

__all__ = ["OrgaPluginConfig"]


@dataclass
class OrgaPluginConfig:
    """How :class:`~orga_asgi_litestar.OrgaPlugin` serves the route.

    Raises:
        ConfigurationError: from :meth:`from_env`, a variable or a setting is wrong.
    """

    path: str = DEFAULT_PATH
    """Where the route is served."""

    endpoint: EndpointConfig | OrgaClientSecrets | None = None
    """The endpoint's settings, an :class:`orga_asgi.EndpointConfig` (whose ``authorize``
    is e.g. :func:`orga_asgi.auth.scope_user`), or a ready endpoint. ``None``: read from the
    ``ORGA_*`` variables, ``EndpointConfig.from_env(authorize=...)`` with this config's
    ``authorize``. The plugin closes the endpoint at shutdown in every case."""

    authorize: AuthorizeHook | None = None
    """Who the caller is, when ``endpoint`` is ``None``; default
    :func:`orga_asgi.auth.scope_user`: the ``request.user`` set by the app's authentication
    middleware (no user: 401). An ``EndpointConfig`` carries its own."""

    guards: Sequence[Guard] = ()
    """Litestar guards run before the route (for GET and POST)."""

    dependency_key: str | None = "orga"
    """Name of the dependency providing the endpoint, for handlers that mint themselves:
    ``await orga.issue(principal)`` (annotate the parameter with :data:`OrgaDependency`).
    The handler decides who may mint; ``issue`` still applies that principal's rate limits
    and in-flight cap, as the route does (not the route's HTTPS, origin, body and per-address
    checks). What it raises is answered by the exception handler (``handle_errors``).
    ``None`` registers no dependency."""

    handle_errors: bool = True
    """Register an exception handler that answers every :class:`orga_asgi.OrgaError` a
    handler raises (``issue()`` rate limited, upstream down...) with the route's own status,
    JSON body and headers. An app's own handler for that exception class wins."""

    include_in_schema: bool = True
    """Document the route in the app's OpenAPI schema."""

    tags: Sequence[str] | None = None
    """OpenAPI tags of the route."""

    endpoint_options: Mapping[str, Any] | None = None
    """Deprecated: keyword arguments of :class:`orga_asgi.OrgaClientSecrets`; pass
    ``endpoint=EndpointConfig(...)`` (typed, checked) instead."""

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, Any] = os.environ,
        prefix: str = "ORGA_",
        *,
        authorize: AuthorizeHook | None = None,
        **settings: Any,
    ) -> OrgaPluginConfig:
        """The endpoint's settings from ``<prefix><FIELD>`` variables, as ``from_env`` reads.

        Args:
            environ: where to read (default ``os.environ``).
            prefix: the variables' prefix.
            authorize: who the caller is; default :func:`orga_asgi.auth.scope_user`.
            **settings: fields of this class (``path``, ``guards``, ``tags``...) and
                settings of :class:`orga_asgi.EndpointConfig` given in code, which win over
                the environment.

        Raises:
            ConfigurationError: a variable cannot be parsed, or a setting is unknown or wrong.
        """
        own = {name: settings.pop(name) for name in list(settings) if name in _OWN}
        endpoint = EndpointConfig.from_env(
            environ, prefix, authorize=authorize or scope_user(), **settings
        )
        return cls(endpoint=endpoint, **own)

    def build_endpoint(self) -> OrgaClientSecrets:
        """The endpoint these settings describe (the one given, when it is ready).

        Raises:
            ConfigurationError: a setting is wrong, or given twice.
        """
        if self.endpoint is not None and (self.endpoint_options or self.authorize is not None):
            raise ConfigurationError(
                "Pass either endpoint=... or endpoint_options/authorize, not both: "
                "a ready endpoint or an EndpointConfig already has its settings."
            )
        if isinstance(self.endpoint, OrgaClientSecrets):
            return self.endpoint
        if isinstance(self.endpoint, EndpointConfig):
            return OrgaClientSecrets(config=self.endpoint)
        if self.endpoint is not None:
            raise ConfigurationError(
                "endpoint must be an orga_asgi.EndpointConfig or an OrgaClientSecrets."
            )
        authorize = self.authorize or scope_user()
        if self.endpoint_options is None:
            return OrgaClientSecrets(config=EndpointConfig.from_env(authorize=authorize))
        warnings.warn(
            "OrgaPluginConfig(endpoint_options=...) is deprecated; pass "
            "endpoint=orga_asgi.EndpointConfig(...) or use OrgaPluginConfig.from_env().",
            DeprecationWarning,
            stacklevel=3,
        )
        options = dict(self.endpoint_options)
        if self.authorize is not None and "authorize" in options:
            raise ConfigurationError("authorize is given twice (config and endpoint_options).")
        options.setdefault("authorize", authorize)
        return OrgaClientSecrets(config=EndpointConfig(**options))


_OWN = frozenset(f.name for f in dataclasses.fields(OrgaPluginConfig)) - {
    "endpoint",
    "endpoint_options",
    "authorize",
}
