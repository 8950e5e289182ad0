"""OrgaMiddleware serves the endpoint at one path and leaves everything else alone."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from orga_asgi import ConfigurationError, OrgaMiddleware
from orga_asgi._middleware import answer_lifespan, match_path, normalize_path
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint, track_closes

pytestmark = pytest.mark.anyio


async def home(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse("home:" + request.url.path)


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("ws-ok")
    await websocket.close()


def inner_app() -> Starlette:
    return Starlette(routes=[Route("/{p:path}", home), WebSocketRoute("/ws", echo)])


@pytest.mark.parametrize("path", ["/api/orga-client-secrets", "/api/orga-client-secrets/"])
async def test_serves_the_route(path: str) -> None:
    app = OrgaMiddleware(inner_app(), endpoint=make_endpoint(FakeOrga()))
    async with caller(app) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert "ephemeralToken" in response.json()


@pytest.mark.parametrize(
    "path", ["/", "/api/orga-client-secrets-x", "/api/orga-client-secrets/x", "/api"]
)
async def test_passes_other_paths(path: str) -> None:
    fake = FakeOrga()
    app = OrgaMiddleware(inner_app(), endpoint=make_endpoint(fake))
    async with caller(app) as client:
        response = await client.get(path)
    assert response.text == "home:" + path
    assert fake.calls == []


async def test_custom_path() -> None:
    app = OrgaMiddleware(inner_app(), endpoint=make_endpoint(FakeOrga()), path="/api/orga-session")
    async with caller(app) as client:
        assert (await client.get("/api/orga-session")).status_code == 200
        assert (await client.get("/api/orga-client-secrets")).text.startswith("home:")


async def test_honours_root_path() -> None:
    # Mounted under /v2: the route is /v2/api/orga-client-secrets.
    app = Starlette(
        routes=[Mount("/v2", app=OrgaMiddleware(inner_app(), endpoint=make_endpoint(FakeOrga())))]
    )
    async with caller(app) as client:
        response = await client.get("/v2/api/orga-client-secrets")
    assert response.status_code == 200


async def test_websockets_and_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["type"])

    app = OrgaMiddleware(inner, endpoint=make_endpoint(FakeOrga()))
    for kind in ("websocket", "custom"):
        await app({"type": kind, "path": "/api/orga-client-secrets"}, None, None)  # type: ignore[arg-type]
    assert seen == ["websocket", "custom"]


async def run_lifespan(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Drive the ASGI lifespan protocol the way a server does."""
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive():  # type: ignore[no-untyped-def]
        return next(messages)

    async def send(message) -> None:  # type: ignore[no-untyped-def]
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


async def test_lifespan_shutdown_closes_the_endpoint() -> None:
    endpoint = make_endpoint(FakeOrga())
    closed = track_closes(endpoint)
    app = OrgaMiddleware(inner_app(), endpoint=endpoint)
    async with caller(app) as client:
        assert (await client.get("/api/orga-client-secrets")).status_code == 200
    assert closed == []
    sent = await run_lifespan(app)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert closed == [True]


@pytest.mark.parametrize("path", ["", "relative", "/", "/a?b"])
def test_bad_path(path: str) -> None:
    with pytest.raises(ConfigurationError):
        OrgaMiddleware(inner_app(), endpoint=make_endpoint(FakeOrga()), path=path)


@pytest.mark.parametrize("consumes_first", [False, True])
async def test_answers_lifespan_for_apps_that_cannot(consumes_first: bool) -> None:
    # Django's ASGI handler raises on the lifespan scope, sometimes after reading a message.
    async def http_only(scope, receive, send):  # type: ignore[no-untyped-def]
        if consumes_first:
            await receive()
        raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")

    endpoint = make_endpoint(FakeOrga())
    closed = track_closes(endpoint)
    sent = await run_lifespan(OrgaMiddleware(http_only, endpoint=endpoint))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert closed == [True]


async def test_a_lifespan_failure_after_answering_is_not_hidden() -> None:
    async def broken(scope, receive, send):  # type: ignore[no-untyped-def]
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "db down"})
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError, match="db down"):
        await run_lifespan(OrgaMiddleware(broken, endpoint=make_endpoint(FakeOrga())))


@pytest.mark.parametrize(
    ("path", "normal"),
    [("/api/x", "/api/x"), ("/api/x/", "/api/x"), ("/a/b//", "/a/b")],
)
def test_normalize_path(path: str, normal: str) -> None:
    assert normalize_path(path) == normal


@pytest.mark.parametrize("path", ["", "relative", "/", "//", "/a?b", "/a#b", None, 3])
def test_normalize_path_refuses(path: object) -> None:
    with pytest.raises(ConfigurationError, match="absolute route path"):
        normalize_path(path)


def test_the_adapters_use_the_one_path_check() -> None:
    # One check of a route path for the middleware, Litestar and Quart: no drifting copies.
    import inspect

    for module in ("orga_asgi_litestar._plugin", "orga_asgi_quart"):
        try:
            source = inspect.getsource(__import__(module, fromlist=["_"]))
        except ImportError:  # pragma: no cover - the adapter is not installed here
            continue
        assert "normalize_path(" in source, module
        assert 'path == "/"' not in source, module


@pytest.mark.parametrize(
    ("scope", "matched"),
    [
        ({"path": "/p"}, True),
        ({"path": "/p/"}, True),
        ({"path": "/v2/p", "root_path": "/v2"}, True),
        ({"path": "/p", "root_path": "/v2"}, True),  # servers that strip root_path
        ({"path": "/v2/q", "root_path": "/v2"}, False),
        ({"path": "/pp"}, False),
    ],
)
def test_match_path(scope: dict[str, str], matched: bool) -> None:
    assert match_path(scope, frozenset({"/p", "/p/"})) is matched


async def test_answer_lifespan_runs_shutdown_before_completing() -> None:
    order: list[str] = []
    messages = iter([{"type": "lifespan.shutdown"}])

    async def receive():  # type: ignore[no-untyped-def]
        return next(messages)

    async def send(message) -> None:  # type: ignore[no-untyped-def]
        order.append(message["type"])

    async def close() -> None:
        order.append("closed")

    await answer_lifespan(receive, send, pending="lifespan.startup", on_shutdown=close)
    assert order == ["lifespan.startup.complete", "closed", "lifespan.shutdown.complete"]
