"""``orga-asgi doctor URL``: probe a deployed token route, whoever built it.

One line per check (PASS, WARN, FAIL or SKIP, why, how to fix), exit status 1 on any FAIL,
``--json`` for CI. Tokens received are described by shape only; the headers given are sent
but never printed.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import Any

import anyio

from ._checks import CHECKS, Result
from ._probe import Target, parse_target
from ._run import Options, diagnose, prober

__all__ = ["CHECKS", "add_doctor_parser", "run_doctor"]

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_MAX_PROBES = 1000
_EPILOG = """\
checks: transport (plain http refused or redirected, HSTS), authorization (401/403 without
credentials), the token answer (as the vendor SDK reads it, no-store, nosniff, a request id),
a foreign Origin refused and no credentialed '*' CORS, a visible rate limit, error bodies
free of upstream text and secrets, no versions in the Server banner.

At most 7 requests plus --probe-limit N. Each 200 mints a real token: run against a test
account. Credentials are sent over https, or plain http to loopback, only.
"""


def add_doctor_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``doctor`` subcommand to ``subparsers`` (from ``add_subparsers()``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="probe a deployed token route against the guide's security controls",
        description="Probe a deployed token route, whoever built it: one line per check\n"
        "(PASS, WARN, FAIL or SKIP, why, how to fix), exit status 1 on any FAIL.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "url",
        type=_url,
        metavar="URL",
        help="the token route, e.g. https://app.example.com/api/orga-client-secrets",
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="'NAME: VALUE'",
        help="a credential of a signed-in test user, e.g. 'Cookie: session=...' or "
        "'Authorization: Bearer ...' (repeatable; never printed)",
    )
    parser.add_argument(
        "--method",
        choices=("GET", "POST"),
        default="GET",
        help="how clients call the route (default: %(default)s, as the vendor SDK's "
        "sessionConfigEndpoint)",
    )
    parser.add_argument(
        "--probe-limit",
        type=_probe_limit,
        metavar="N",
        help=f"send up to N more requests (1-{_MAX_PROBES}) and expect a 429 among them",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="seconds for one request (default: %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds for all requests together (default: %(default)s)",
    )
    parser.add_argument(
        "--http-url",
        type=_http_url,
        metavar="URL",
        help="the plain-http address to check (default: the URL with http:// on port 80)",
    )
    parser.add_argument(
        "--cacert", metavar="FILE", help="trust this CA bundle (PEM) for https, e.g. a staging CA"
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list of {check, status, why, fix}"
    )
    parser.set_defaults(run=run_doctor)  # cli.main() calls args.run(args)
    return parser


def run_doctor(args: argparse.Namespace) -> int:
    """Run the checks ``args`` ask for and print the report; 1 on any FAIL, 2 on bad input."""
    try:
        target = args.url if isinstance(args.url, Target) else parse_target(args.url)
    except ValueError as exc:
        print(f"orga-asgi doctor: {exc}", file=sys.stderr)
        return 2
    options = Options(
        target=target,
        headers=tuple(args.header),
        method=args.method,
        timeout=args.timeout,
        budget=args.budget,
        probe_limit=args.probe_limit,
        cacert=args.cacert,
        http_url=args.http_url,
    )
    try:
        probe = prober(options)
    except OSError as exc:  # an unreadable or invalid --cacert (ssl.SSLError is an OSError)
        print(f"orga-asgi doctor: --cacert: {exc.strerror or exc}", file=sys.stderr)
        return 2
    results, sent, elapsed = anyio.run(diagnose, options, probe)
    if args.json:
        print(json.dumps([result.as_json() for result in results], indent=2))
    else:
        for result in results:
            print(_line(result))
        counts = dict.fromkeys(("FAIL", "WARN", "PASS", "SKIP"), 0)
        for result in results:
            counts[result.status] += 1
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        print(f"orga-asgi doctor: {summary} ({sent} requests, {elapsed:.1f} s)")
    return 1 if any(result.status == "FAIL" for result in results) else 0


def _line(result: Result) -> str:
    fix = f" Fix: {result.fix}." if result.fix and result.status != "PASS" else ""
    return f"{result.status:<4}  {result.check:<17}  {result.why}.{fix}"


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    # Never echo the value: it is a cookie or a bearer token.
    if not sep or not _HEADER_NAME.fullmatch(name) or not value:
        raise argparse.ArgumentTypeError("--header takes 'Name: value', e.g. 'Cookie: session=...'")
    if any(not (" " <= c <= "~" or "\x80" <= c <= "\xff") for c in value):
        raise argparse.ArgumentTypeError(f"the {name} header value has control characters")
    return name.lower(), value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("takes a positive number of seconds")
    return value


def _probe_limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= _MAX_PROBES:
        raise argparse.ArgumentTypeError(f"takes a whole number from 1 to {_MAX_PROBES}")
    return int(text)


def _url(text: str) -> Target:
    try:
        return parse_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _http_url(text: str) -> Target:
    target = _url(text)
    if target.scheme != "http":
        raise argparse.ArgumentTypeError("takes a plain http:// URL")
    return target
