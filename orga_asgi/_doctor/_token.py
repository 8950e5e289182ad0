"""The verdicts on the token answer itself: its body, as the vendor SDK reads it, and the
headers that keep it out of caches, sniffers and logs."""

from __future__ import annotations

from ._checks import Result, unanswered
from ._inspect import REQUEST_ID_HEADERS, directives, error_code, present, read_token_body, show
from ._probe import Failure, Reply

__all__ = ["no_store", "nosniff", "request_id", "token_response"]


def token_response(
    reply: Reply | Failure | None, anonymous_source: bool
) -> tuple[Result, set[str]]:
    """``token.response``: a 200 whose body the vendor SDK accepts; also its secrets."""
    check = "token.response"
    if reply is None:
        return Result(
            check,
            "SKIP",
            "no credentials given, and a request without them was refused",
            "pass --header 'Cookie: ...' or --header 'Authorization: ...' of a signed-in test user",
        ), set()
    if isinstance(reply, Failure):
        return unanswered(check, reply), set()
    if reply.status != 200:
        if reply.status in (401, 403):
            return Result(
                check,
                "FAIL",
                f"the --header credentials were refused ({reply.status}{error_code(reply.body)})",
                "use a fresh session cookie or token of a signed-in test user",
            ), set()
        if reply.status == 429:
            return Result(
                check,
                "WARN",
                "rate limited (429) before a token could be checked",
                "wait for Retry-After and run doctor again",
            ), set()
        return Result(
            check,
            "FAIL",
            f"expected 200, got {reply.status}{error_code(reply.body)}",
            "check the route and the server's logs (by request id)",
        ), set()
    body = read_token_body(reply.body, reply.truncated)
    note = (
        " (the answer to a request without credentials: no --header given)"
        if anonymous_source
        else ""
    )
    if body.problems:
        why = "the vendor SDK or WebRTC would refuse the body: " + "; ".join(body.problems[:4])
        return Result(
            check,
            "FAIL",
            why + note,
            'answer {"ephemeralToken": str, "iceServers": [RTCIceServer, ...]} (camelCase)',
        ), body.secrets
    if body.warnings:
        return Result(
            check,
            "WARN",
            "; ".join(body.warnings) + note,
            "pass on the iceServers of the upstream's ice-config answer",
        ), body.secrets
    return Result(check, "PASS", f"200 the vendor SDK accepts: {body.summary}{note}"), body.secrets


def no_store(reply: Reply | None) -> Result:
    """``token.no_store``: ``Cache-Control: no-store`` on the token answer."""
    check = "token.no_store"
    if reply is None:
        return Result(check, "SKIP", "no 200 to inspect (see token.response)")
    value = reply.headers.get("cache-control")
    if "no-store" in directives(value):
        return Result(check, "PASS", "Cache-Control: no-store")
    return Result(
        check,
        "FAIL",
        f"Cache-Control is {show(value)}: browsers, proxies or CDNs may keep a copy of the token",
        "send Cache-Control: no-store on this route's answers",
    )


def nosniff(reply: Reply | None) -> Result:
    """``token.nosniff``: ``X-Content-Type-Options: nosniff`` on the token answer."""
    check, fix = "token.nosniff", "send X-Content-Type-Options: nosniff"
    if reply is None:
        return Result(check, "SKIP", "no 200 to inspect (see token.response)")
    if reply.headers.get("x-content-type-options", "").strip().lower() == "nosniff":
        return Result(check, "PASS", "X-Content-Type-Options: nosniff")
    content_type = reply.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        return Result(
            check,
            "WARN",
            "no X-Content-Type-Options: nosniff (the answer is labelled application/json, so "
            "browsers do not sniff it as a page)",
            fix,
        )
    return Result(
        check,
        "FAIL",
        f"no X-Content-Type-Options: nosniff, and Content-Type is {show(content_type or None)}: a "
        "browser may sniff the token answer as a page",
        fix,
    )


def request_id(reply: Reply | None, fallback: Reply | None) -> Result:
    """``token.request_id``: an id to log and quote instead of tokens (the guide's Logging)."""
    check = "token.request_id"
    source = reply or fallback
    if source is None:
        return Result(check, "SKIP", "no answer to inspect")
    names = present(source.headers, REQUEST_ID_HEADERS)
    if names:
        return Result(check, "PASS", f"the {source.status} answer carries {names[0]}")
    return Result(
        check,
        "WARN",
        f"the {source.status} answer carries no request id header",
        "log a request id per request, never the token, and return it (X-Request-ID) so support "
        "can find the line",
    )
