"""The verdicts on what the route shows others: foreign origins, CORS, error bodies, banners."""

from __future__ import annotations

from collections.abc import Iterable

from ._checks import Result, unanswered
from ._inspect import carries_token, secret_findings, show
from ._probe import Failure, Reply

__all__ = ["FOREIGN_ORIGIN", "banner", "cors", "error_leaks", "foreign_origin"]

FOREIGN_ORIGIN = "https://orga-doctor.invalid"  # .invalid: never anybody's allowed origin
_ORIGIN_FIX = (
    "refuse (403) browser requests whose Origin is not your site's, before minting "
    "(orga-asgi: same-origin by default, allowed_origins for the others)"
)
_LEAK_FIX = (
    "answer errors with a fixed JSON message and a request id; keep upstream text and stack "
    "traces in your server's logs, and keys and tokens out of both"
)
_CORS_FIX = (
    "answer CORS only to the origins you list, echoing that origin, never '*' and never "
    "whatever Origin came"
)


def foreign_origin(reply: Reply | Failure, baseline: Reply | None) -> Result:
    """``origin.foreign``: a request from another site's page is refused.

    ``baseline`` is the 200 the same request got without ``Origin``: only against it can a
    refusal be told apart from the authorization refusal.
    """
    check = "origin.foreign"
    if isinstance(reply, Failure):
        return unanswered(check, reply)
    shape = carries_token(reply.body)
    if shape:
        allowed = reply.headers.get("access-control-allow-origin", "")
        if allowed in ("*", FOREIGN_ORIGIN):
            return Result(
                check,
                "FAIL",
                f"a foreign Origin got a token ({shape}) it may read "
                f"(Access-Control-Allow-Origin: {show(allowed)})",
                _ORIGIN_FIX,
            )
        return Result(
            check,
            "WARN",
            "a foreign Origin got a token minted: its page cannot read it (no CORS grant), but "
            "any site can make signed-in visitors' browsers spend your quota and their rate limit",
            _ORIGIN_FIX,
        )
    if baseline is None:
        return Result(
            check,
            "SKIP",
            f"refused ({reply.status}), but so is the same request without Origin: pass --header "
            "credentials to tell the two apart",
        )
    if reply.status == 429:
        return Result(
            check,
            "WARN",
            "rate limited (429) before the Origin could be judged",
            "wait for Retry-After and run doctor again",
        )
    if reply.status >= 400:
        return Result(
            check,
            "PASS",
            f"a foreign Origin is refused ({reply.status}), the same request without it gets a "
            "token",
        )
    return Result(
        check,
        "FAIL",
        f"a foreign Origin got {reply.status} where the same request without it gets a token",
        _ORIGIN_FIX,
    )


def cors(preflight: Reply | Failure, replies: Iterable[Reply]) -> Result:
    """``cors.credentials``: no CORS grant to a foreign origin, never ``*`` with credentials."""
    check = "cors.credentials"
    answers = [*replies, *([preflight] if isinstance(preflight, Reply) else [])]
    warning = ""
    for reply in answers:
        allowed = reply.headers.get("access-control-allow-origin", "").strip()
        with_credentials = (
            reply.headers.get("access-control-allow-credentials", "").strip().lower() == "true"
        )
        if allowed == "*" and with_credentials:
            return Result(
                check, "FAIL", f"the {reply.status} answer allows '*' with credentials", _CORS_FIX
            )
        if allowed == FOREIGN_ORIGIN:
            if with_credentials:
                return Result(
                    check,
                    "FAIL",
                    f"the {reply.status} answer grants a foreign Origin credentialed access (it "
                    "echoes any Origin)",
                    _CORS_FIX,
                )
            warning = f"the {reply.status} answer echoes a foreign Origin (without credentials)"
        elif allowed == "*":
            warning = f"the {reply.status} answer allows any origin ('*', without credentials)"
    if warning:
        return Result(check, "WARN", warning, _CORS_FIX)
    if isinstance(preflight, Failure):
        return Result(
            check,
            "WARN",
            f"no CORS grant in {len(answers)} answer(s), but the preflight got no answer "
            f"({preflight.reason})",
        )
    return Result(
        check,
        "PASS",
        f"no CORS grant to a foreign origin (preflight answered {preflight.status}), never '*'",
    )


def error_leaks(replies: Iterable[Reply], known: set[str]) -> Result:
    """``errors.leak``: error bodies carry no upstream text or secret-looking strings."""
    check = "errors.leak"
    statuses: list[int] = []
    found: dict[str, None] = {}  # what was found, in order, once each
    leaking: dict[int, None] = {}
    for reply in replies:
        text = reply.body.decode("utf-8", "replace")
        if 200 <= reply.status < 300:
            # A 200 rightly carries the token; only the API key is never allowed in one.
            if "sk_orga_ai_" in text:
                found["an Orga API key (sk_orga_ai_...)"] = None
                leaking[reply.status] = None
            continue
        statuses.append(reply.status)
        for label in secret_findings(text, known):
            found[label] = None
            leaking[reply.status] = None
    if found:
        where = ", ".join(str(status) for status in leaking)
        return Result(check, "FAIL", f"the {where} bodies carry " + ", ".join(found), _LEAK_FIX)
    if not statuses:
        return Result(check, "SKIP", "every answer was a 2xx: no error body to inspect")
    shown = ", ".join(str(status) for status in sorted(set(statuses)))
    return Result(
        check,
        "PASS",
        f"{len(statuses)} error bodies ({shown}) carry no upstream text or secret-looking strings",
    )


def banner(replies: Iterable[Reply]) -> Result:
    """``server.banner``: ``Server`` and ``X-Powered-By`` name no versions (a WARN)."""
    check = "server.banner"
    seen: dict[str, str] = {}
    for reply in replies:
        for name in ("server", "x-powered-by"):
            value = reply.headers.get(name)
            if value is not None:
                seen.setdefault(name, value)
    for name, value in seen.items():
        if any(c.isdigit() for c in value):
            return Result(
                check,
                "WARN",
                f"{name}: {show(value)} names a version",
                "drop the version (nginx: server_tokens off; Express: "
                "app.disable('x-powered-by'); uvicorn: --no-server-header)",
            )
    if not seen:
        return Result(check, "PASS", "no Server or X-Powered-By header")
    return Result(
        check, "PASS", "no version in " + "; ".join(f"{n}: {show(v)}" for n, v in seen.items())
    )
