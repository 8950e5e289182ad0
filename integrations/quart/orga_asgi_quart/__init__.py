"""Quart extension for orga-asgi: the Orga client-secrets route, configured the Quart way.

How the route is served, and why: :class:`OrgaQuart` registers an ordinary Quart route
whose view hands the request to the core :class:`~orga_asgi.OrgaClientSecrets` as raw ASGI:
the server's scope unchanged, a ``receive`` that streams Quart's request body, and a
``send`` that records the core's response messages, which become the Quart response. Every
stage (request id, method and preflight, HTTPS, origin, body size, limits, authorize,
exchange) still runs in the core, in its order, while the view runs inside Quart's request
context: the core awaits the authorize hook in the view's own task, so
:func:`quart_auth_user` reads quart-auth's ``current_user`` (cookie or bearer mode, custom
user classes) as any view does. Wrapping ``app.asgi_app`` instead would run the core
outside that context and make the adapter re-implement quart-auth's cookie check. The costs:
the small JSON response is buffered, and the app's own ``before_request`` and
``after_request`` functions apply to the route, as to any Quart route.

A sealed endpoint's relay (``POST {relay_prefix}/v1/realtime/calls``) is served the same way,
by a second route at ``endpoint.relay_path`` whose view hands the request to
``endpoint.relay``: its own front stages, body cap and error bodies, every method.

Lifecycle: ``before_serving`` checks that quart-auth is set up when the hook needs it,
``after_serving`` awaits ``endpoint.aclose()`` (upstream pool, limit store); the endpoint
opens its pool lazily, on the serving loop, at the first request.

Example::

    app = Quart(__name__)
    QuartAuth(app)
    OrgaQuart(app, authorize=quart_auth_user)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio
from quart import Quart, Response, current_app, has_request_context, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge

from orga_asgi import (
    DEFAULT_PATH,
    ConfigurationError,
    EndpointConfig,
    OrgaClientSecrets,
    PayloadTooLarge,
    Principal,
    _settings,
)
from orga_asgi._log import get_logger
from orga_asgi._middleware import normalize_path

if TYPE_CHECKING:
    from quart.wrappers.request import Body
    from starlette.requests import Request

    from orga_asgi._types import ASGIApp

__all__ = ["EXTENSION_KEY", "OrgaQuart", "OrgaState", "quart_auth_user"]

__version__ = "0.1.0"

EXTENSION_KEY = "orga"
"""Where :meth:`OrgaQuart.init_app` keeps the app's :class:`OrgaState` in ``app.extensions``."""

_Message = MutableMapping[str, Any]
_PREFIX = "ORGA_"
# The one naming rule of EndpointConfig.from_env (ORGA_<FIELD>), plus the route's ORGA_PATH.
_KEYS = frozenset(_PREFIX + f.name.upper() for f in dataclasses.fields(EndpointConfig) if f.init)
_PATH_KEY = _PREFIX + "PATH"
logger = get_logger("orga_asgi.config")
# The core answers every method itself (405 JSON, CORS preflight), so Quart must route them
# all to the view rather than answer OPTIONS or 405 on its own. HEAD comes with GET.
_METHODS = ["GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]


@dataclasses.dataclass(frozen=True)
class OrgaState:
    """One app's part of the extension, at ``app.extensions["orga"]``.

    Attributes:
        endpoint: the core endpoint serving the route for this app.
        path: the route's path.
    """

    endpoint: OrgaClientSecrets
    path: str


class OrgaQuart:
    """Serve the Orga client-secrets route in a Quart app.

    Settings come from ``app.config`` keys ``ORGA_<OPTION>`` (``ORGA_API_KEY``,
    ``ORGA_BASE_URL``, ``ORGA_PATH``, ``ORGA_RATE_LIMITS``, ``ORGA_TRUSTED_PROXIES``,
    ``ORGA_ALLOWED_ORIGINS``, ``ORGA_STORAGE_URI``, ... one per field of
    :class:`~orga_asgi.EndpointConfig`), read by the parser of
    :meth:`~orga_asgi.EndpointConfig.from_env` (text is parsed, other values kept); options
    given here win. Other ``ORGA_*`` keys (the app's own) are ignored, named in one WARNING
    with a did-you-mean. One instance may be set up on several apps: each gets its own
    endpoint, limits and upstream pool.

    Args:
        app: the app to set up now; or call :meth:`init_app` later.
        **options: ``path`` (default ``/api/orga-client-secrets``) and the options of
            :class:`~orga_asgi.OrgaClientSecrets`; ``authorize`` is required, e.g.
            :func:`quart_auth_user`. A sealed endpoint's relay is served beside the route, at
            ``endpoint.relay_path``.

    Raises:
        ConfigurationError: an option is unknown (with a did-you-mean), or a setting is wrong.
    """

    def __init__(self, app: Quart | None = None, **options: Any) -> None:
        _settings.check_names(EndpointConfig, _without_path(options), "OrgaQuart")
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Build ``app``'s endpoint, register its route (and a sealed endpoint's relay) and
        its serving hooks.

        Raises:
            ConfigurationError: a setting is wrong, ``app`` already has the extension, or the
                route's path is the relay's.
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError("OrgaQuart is already set up on this app.")
        found = _orga_keys(app.config)
        from_config = found.pop(_PATH_KEY, None)  # the route's, not the endpoint's
        path = normalize_path(self.options.get("path") or from_config or DEFAULT_PATH)
        config = EndpointConfig.from_env(found, _PREFIX, **_without_path(self.options))
        endpoint = OrgaClientSecrets(config=config)
        relay = endpoint.relay
        if relay is not None and path == endpoint.relay_path:
            raise ConfigurationError(
                f"path {path!r} is the relay's path; change path=... (ORGA_PATH) or "
                "relay_prefix=... (ORGA_RELAY_PREFIX)."
            )
        state = OrgaState(endpoint=endpoint, path=path)
        app.extensions[EXTENSION_KEY] = state
        view = _view(endpoint, "orga_client_secrets")
        app.add_url_rule(
            state.path, "orga_client_secrets", view, methods=_METHODS, strict_slashes=False
        )
        if relay is not None:
            app.add_url_rule(
                endpoint.relay_path,
                "orga_relay",
                _view(relay, "orga_relay"),
                methods=_METHODS,
                strict_slashes=False,
            )
        authorize = endpoint.config.authorize

        async def check_setup() -> None:
            # Extensions may be set up in any order; by serving time all of them are.
            if authorize is quart_auth_user and "QUART_AUTH" not in app.extensions:
                raise ConfigurationError("quart_auth_user needs quart_auth.QuartAuth(app).")

        async def close() -> None:
            await endpoint.aclose()  # the pool, the limit store, the hook's own client

        app.before_serving(check_setup)
        app.after_serving(close)


