"""The probe sequence: which requests go where, in which order, and which verdict reads them.

At most seven requests, plus ``--probe-limit`` N, each bounded by ``--timeout``, all by
``--budget``. Credentials go only over HTTPS, or plain http to loopback.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from . import _checks, _exposure, _token
from ._checks import CHECKS, Result
from ._inspect import carries_token, read_token_body
from ._probe import Failure, Prober, Reply, Target

__all__ = ["Options", "diagnose", "prober"]

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line asked for (validated by the parser)."""

    target: Target
    headers: Headers = ()
    method: str = "GET"
    timeout: float = 10.0
    budget: float = 60.0
    probe_limit: int | None = None
    cacert: str | None = None
    http_url: Target | None = None


@dataclass(slots=True)
class _Seen:
    route: list[Reply] = field(default_factory=list)  # every answer of the token route
    plain: list[Reply] = field(default_factory=list)  # answers over plain http
    known: set[str] = field(default_factory=set)  # secrets to look for in error bodies


def prober(options: Options) -> Prober:
    """The :class:`Prober` for ``options``; make it outside the event loop (it may import)."""
    verify: str | bool = options.cacert or True
    return Prober(timeout=options.timeout, budget=options.budget, verify=verify)


async def diagnose(options: Options, probe: Prober) -> tuple[list[Result], int, float]:
    """Run every check; return the results in :data:`CHECKS` order, requests sent, seconds."""
    async with probe:
        results = await _Run(options, probe).run()
        return [results[name] for name in CHECKS], probe.sent, probe.elapsed


class _Run:
    def __init__(self, options: Options, probe: Prober) -> None:
        self.options, self.probe = options, probe
        given = options.target
        # Plain http to a remote host is judged as given, then the route is probed over https:
        # credentials never travel in clear text to anything but loopback.
        self.main = (
            given.switched("https") if given.scheme == "http" and not given.loopback else given
        )
        self.seen = _Seen()
        for _, value in options.headers:
            self.seen.known |= _credential_parts(value)
        self.results: dict[str, Result] = {}

    def add(self, result: Result) -> None:
        self.results[result.check] = result

    async def route(self, headers: Headers, method: str | None = None) -> Reply | Failure:
        reply = await self.probe.send(method or self.options.method, self.main.url, headers)
        if isinstance(reply, Reply):
            self.seen.route.append(reply)
            if reply.status == 200:
                self.seen.known |= _secrets_of(reply)
        return reply

    async def run(self) -> dict[str, Result]:
        await self.transport()
        anonymous = await self.route(())
        sandbox = await self.is_sandbox(anonymous)
        self.add(_checks.anonymous(anonymous, sandbox))
        if self.options.headers:
            signed_in: Reply | Failure | None = await self.route(self.options.headers)
        else:
            signed_in = anonymous if _token_reply(anonymous) else None
        result, found = _token.token_response(signed_in, not self.options.headers)
        self.add(result)
        self.seen.known |= found
        ok = _token_reply(signed_in)
        self.add(_token.no_store(ok))
        self.add(_token.nosniff(ok))
        fallback = anonymous if isinstance(anonymous, Reply) else None
        self.add(_token.request_id(ok, fallback))
        await self.exposure(ok)
        await self.rate_limit()
        https = self.seen.route if self.main.scheme == "https" else []
        if self.main.scheme == "https":
            self.add(_checks.hsts(https))
        else:
            self.add(
                Result(
                    "transport.hsts",
                    "SKIP",
                    "HSTS is sent over HTTPS only, and this URL is plain http on loopback: run "
                    "doctor against the deployed https:// URL",
                )
            )
        self.add(_exposure.error_leaks([*self.seen.plain, *self.seen.route], self.seen.known))
        self.add(_exposure.banner([*self.seen.route, *self.seen.plain]))
        return self.results

    async def transport(self) -> None:
        given = self.options.target
        plain = self.options.http_url
        if plain is None and given.scheme == "http" and given.loopback:
            self.add(
                Result(
                    "transport.http",
                    "SKIP",
                    "the URL is plain http on loopback (a local server, or an app behind a TLS "
                    "proxy): run doctor against the deployed https:// URL, or name the plain-http "
                    "address with --http-url",
                )
            )
            return
        if plain is None:
            plain = given if given.scheme == "http" else given.switched("http")
        reply = await self.probe.send(self.options.method, plain.url)
        if isinstance(reply, Reply):
            self.seen.plain.append(reply)
        self.add(_checks.plain_http(reply))

    async def is_sandbox(self, anonymous: Reply | Failure) -> bool:
        """Whether a loopback route that minted anonymously is ``orga-asgi dev``'s sandbox.

        The sandbox lets anonymous loopback callers in by design and says so at ``/``;
        anything not on loopback, or not saying exactly that, is judged as a deployment.
        """
        if not (self.main.loopback and _token_reply(anonymous)):
            return False
        index = await self.probe.send("GET", self.main.origin + "/")
        if not isinstance(index, Reply) or index.status != 200:
            return False
        try:
            data = json.loads(index.body)
        except (ValueError, RecursionError):
            return False
        return bool(data == {"sandbox": True, "endpoint": self.main.route})

    async def exposure(self, ok: Reply | None) -> None:
        # A bogus, JWT-shaped bearer: an error that echoes credentials shows it verbatim.
        marker = "eyJkb2N0b3IiOiJvcmdhLWFzZ2kifQ." + secrets.token_urlsafe(24) + ".x"
        self.seen.known.add(marker)
        await self.route((("authorization", f"Bearer {marker}"),))
        foreign = (*self.options.headers, ("origin", _exposure.FOREIGN_ORIGIN))
        self.add(_exposure.foreign_origin(await self.route(foreign), ok))
        preflight = await self.route(
            (
                ("origin", _exposure.FOREIGN_ORIGIN),
                ("access-control-request-method", self.options.method),
                ("access-control-request-headers", "authorization"),
            ),
            method="OPTIONS",
        )
        self.add(_exposure.cors(preflight, self.seen.route))

    async def rate_limit(self) -> None:
        limit = self.options.probe_limit
        statuses: list[int] = []
        failure: Failure | None = None
        for _ in range(limit or 0):
            reply = await self.route(self.options.headers)
            if isinstance(reply, Failure):
                failure = reply
                break
            statuses.append(reply.status)
            if reply.status == 429:
                break
        self.add(_checks.rate_limit_probe(limit, statuses, failure))
        saw_429 = any(reply.status == 429 for reply in self.seen.route)
        self.add(_checks.rate_limit_headers(self.seen.route, saw_429, limit is not None))


def _token_reply(reply: Reply | Failure | None) -> Reply | None:
    """``reply`` when it is a 200 carrying a token, else ``None``."""
    if isinstance(reply, Reply) and reply.status == 200 and carries_token(reply.body):
        return reply
    return None


def _secrets_of(reply: Reply) -> set[str]:
    return read_token_body(reply.body, reply.truncated).secrets


def _credential_parts(value: str) -> set[str]:
    """A header value and the secrets inside it: the credential after an auth scheme, each
    cookie's value. An error body may echo any of them alone."""
    parts = {value, value.partition(" ")[2].strip()}
    for pair in value.split(";"):
        parts.add(pair.partition("=")[2].strip())
    return {part for part in parts if part}
