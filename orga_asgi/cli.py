"""``orga-asgi dev`` (a sandbox endpoint, no account) and ``orga-asgi serve`` (a sidecar).

Both run uvicorn (the ``server`` extra).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError
from ._middleware import DEFAULT_PATH

if TYPE_CHECKING:
    from starlette.requests import Request

    from ._principal import AuthorizeHook, Principal

__all__ = ["build_dev_app", "build_serve_app", "main"]

_BANNER = """\
orga-asgi dev: SANDBOX. Tokens come from an in-process FakeOrga, not from Orga;
no account or API key is needed, and anonymous callers are let in from loopback only.
Try:  curl -s http://{host}:{port}{path}
"""


def _loopback_anonymous(request: Request) -> Principal | None:
    from ._principal import Principal
    from ._proxy import is_loopback

    client = request.scope.get("client")
    return Principal(id="sandbox") if client and is_loopback(client[0]) else None


def build_dev_app(path: str = DEFAULT_PATH) -> Any:
    """The sandbox app: the endpoint at ``path`` against an in-process FakeOrga."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from ._endpoint import OrgaClientSecrets
    from ._middleware import OrgaMiddleware
    from .testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client

    client = sandbox_client()
    endpoint = OrgaClientSecrets(
        authorize=_loopback_anonymous,
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=client,
        allow_insecure_loopback=True,
        rate_limits=("30/minute",),
    )

    async def index(request: Request) -> JSONResponse:
        return JSONResponse({"sandbox": True, "endpoint": path})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = Starlette(routes=[Route("/", index)], lifespan=lifespan)
    return OrgaMiddleware(app, endpoint=endpoint, path=path)


def _load_hook(spec: str) -> AuthorizeHook:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"--authorize takes module:function, not {spec!r}.")
    try:
        hook = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"--authorize {spec!r} could not be loaded: {exc}") from None
    return hook  # type: ignore[no-any-return]


def build_serve_app(args: argparse.Namespace) -> Any:
    """The sidecar: only the endpoint, against the real upstream (``ORGA_API_KEY``)."""
    from starlette.applications import Starlette

    from ._endpoint import OrgaClientSecrets
    from ._middleware import OrgaMiddleware

    endpoint = OrgaClientSecrets(
        authorize=_load_hook(args.authorize),
        trusted_proxies=args.trusted_proxy,
        allowed_origins=args.allowed_origin or None,
        storage_uri=args.storage_uri,
    )
    # An empty Starlette app answers 404 elsewhere and runs the lifespan that closes us.
    return OrgaMiddleware(Starlette(), endpoint=endpoint, path=args.path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orga-asgi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="serve a sandbox endpoint against an in-process FakeOrga")
    serve = sub.add_parser("serve", help="serve the endpoint as a sidecar against Orga")
    for p in (dev, serve):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--path", default=DEFAULT_PATH)
    serve.add_argument("--authorize", required=True, metavar="MODULE:FUNCTION")
    serve.add_argument("--trusted-proxy", action="append", default=[], metavar="IP_OR_CIDR")
    serve.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN")
    serve.add_argument("--storage-uri", default="memory://", metavar="URI")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``orga-asgi`` command."""
    args = _parser().parse_args(argv)
    try:
        import uvicorn
    except ImportError:
        print("orga-asgi needs uvicorn: pip install 'orga-asgi[server]'", file=sys.stderr)
        return 2
    try:
        if args.command == "dev":
            app = build_dev_app(args.path)
            print(_BANNER.format(host=args.host, port=args.port, path=args.path), flush=True)
        else:
            app = build_serve_app(args)
    except ConfigurationError as exc:
        print(f"orga-asgi: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", server_header=False)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
