"""examples/browser in a real headless Chromium: the page logs in, fetches credentials with
its session cookie, and WebRTC accepts the ICE servers; other origins are refused.

Uses the system Chromium (/usr/bin/chromium) through Playwright, never a downloaded one.
Without either the test is skipped, unless CI=true, where that is a failure.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from orga_asgi import DEFAULT_PATH
from tests._support import uvicorn_server
from tests.browser._chromium import TIMEOUT_MS, chromium

pytestmark = pytest.mark.browser

SERVER = Path(__file__).resolve().parents[2] / "examples" / "browser" / "server.py"
PAGE_DONE = "document.getElementById('status').textContent !== 'loading'"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@dataclass
class Site:
    url: str
    seen: list[tuple[dict[bytes, bytes], int]] = field(default_factory=list)
    """(request headers, response status) of every call to the Orga route."""


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """examples/browser/server.py, freshly imported in sandbox mode, served by uvicorn."""
    monkeypatch.delenv("ORGA_API_KEY", raising=False)
    monkeypatch.delenv("ORGA_BASE_URL", raising=False)
    spec = importlib.util.spec_from_file_location("_browser_example_server", SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    app = module.app
    seen: list[tuple[dict[bytes, bytes], int]] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        # What the server answered, even when the browser hides it from the page (CORS).
        if scope["type"] != "http" or scope["path"] != DEFAULT_PATH:
            await app(scope, receive, send)
            return

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen.append((dict(scope["headers"]), message["status"]))
            await send(message)

        await app(scope, receive, record)

    with uvicorn_server(recording) as url:
        yield Site(url, seen)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Any, site: str) -> dict[str, Any]:
    """Open the page at ``site``, log in, and return the credentials the page received."""
    page.goto(site + "/")
    page.wait_for_function(PAGE_DONE)
    assert page.text_content("#status") == "unauthorized"
    with page.expect_response(lambda r: r.url == site + DEFAULT_PATH) as answered:
        page.click("#login")
    response = answered.value
    assert response.status == 200
    page.wait_for_function(PAGE_DONE)
    assert page.text_content("#status") == "ok"
    body: dict[str, Any] = response.json()
    return body


def normalized(servers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # getConfiguration() lists urls as an array and fills in empty credentials.
    return [
        {
            "urls": [s["urls"]] if isinstance(s["urls"], str) else list(s["urls"]),
            "username": s.get("username", ""),
            "credential": s.get("credential", ""),
        }
        for s in servers
    ]


def test_page_gets_credentials_and_webrtc_takes_the_ice_servers(page: Any, site: Site) -> None:
    body = log_in(page, site.url)
    assert body["ephemeralToken"].count(".") == 2
    assert any("username" in server for server in body["iceServers"])  # TURN included
    configured = page.evaluate("window.orgaPeer.getConfiguration().iceServers")
    assert normalized(configured) == normalized(body["iceServers"])
    assert page.text_content("#ice-servers") == str(len(body["iceServers"]))
    (session,) = page.context.cookies(site.url)
    assert (session["name"], session["httpOnly"], session["sameSite"]) == ("session", True, "Lax")


ATTACKER_PAGE = """<!doctype html><p id="result">pending</p><script>
fetch("{target}", {{credentials: "include"}}).then(
  (r) => {{ document.getElementById("result").textContent = "read " + r.status; }},
  () => {{ document.getElementById("result").textContent = "blocked"; }},
);
</script>"""


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # same-site, cross-site
def test_other_origins_are_refused(page: Any, site: Site, host: str) -> None:
    log_in(page, site.url)
    target = site.url + DEFAULT_PATH

    async def attacker(request: Request) -> HTMLResponse:
        return HTMLResponse(ATTACKER_PAGE.format(target=target))

    with uvicorn_server(Starlette(routes=[Route("/", attacker)])) as other:
        other = other.replace("127.0.0.1", host)
        del site.seen[:]
        page.goto(other + "/")
        page.wait_for_function("document.getElementById('result').textContent !== 'pending'")
    # Without CORS headers the browser does not let the page read the answer...
    assert page.text_content("#result") == "blocked"
    # ...and the server refused to mint at all, so no token exists to leak.
    ((headers, status),) = site.seen
    assert status == 403
    assert headers[b"origin"] == other.encode()
    # Another port of the same host is the same site: the session cookie went along.
    same_site = host == "127.0.0.1"
    assert headers[b"sec-fetch-site"] == (b"same-site" if same_site else b"cross-site")
    assert (b"cookie" in headers) == same_site
