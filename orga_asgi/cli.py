"""``orga-asgi dev`` (a sandbox endpoint, no account) and ``orga-asgi serve`` (a sidecar).

Both run uvicorn (the ``server`` extra) with its own proxy-header handling off: whether a
``Forwarded`` / ``X-Forwarded-*`` header is believed is decided by ``--trusted-proxy``
alone, never by the server's defaults (uvicorn trusts 127.0.0.1 out of the box).

Each subcommand is one ``sub.add_parser(...)`` in :func:`_parser` with
``set_defaults(run=function)``; :func:`main` calls ``args.run(args)`` for its exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from ._cli import server
from ._errors import ConfigurationError
from ._middleware import DEFAULT_PATH

if TYPE_CHECKING:
    from starlette.requests import Request

    from ._principal import Principal

__all__ = ["build_dev_app", "build_serve_app", "main"]

_DESCRIPTION = (
    "Serve the Orga client-secrets endpoint. dev: a sandbox against an in-process fake "
    "Orga, no account needed. serve: the endpoint alone as a sidecar against Orga, for "
    "backends in any language."
)
_BANNER = """\
orga-asgi dev: SANDBOX. Tokens come from an in-process FakeOrga, not from Orga;
no account or API key is needed, and anonymous callers are let in from loopback only.
Try:  curl -s http://{host}:{port}{path}
"""


def _loopback_anonymous(request: Request) -> Principal | None:
    from ._principal import Principal
    from ._proxy import is_loopback, is_loopback_host

    # The peer and the Host both: a rebound DNS name reaches loopback with its own Host.
    client = request.scope.get("client")
    host = request.headers.get("host")
    local = (
        client is not None
        and is_loopback(client[0])
        and is_loopback_host(host.encode("latin-1") if host is not None else None)
    )
    return Principal(id="sandbox") if local else None


def build_dev_app(path: str = DEFAULT_PATH) -> Any:
    """The sandbox app: the endpoint at ``path`` in sandbox mode (an in-process FakeOrga),
    for anonymous callers on this machine."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ._endpoint import OrgaClientSecrets
    from ._middleware import OrgaMiddleware

    # sandbox=True: the fake's key and upstream, plain http from loopback; the middleware
    # answers the lifespan and closes the endpoint, and with it the fake's client.
    endpoint = OrgaClientSecrets(
        authorize=_loopback_anonymous, sandbox=True, rate_limits=("30/minute",)
    )

    async def index(request: Request) -> JSONResponse:
        return JSONResponse({"sandbox": True, "endpoint": path})

    app = Starlette(routes=[Route("/", index)])
    return OrgaMiddleware(app, endpoint=endpoint, path=path)


def build_serve_app(args: argparse.Namespace) -> Any:
    """The sidecar: only the endpoint, against the real upstream (``ORGA_API_KEY``)."""
    from ._cli.sidecar import build_serve_app as build

    return build(args)


def _fail(exc: ConfigurationError) -> int:
    from ._cli.flags import cli_message

    print(f"orga-asgi: {cli_message(exc)}", file=sys.stderr)
    return 2


def _run_dev(args: argparse.Namespace) -> int:
    try:
        app = build_dev_app(args.path)
    except ConfigurationError as exc:
        return _fail(exc)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
    print(_BANNER.format(host=shown, port=args.port, path=args.path), flush=True)
    return server.run(app, args)


def _run_serve(args: argparse.Namespace) -> int:
    from ._cli.sidecar import WORKER_ENV, worker_state

    try:
        app = build_serve_app(args)  # in every case: a bad setting fails here, once
    except ConfigurationError as exc:
        return _fail(exc)
    proxies = ", ".join(app.endpoint.config.trusted_proxies) or "none (forwarding headers ignored)"
    print(
        f"orga-asgi serve: {args.path} on http://{args.host}:{args.port}, trusted proxies: "
        f"{proxies}",
        file=sys.stderr,
        flush=True,
    )
    if args.workers == 1:
        return server.run(app, args)
    # Worker processes import the app by name; they rebuild it from the same settings.
    os.environ[WORKER_ENV] = worker_state(args)
    app_name = "orga_asgi._cli.sidecar:worker_app"
    return server.run(app_name, args, factory=True, workers=args.workers)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--path", default=DEFAULT_PATH, help="route of the endpoint (default: %(default)s)"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=server.LOG_LEVELS,
        help="server and package log level; info shows one audit line per request "
        "(default: %(default)s)",
    )


def _parser() -> argparse.ArgumentParser:
    from ._cli.flags import add_setting_flags

    parser = argparse.ArgumentParser(prog="orga-asgi", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"orga-asgi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser(
        "dev",
        help="serve a sandbox endpoint against an in-process fake Orga",
        description="A sandbox endpoint for local development: fake tokens, no account, "
        "anonymous callers from this machine only (plain HTTP allowed from loopback).",
    )
    _server_options(dev)
    dev.set_defaults(run=_run_dev)

    serve = sub.add_parser(
        "serve",
        help="serve the endpoint as a sidecar against Orga",
        description="The endpoint alone, against Orga, for a backend in any language. "
        "Behind your TLS proxy: list it with --trusted-proxy.",
    )
    _server_options(serve)
    serve.add_argument(
        "--authorize",
        required=True,
        metavar="MODULE:HOOK | jwt | signed-header",
        help="who is asking: a hook in a module of yours (the current directory is "
        "importable), jwt with --jwks-url, --audience and --issuer, or signed-header "
        "(the secret in ORGA_SIDECAR_SECRET) (required)",
    )
    serve.add_argument("--jwks-url", help="with --authorize jwt: the JWKS URL (default: none)")
    serve.add_argument("--audience", help="with --authorize jwt: the aud claim (default: none)")
    serve.add_argument("--issuer", help="with --authorize jwt: the iss claim (default: none)")
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes; above 1 only with a shared --storage-uri (redis:// or "
        "valkey://), so that all of them enforce one limit (default: %(default)s)",
    )
    serve.add_argument(
        "--metrics-port",
        type=_positive_int,
        metavar="PORT",
        help="serve OpenTelemetry metrics for Prometheus at http://HOST:PORT/metrics (needs "
        "opentelemetry-sdk and opentelemetry-exporter-prometheus; default: off)",
    )
    add_setting_flags(serve)
    serve.set_defaults(run=_run_serve)
    from ._doctor import add_doctor_parser  # a client (httpx only): no server extra needed

    add_doctor_parser(sub)  # sets run=run_doctor
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``orga-asgi`` command; returns its exit status."""
    args = _parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
