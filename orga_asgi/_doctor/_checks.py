"""The verdicts: each function turns what the probes saw into one :class:`Result`.

A verdict never rests on what a check could not see: a missing answer is a FAIL (with the
reason), and what does not apply to this URL is a SKIP that says why, never a PASS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._inspect import RATE_LIMIT_HEADERS, carries_token, error_code, present
from ._probe import Failure, Reply

__all__ = [
    "CHECKS",
    "Result",
    "Status",
    "anonymous",
    "hsts",
    "plain_http",
    "rate_limit_headers",
    "rate_limit_probe",
    "unanswered",
]

Status = Literal["PASS", "WARN", "FAIL", "SKIP"]
CHECKS = (
    "transport.http",
    "transport.hsts",
    "auth.required",
    "token.response",
    "token.no_store",
    "token.nosniff",
    "token.request_id",
    "origin.foreign",
    "cors.credentials",
    "ratelimit.headers",
    "ratelimit.probe",
    "errors.leak",
    "server.banner",
)
_HSTS_MIN = 180 * 24 * 3600
_HTTPS_ONLY = "serve the route over HTTPS only: redirect http:// to https:// (301/308) or refuse it"
_AUTH_FIX = (
    "require your app's session cookie or bearer token before minting (the guide's "
    "Authorization control; orga-asgi: the authorize hook)"
)
_LIMIT_FIX = (
    "limit how often one user may mint (the guide's Rate limiting control, e.g. 10/minute per "
    "user; orga-asgi: rate_limits) and announce it: RateLimit/RateLimit-Policy headers, "
    "Retry-After on 429"
)


@dataclass(frozen=True, slots=True)
class Result:
    """One line of the report."""

    check: str
    status: Status
    why: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        """``{check, status, why, fix}``."""
        return {"check": self.check, "status": self.status, "why": self.why, "fix": self.fix}


def unanswered(check: str, failure: Failure) -> Result:
    """The verdict of a check whose request got no answer."""
    return Result(
        check,
        "FAIL",
        f"no answer: {failure.reason}",
        "check the URL, the server and --timeout/--budget",
    )


def plain_http(reply: Reply | Failure) -> Result:
    """``transport.http``: plain http is refused, redirected to https, or not served."""
    check = "transport.http"
    if isinstance(reply, Failure):
        if reply.reason.startswith("not sent"):
            return unanswered(check, reply)
        return Result(check, "PASS", f"plain http is not served ({reply.reason})")
    shape = carries_token(reply.body)
    if shape:
        return Result(
            check, "FAIL", f"plain http answered {reply.status} with a token ({shape})", _HTTPS_ONLY
        )
    if 300 <= reply.status < 400:
        location = reply.headers.get("location", "")
        if location.lower().startswith("https://"):
            return Result(check, "PASS", f"plain http is redirected ({reply.status}) to https://")
        return Result(
            check,
            "FAIL",
            f"plain http is redirected ({reply.status}), but not to an https:// URL",
            _HTTPS_ONLY,
        )
    if reply.status >= 400:
        return Result(
            check, "PASS", f"plain http is refused ({reply.status}{error_code(reply.body)})"
        )
    return Result(check, "FAIL", f"plain http is served ({reply.status})", _HTTPS_ONLY)


def _max_age(value: str) -> int | None:
    for part in value.split(";"):
        name, _, number = part.partition("=")
        if name.strip().lower() == "max-age":
            try:
                return int(number.strip().strip('"'))
            except ValueError:
                return None
    return None


def hsts(replies: list[Reply]) -> Result:
    """``transport.hsts``: every HTTPS answer carries ``Strict-Transport-Security``."""
    check, fix = (
        "transport.hsts",
        "send Strict-Transport-Security: max-age=63072000 on HTTPS answers",
    )
    if not replies:
        return Result(check, "FAIL", "no HTTPS answer to inspect", fix)
    ages: list[int] = []
    for reply in replies:
        value = reply.headers.get("strict-transport-security")
        age = _max_age(value) if value else None
        if age is None:
            why = "has no" if value is None else "has an unreadable"
            return Result(
                check, "FAIL", f"the {reply.status} answer {why} Strict-Transport-Security", fix
            )
        ages.append(age)
    if min(ages) <= 0:
        return Result(
            check, "FAIL", "Strict-Transport-Security has max-age=0 (it switches HSTS off)", fix
        )
    if min(ages) < _HSTS_MIN:
        return Result(
            check, "WARN", f"Strict-Transport-Security max-age={min(ages)} is under 180 days", fix
        )
    return Result(
        check,
        "PASS",
        f"{len(ages)} HTTPS answer(s) carry Strict-Transport-Security (max-age={min(ages)})",
    )


def anonymous(reply: Reply | Failure, sandbox: bool) -> Result:
    """``auth.required``: without credentials, 401/403 and never a token."""
    check = "auth.required"
    if isinstance(reply, Failure):
        return unanswered(check, reply)
    shape = carries_token(reply.body)
    if shape and sandbox:
        return Result(
            check,
            "SKIP",
            "this is orga-asgi dev's sandbox: it lets anonymous callers in from loopback only, by "
            "design; run doctor against your deployment's https:// URL",
        )
    if shape:
        return Result(
            check,
            "FAIL",
            f"a request without credentials got {reply.status} with a token ({shape})",
            _AUTH_FIX,
        )
    if reply.status in (401, 403):
        return Result(
            check, "PASS", f"{reply.status} without credentials{error_code(reply.body)}, no token"
        )
    if reply.status == 429:
        return Result(
            check,
            "WARN",
            "rate limited (429) before authorization could be seen",
            "wait for Retry-After and run doctor again",
        )
    if 300 <= reply.status < 400:
        return Result(
            check,
            "WARN",
            f"a request without credentials is redirected ({reply.status}) instead of refused: "
            "the vendor SDK follows it and fails to parse the page",
            "answer 401 with a JSON error on this API route",
        )
    if reply.status == 200 and "html" in reply.headers.get("content-type", "").lower():
        return Result(
            check,
            "FAIL",
            "a request without credentials got a 200 HTML page, not a token route's answer "
            "(a single-page app's fallback?)",
            "check the path (the guide uses /api/orga-client-secrets)",
        )
    if reply.status == 404:
        return Result(
            check,
            "FAIL",
            "404: no route at this URL",
            "check the path (the guide uses /api/orga-client-secrets)",
        )
    return Result(
        check,
        "FAIL",
        f"expected 401 or 403 without credentials, got {reply.status}{error_code(reply.body)}",
        _AUTH_FIX,
    )


def rate_limit_headers(replies: list[Reply], saw_429: bool, probed: bool) -> Result:
    """``ratelimit.headers``: some answer announces the limit."""
    check = "ratelimit.headers"
    names = sorted(
        {name for reply in replies for name in present(reply.headers, RATE_LIMIT_HEADERS)}
    )
    if names:
        return Result(check, "PASS", "the limit is announced: " + ", ".join(names))
    if saw_429:
        return Result(
            check, "WARN", "a 429 came, but no answer says the limit or when to retry", _LIMIT_FIX
        )
    return Result(
        check,
        "FAIL",
        "no answer carries RateLimit, RateLimit-Policy or Retry-After: no visible rate limit",
        _LIMIT_FIX + ("" if probed else "; or run --probe-limit N to test a silent limit"),
    )


def rate_limit_probe(limit: int | None, statuses: list[int], failure: Failure | None) -> Result:
    """``ratelimit.probe``: at most ``limit`` requests, a 429 among them."""
    check = "ratelimit.probe"
    if limit is None:
        return Result(
            check,
            "SKIP",
            "not asked: pass --probe-limit N to send up to N requests and expect a 429 (each "
            "success mints a token)",
        )
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    seen = ", ".join(f"{status} x{count}" for status, count in sorted(counts.items()))
    if statuses and statuses[-1] == 429:
        return Result(check, "PASS", f"429 after {len(statuses)} request(s) ({seen})")
    if failure is not None:
        return Result(
            check,
            "FAIL",
            f"no 429 in {len(statuses)} answer(s) ({seen or 'none'}); then {failure.reason}",
            _LIMIT_FIX,
        )
    return Result(check, "FAIL", f"{len(statuses)} requests in a row, no 429 ({seen})", _LIMIT_FIX)
