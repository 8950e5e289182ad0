"""Browser files the kit ships, for your app to serve: the relay shim.

``orga-relay-shim.js`` sends the vendor browser SDK's session start
(``POST https://api.orga-ai.com/v1/realtime/calls``) to the sealed relay instead, for
``@orga-ai/core`` releases that ignore ``baseUrl`` (1.0.0, the only one on npm). Serve it
from your app, e.g. with Starlette::

    from starlette.responses import FileResponse
    from starlette.routing import Route
    from orga_asgi.static import RELAY_SHIM, static_path

    async def shim(request):
        return FileResponse(static_path(RELAY_SHIM), media_type="text/javascript")

    routes = [Route("/static/orga-relay-shim.js", shim)]

and load it in the page before the SDK connects::

    <script src="/static/orga-relay-shim.js" data-relay-url="/api/orga/v1/realtime/calls"></script>

Drop it once your ``@orga-ai/core`` honours ``OrgaAI.init({baseUrl})``; the file's header
comment says how it behaves.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FILES", "RELAY_SHIM", "static_path"]

RELAY_SHIM = "orga-relay-shim.js"
"""The relay shim's file name."""

FILES = frozenset({RELAY_SHIM})
"""Every file :func:`static_path` serves."""

_HERE = Path(__file__).resolve().parent


def static_path(name: str = RELAY_SHIM) -> Path:
    """The path of a shipped browser file, to serve with your framework's file response.

    Args:
        name: One of :data:`FILES` (default: the relay shim).

    Raises:
        ValueError: ``name`` is not a file the kit ships (paths are refused, so a name taken
            from a request cannot reach any other file).
    """
    if name not in FILES:
        raise ValueError(f"orga_asgi ships no static file {name!r}; the files are {sorted(FILES)}")
    return _HERE / name
