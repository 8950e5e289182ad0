"""Running uvicorn for ``dev`` and ``serve``: proxy headers off, the package's logs shown.

uvicorn's defaults trust ``X-Forwarded-For`` / ``X-Forwarded-Proto`` from 127.0.0.1 and
rewrite the scope's client and scheme before the app sees them, so a plain-HTTP request
from a local process could claim https and pick its per-IP bucket. Here trust comes from
``--trusted-proxy`` (``trusted_proxies``) alone.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any

__all__ = ["LOG_LEVELS", "log_config", "run"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def log_config(level: str) -> dict[str, Any]:
    """:func:`orga_asgi.logging.dict_config` at ``level``: uvicorn's loggers and the package's
    (one audit line per request at INFO) on stderr, each line with its request id, every
    record scrubbed of secrets."""
    from orga_asgi.logging import dict_config

    return dict_config(level)


def _parameters(function: Any) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)


def run(app: Any, args: argparse.Namespace, **options: Any) -> int:
    """Serve ``app`` (an app, or an import string with ``factory=True``) until stopped."""
    try:
        import uvicorn
    except ImportError:
        print("orga-asgi needs uvicorn: pip install 'orga-asgi[server]'", file=sys.stderr)
        return 2
    if options.get("workers", 1) > 1 and "timeout_worker_healthcheck" in _parameters(uvicorn.run):
        # Workers import the app before answering; on a busy host 5 s is too short and the
        # supervisor would kill and restart them while they start.
        options.setdefault("timeout_worker_healthcheck", 30)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=log_config(args.log_level),
        proxy_headers=False,
        forwarded_allow_ips="",
        server_header=False,
        # The audit line (path without the query, principal, outcome) replaces the access
        # log, which would print query strings unscrubbed.
        access_log=False,
        lifespan="on",
        **options,
    )
    return 0
