"""The Orga upstream stand-ins: a private nginx, static or slow (100 ms per call).

The static one answers in microseconds (never the bottleneck). The slow one is for the
latency regime: Debian's nginx with ``libnginx-mod-http-echo`` (``echo_sleep``, a timer, so one
worker holds thousands of slow calls at once), or, where that module is not installed,
``apps/slow_upstream.py`` (asyncio, stdlib). Either way the harness measures it directly at the
same concurrency before using it, so the table shows it is not what limits the kit.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import _common as common
from _procs import Procs, free_port, request, wait_http

BENCH = Path(__file__).resolve().parent
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")


def _nginx_literal(obj: object) -> str:
    # Inside an nginx quoted string "\n" becomes a newline: double the JSON's backslashes.
    return json.dumps(obj, separators=(",", ":")).replace("\\", "\\\\")


class Upstream:
    """A private upstream on a free loopback port; ``delay`` seconds per call (0: static)."""

    def __init__(self, procs: Procs, tmp: Path, delay: float = 0.0) -> None:
        self.delay = delay
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        name = "nginx" if not delay else f"nginx-delay{delay:g}"
        if delay and not ECHO_MODULE.exists():
            self.kind = f"apps/slow_upstream.py (asyncio, {delay * 1000:g} ms per call)"
            argv = [sys.executable, str(BENCH / "apps" / "slow_upstream.py")]
            env = {"PORT": str(self.port), "DELAY": str(delay), "PATH": "/usr/bin:/bin"}
            self.proc = procs.start(argv, tmp / f"{name}.out", env=env)
        else:
            self.kind = (
                f"nginx + echo_sleep {delay * 1000:g} ms per call" if delay else "nginx static"
            )
            self.proc = procs.start(self._nginx_argv(tmp / name), tmp / f"{name}.out")
        wait_http(self.proc, self.port, "/nginx_status", limit=10)
        status, body = request(
            self.port,
            "/v1/realtime/client-secrets",
            {"Authorization": f"Bearer {common.API_KEY}"},
            method="POST",
        )
        if status != 200 or json.loads(body) != common.CLIENT_SECRETS:
            raise RuntimeError(f"upstream ({self.kind}) answers {status} {body[:200]!r}")

    def _nginx_argv(self, prefix: Path) -> list[str]:
        prefix.mkdir()

        def reply(obj: object) -> str:
            if not self.delay:
                return f"return 200 '{_nginx_literal(obj)}';"
            return f"echo_sleep {self.delay:.3f}; echo -n '{_nginx_literal(obj)}';"

        conf = (BENCH / "upstream.conf.in").read_text()
        for k, v in {
            "@LOAD_MODULE@": f"load_module {ECHO_MODULE};" if self.delay else "",
            "@PORT@": str(self.port),
            "@PREFIX@": str(prefix),
            "@API_KEY@": common.API_KEY,
            "@REPLY_CLIENT_SECRETS@": reply(common.CLIENT_SECRETS),
            "@REPLY_ICE_CONFIG@": reply(common.ICE_CONFIG),
            "@REPLY_CALLS@": reply(common.CALLS_ANSWER),
        }.items():
            conf = conf.replace(k, v)
        (prefix / "nginx.conf").write_text(conf)
        return [
            "nginx",
            "-p",
            str(prefix),
            "-e",
            str(prefix / "error.log"),
            "-c",
            str(prefix / "nginx.conf"),
        ]

    def counters(self) -> tuple[int, int]:
        """(accepted connections, requests) from stub_status, this probe included."""
        _, body = request(self.port, "/nginx_status", {})
        accepts, _handled, requests = body.decode().splitlines()[2].split()
        return int(accepts), int(requests)

    def settle(self, quiet: float = 0.5, limit: float = 15.0) -> None:
        """Wait until no call reaches the upstream for ``quiet`` seconds (at most ``limit``).

        When a wrk run ends, the server still finishes the requests wrk abandoned; with a
        slow upstream that is seconds of work that would land in the next measured run.
        """
        deadline = time.monotonic() + limit
        _, last = self.counters()
        still = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            _, now = self.counters()
            if now - last > 1:  # our own probe counts as one
                still = time.monotonic()
            elif time.monotonic() - still >= quiet:
                return
            last = now