async def quart_auth_user(request: Request) -> Principal | None:
    """Authorize hook: the caller is quart-auth's ``current_user``, its id the ``auth_id``.

    Pass it as ``authorize=`` to :class:`OrgaQuart`; it needs ``QuartAuth(app)`` (the
    ``auth`` extra) and Quart's request context, which the route's view provides. A user who
    is not authenticated gets 401 from the core.

    Raises:
        RuntimeError: called outside a Quart request (e.g. behind ``OrgaMiddleware``).
    """
    from quart_auth import current_user

    if not has_request_context():
        raise RuntimeError("quart_auth_user works only on the route OrgaQuart registers.")
    if not await current_user.is_authenticated:
        return None
    auth_id = current_user.auth_id
    return Principal(id=str(auth_id)) if auth_id else None


def _without_path(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "path"}


def _orga_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``app.config`` keys that are settings; the app's other ``ORGA_*`` keys are its own.

    They are named in one WARNING (never with their value, which may be a secret), with a
    did-you-mean for a near miss such as ``ORGA_RATE_LIMIT``.
    """
    found: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in config.items():
        if not isinstance(key, str) or not key.startswith(_PREFIX):
            continue
        if key in _KEYS or key == _PATH_KEY:
            found[key] = value
        else:
            unknown.append(key)
    if unknown:
        names = []
        known = sorted(k[len(_PREFIX) :] for k in (*_KEYS, _PATH_KEY))
        for key in sorted(unknown):
            # Without the shared prefix, which would make every name look close.
            close = difflib.get_close_matches(key[len(_PREFIX) :], known, n=1)
            names.append(f"{key} (did you mean {_PREFIX}{close[0]}?)" if close else key)
        logger.warning(
            "OrgaQuart ignores app.config %s: not settings of orga-asgi (they are "
            "ORGA_<FIELD> for each field of orga_asgi.EndpointConfig, and ORGA_PATH).",
            ", ".join(names),
        )
    return found


def _view(app: ASGIApp, name: str) -> Callable[[], Awaitable[Response]]:
    """A view that lets ``app`` (the endpoint, or its relay) answer the request as ASGI."""

    async def view() -> Response:
        sent: list[_Message] = []

        async def send(message: _Message) -> None:
            sent.append(message)

        await app(request.scope, _receive(request.body), send)  # type: ignore[arg-type]
        if not sent or sent[0]["type"] != "http.response.start":
            raise RuntimeError("the orga-asgi endpoint sent no response")
        start = sent[0]
        headers = Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]])
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return current_app.response_class(body, status=start["status"], headers=headers)

    view.__name__ = view.__qualname__ = name
    return view


def _receive(body: Body) -> Callable[[], Awaitable[_Message]]:
    """ASGI ``receive`` over Quart's body, chunk by chunk, so the core's size limit holds."""
    chunks = body.__aiter__()
    done = False

    async def receive() -> _Message:
        nonlocal done
        if done:  # like a server: nothing more until the client goes away
            await anyio.sleep_forever()
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        except RequestEntityTooLarge:  # Quart's MAX_CONTENT_LENGTH is below the core's
            raise PayloadTooLarge("over MAX_CONTENT_LENGTH") from None
        return {"type": "http.request", "body": chunk, "more_body": True}

    return receive
