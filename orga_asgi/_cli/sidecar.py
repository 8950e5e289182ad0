"""The ``serve`` app: settings from flags over ``ORGA_*``, the hook, one shared limit.

``--workers`` above 1 runs separate processes; each rebuilds the app from the same state
(:data:`WORKER_ENV`), and they must share a store, or each would count its own limits.
``GET /healthz`` answers 200 once the app serves: for a container's or an orchestrator's
health check, which calls the process directly, so it needs no https and no caller.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from orga_asgi._config import EndpointConfig
from orga_asgi._errors import ConfigurationError

from .flags import given_settings
from .hooks import authorize_hook

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["HEALTH_PATH", "WORKER_ENV", "build_serve_app", "worker_app", "worker_state"]

HEALTH_PATH = "/healthz"

WORKER_ENV = "_ORGA_ASGI_SERVE"  # not ORGA_*: from_env would warn of an unknown setting
_STATE_KEYS = (
    "authorize", "jwks_url", "audience", "issuer", "path", "workers", "metrics_port", "host",
)  # fmt: skip


def worker_state(args: argparse.Namespace) -> str:
    """What a worker process needs to build the same app, as JSON (flags given, hook)."""
    state = {key: getattr(args, key, None) for key in _STATE_KEYS}
    return json.dumps({"environ": given_settings(args), **state})


async def _healthz(request: Request) -> Response:
    from starlette.responses import JSONResponse

    # Liveness only: no upstream call, so a slow Orga cannot get the process restarted.
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def _build(state: dict[str, Any]) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from orga_asgi._endpoint import OrgaClientSecrets
    from orga_asgi._middleware import OrgaMiddleware

    args = argparse.Namespace(**{key: state.get(key) for key in _STATE_KEYS})
    environ = {**os.environ, **state["environ"]}
    environ.pop("ORGA_SIDECAR_SECRET", None)  # the signed-header hook's, not a setting
    config = EndpointConfig.from_env(environ, authorize=authorize_hook(args))
    workers = args.workers or 1
    if args.metrics_port and workers > 1:
        raise ConfigurationError(
            f"--metrics-port serves one process's metrics and cannot be shared by --workers "
            f"{workers}: run one worker per sidecar, or export with OTLP instead."
        )
    if workers > 1 and config.storage_uri.split(":", 1)[0] in ("memory", ""):
        raise ConfigurationError(
            f"--workers {workers} needs --storage-uri redis://... (or valkey://...): with "
            f"memory:// each worker counts its own limits, so {workers} workers would let "
            f"{workers} times every rate limit through. Point them all at one Redis or Valkey."
        )
    if args.metrics_port:
        from .metrics import prometheus_observer

        observer = prometheus_observer(args.metrics_port, args.host or "127.0.0.1")
        config = dataclasses.replace(config, observers=(*config.observers, observer))
    endpoint = OrgaClientSecrets(config=config)
    # Starlette answers 404 elsewhere and runs the lifespan that closes us.
    app = Starlette(routes=[Route(HEALTH_PATH, _healthz, methods=["GET"])])
    return OrgaMiddleware(app, endpoint=endpoint, path=args.path)


def build_serve_app(args: argparse.Namespace) -> Any:
    """The sidecar for ``args``: the endpoint alone, against the real upstream.

    Raises:
        ConfigurationError: a setting is wrong, or ``--workers`` above 1 without a shared
            store.
    """
    return _build(json.loads(worker_state(args)))


def worker_app() -> Any:
    """The app factory each ``--workers`` process runs (uvicorn imports it by name)."""
    return _build(json.loads(os.environ[WORKER_ENV]))
