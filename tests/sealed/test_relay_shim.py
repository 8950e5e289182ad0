"""orga-relay-shim.js under Node: exactly one URL (POST) goes to the relay, all else untouched.

Each case installs the shipped shim on a target whose ``fetch`` records what it was called
with (tests/node/shim_rules.cjs); the last ones run it over Node's real ``fetch`` against a
server on 127.0.0.1, which records what arrived.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orga_asgi.static import FILES, RELAY_SHIM, static_path
from tests._node import NODE_DIR, node_project
from tests._support import uvicorn_server

VENDOR = "https://api.orga-ai.com/v1/realtime/calls"
RELAY = "http://127.0.0.1:9/api/orga/v1/realtime/calls"  # recorded, never connected to
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer handle-abc"}
BODY = json.dumps({"offer": {"sdp": "v=0\r\n", "type": "offer"}, "params": {"voice": "alloy"}})
SDK_CALL = {"method": "POST", "headers": HEADERS, "body": BODY}


def run_cases(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``cases`` in one Node process (its start is most of the cost); their results."""
    node = node_project(NODE_DIR)
    done = subprocess.run(
        node.command(NODE_DIR / "shim_rules.cjs", str(static_path(RELAY_SHIM)), json.dumps(cases)),
        capture_output=True,
        text=True,
        timeout=60,
        env=node.env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(results) == len(cases)
    return results


def string(url: str, init: dict[str, Any] | None = SDK_CALL) -> dict[str, Any]:
    return {"input": {"type": "string", "url": url}, **({} if init is None else {"init": init})}


def request(url: str, options: dict[str, Any] | None = SDK_CALL, **extra: Any) -> dict[str, Any]:
    """A case calling fetch with ``new Request(url, options)`` (``extra``: e.g. its ``init``)."""
    spec: dict[str, Any] = {"type": "request", "url": url}
    if options is not None:
        spec["init"] = options
    return {"input": spec, **extra}


REWRITTEN = {
    "exact": string(VENDOR),
    "parsed-host": string("https://API.Orga-AI.com/v1/realtime/calls"),  # the same URL, parsed
    "default-port": string("https://api.orga-ai.com:443/v1/realtime/calls"),
    "lowercase-post": string(VENDOR, {**SDK_CALL, "method": "post"}),
}
UNTOUCHED_URLS = [
    "https://api.orga-ai.com/v1/realtime/client-secrets",
    "https://api.orga-ai.com/v1/realtime/ice-config",
    VENDOR + "?trace=1",
    VENDOR + "/",
    VENDOR + "#x",
    VENDOR.replace("https:", "http:"),
    "https://api.orga-ai.com.example.test/v1/realtime/calls",
    "https://user@api.orga-ai.com/v1/realtime/calls",
    "https://example.test/?next=" + VENDOR,
    RELAY,
    "/api/orga-client-secrets",  # relative: nothing to resolve against in Node, left alone
    "not a url",
]
OTHER_METHODS = ["GET", "PUT", "OPTIONS", "DELETE"]
OTHER_REQUESTS = {
    "request-get": request(VENDOR, None),
    "request-explicit-get": request(VENDOR, {"method": "GET"}),
    "request-put": request(VENDOR, {"method": "PUT", "body": "x"}),
    "request-to-the-relay": request(RELAY),
}
CASES: dict[str, dict[str, Any]] = {
    **REWRITTEN,
    "url-object": {"input": {"type": "url", "url": VENDOR}, "init": SDK_CALL},
    "request": request(VENDOR),
    "request-with-init": request(VENDOR, init={"headers": {"Authorization": "Bearer other"}}),
    **{f"url {url}": string(url) for url in UNTOUCHED_URLS},
    **{f"method {method}": string(VENDOR, {"method": method}) for method in OTHER_METHODS},
    **OTHER_REQUESTS,
    "bare": string(VENDOR, None),
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    names = list(CASES)
    done = run_cases([{"relayUrl": RELAY, **CASES[name]} for name in names])
    return dict(zip(names, done, strict=True))


def only_call(results: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    result = results[name]
    assert result["error"] is None, result["error"]
    (call,) = result["calls"]
    assert call["thisIsTarget"]  # the wrapped fetch is called with the caller's `this`
    return call


@pytest.mark.parametrize("name", list(REWRITTEN))
def test_the_sdks_call_goes_to_the_relay_with_its_options_untouched(
    results: dict[str, dict[str, Any]], name: str
) -> None:
    call = only_call(results, name)
    assert call["input"] == {"type": "string", "same": False, "url": RELAY}
    init = call["init"]
    assert init["same"]  # the caller's own init object: nothing added, dropped or copied
    assert (init["method"].upper(), init["body"]) == ("POST", BODY)
    assert init["headers"] == {k.lower(): v for k, v in HEADERS.items()}


def test_a_url_object_is_rewritten_too(results: dict[str, dict[str, Any]]) -> None:
    call = only_call(results, "url-object")
    assert call["input"]["url"] == RELAY
    assert call["init"]["same"]


def test_a_request_object_is_resent_to_the_relay_with_its_method_headers_and_body(
    results: dict[str, dict[str, Any]],
) -> None:
    call = only_call(results, "request")
    assert call["input"]["url"] == RELAY
    init = call["init"]
    assert (init["method"], init["body"]) == ("POST", BODY)
    assert init["headers"] == {k.lower(): v for k, v in HEADERS.items()}
    assert init["signal"] == "request"  # aborting the caller's Request still aborts
    assert {"credentials", "mode", "redirect", "referrerPolicy"} <= set(init["keys"])


def test_options_given_with_a_request_win_as_fetch_has_them_win(
    results: dict[str, dict[str, Any]],
) -> None:
    call = only_call(results, "request-with-init")
    assert call["input"]["url"] == RELAY
    assert call["init"]["headers"] == {"authorization": "Bearer other"}
    assert call["init"]["body"] == BODY


@pytest.mark.parametrize("url", UNTOUCHED_URLS)
def test_every_other_url_reaches_fetch_as_given(
    results: dict[str, dict[str, Any]], url: str
) -> None:
    call = only_call(results, f"url {url}")
    assert call["argc"] == 2
    assert call["input"] == {"type": "string", "same": True, "url": url}
    assert call["init"]["same"]


@pytest.mark.parametrize("method", OTHER_METHODS)
def test_other_methods_on_the_one_url_are_untouched(
    results: dict[str, dict[str, Any]], method: str
) -> None:
    call = only_call(results, f"method {method}")
    assert call["input"] == {"type": "string", "same": True, "url": VENDOR}
    assert call["init"]["same"]


@pytest.mark.parametrize("name", list(OTHER_REQUESTS))
def test_other_requests_reach_fetch_as_the_callers_own_objects(
    results: dict[str, dict[str, Any]], name: str
) -> None:
    call = only_call(results, name)
    assert (call["argc"], call["input"]["same"], call["init"]) == (1, True, None)


def test_a_bare_call_without_options_is_untouched(results: dict[str, dict[str, Any]]) -> None:
    call = only_call(results, "bare")
    assert (call["argc"], call["input"]["same"], call["init"]) == (1, True, None)


def test_install_reinstall_uninstall_and_bad_options() -> None:
    (result,) = run_cases([{"lifecycle": True}])
    assert result == {
        "wrapped": True,
        "restored": True,  # a reinstall replaced the first install: one wrapper, not two
        "theirsKept": True,  # someone else's later wrapper survives our uninstall
        "refused": ["TypeError"] * 4,  # no/empty/non-string relayUrl, a target without fetch
        "global": True,  # loading the file defines globalThis.installOrgaRelayShim
        "vendorUrl": VENDOR,
    }


def test_the_shim_is_a_shipped_static_file() -> None:
    path = static_path()
    assert path.name == RELAY_SHIM
    assert {RELAY_SHIM} == FILES
    assert path.is_file()
    text = path.read_text(encoding="utf-8")
    assert VENDOR in text and "baseUrl" in text  # says what it rewrites and when to drop it
    for name in ("../__init__.py", "__init__.py", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="ships no static file"):
            static_path(name)


SEALED_DOC = Path(__file__).resolve().parents[2] / "docs" / "sealed.md"


def prose(text: str) -> str:
    """``text`` with comment stars and line breaks folded to single spaces, lower case."""
    return re.sub(r"\s+", " ", re.sub(r"^\s*\*+ ?", "", text, flags=re.M)).lower()


def section(markdown: str, heading: str) -> str:
    """The body of the ``## heading`` section of ``markdown``, up to the next heading."""
    found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^#|\Z)", markdown, re.M | re.S)
    assert found, f"docs/sealed.md has no '## {heading}' section"
    return prose(found.group(1))


def test_the_shims_header_says_when_to_drop_it() -> None:
    text = static_path(RELAY_SHIM).read_text(encoding="utf-8")
    header = prose(text[: text.index("(function")])  # the leading comments, before any code
    assert "when to drop it:" in header
    when = header[header.index("when to drop it:") :]
    # Once the SDK honours baseUrl: delete the script and point baseUrl at the relay.
    assert "honours `baseurl`" in when and "delete this script" in when
    assert "orgaai.init({ baseurl:" in when
    assert "no npm release does as of 1.0.0" in when  # why it is needed today
    assert "@orga-ai/core" in when


def test_the_sealed_doc_states_the_honest_limit_and_when_to_drop_the_shim() -> None:
    markdown = SEALED_DOC.read_text(encoding="utf-8")
    limit = section(markdown, "The honest limit")
    assert "`session.update`" in limit and "mid-session" in limit
    assert "data channel" in limit
    assert "not what a connected client does after" in limit  # what sealing does not cover
    browser = section(markdown, "In the browser")
    assert "orga-relay-shim.js" in browser
    assert "drop it once you run an `@orga-ai/core` release that honours `baseurl`" in browser


# --- over Node's real fetch, to a server on 127.0.0.1 --------------------------------------


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A server recording every request that reaches it; yields (its relay URL, records)."""
    seen: list[dict[str, Any]] = []

    async def record(request: Request) -> JSONResponse:
        seen.append(
            {
                "method": request.method,
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": (await request.body()).decode(),
            }
        )
        return JSONResponse({"relayed": True})

    app = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "POST", "PUT"])])
    with uvicorn_server(app) as url:
        yield url + "/api/orga/v1/realtime/calls", seen


@pytest.mark.servers
@pytest.mark.parametrize("kind", ["string", "request"])
def test_over_real_fetch_the_relay_gets_the_same_request(
    relay: tuple[str, list[dict[str, Any]]], kind: str
) -> None:
    url, seen = relay
    del seen[:]
    if kind == "string":
        case = {"input": {"type": "string", "url": VENDOR}, "init": SDK_CALL}
    else:
        case = {"input": {"type": "request", "url": VENDOR, "init": SDK_CALL}}
    (result,) = run_cases([{"relayUrl": url, "real": True, **case}])
    assert (result["error"], result["status"]) == (None, 200)
    assert json.loads(result["body"]) == {"relayed": True}
    ((arrived),) = seen
    assert (arrived["method"], arrived["path"], arrived["body"]) == (
        "POST",
        "/api/orga/v1/realtime/calls",
        BODY,
    )
    assert arrived["headers"]["authorization"] == HEADERS["Authorization"]
    assert arrived["headers"]["content-type"] == HEADERS["Content-Type"]


@pytest.mark.servers
def test_over_real_fetch_an_aborted_call_never_reaches_the_relay(
    relay: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = relay
    del seen[:]
    case = {"relayUrl": url, "real": True, "abort": True}
    (result,) = run_cases([{**case, "input": {"type": "string", "url": VENDOR}, "init": SDK_CALL}])
    assert result["error"].startswith("AbortError")
    assert seen == []
