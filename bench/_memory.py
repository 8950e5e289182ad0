"""Memory: RSS growth while N distinct client addresses flood refusals (IPv4, IPv6 /64s).

Each address family gets a fresh kit server as in row (c) (memory:// storage, never-refusing
windows, here per hour). The harness first checks that the per-IP window is keyed
by the ``X-Forwarded-For`` address (wrk plays a trusted proxy on 127.0.0.1), warms up (mints,
then refusals from addresses the measured phase never uses), reads RSS, then sends exactly N
refusals (401, no credentials), each from a different address, and reads RSS again. The per-IP
check runs before ``authorize``, so every address leaves a window entry, and all N are still
inside their window when RSS is read: the address-spraying worst case. ``--memory`` adds N
minted tokens first (a leak check).
"""

from __future__ import annotations

import http.client
import re
import time
from typing import Any

import _common as common
from _procs import rss_mb
from _rows import BOTH, XFP, Row
from _runrow import Ctx
from _servers import start_app, validate
from _wrk import errors, wrk

BUDGET_MB = 15.0
WINDOW = "100000000/hour"
FAMILIES = {
    # family -> (wrk's WRK_XFF_DISTINCT, two fresh addresses for the keying check)
    "IPv4": ("1", ("192.0.2.1", "192.0.2.2")),
    "IPv6 /64": ("6", ("2001:db8:ffff:1::1", "2001:db8:ffff:2::1")),
}


def check_per_address(port: int, addresses: tuple[str, str]) -> None:
    """Two fresh addresses must each get a full window (the same RateLimit r=)."""
    seen = []
    for addr in addresses:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", common.PATH, headers={**XFP, "X-Forwarded-For": addr})
            r = c.getresponse()
            r.read()
            m = re.search(r";r=(\d+)", r.getheader("ratelimit") or "")
        finally:
            c.close()
        seen.append(m.group(1) if m else None)
    if seen[0] is None or seen[0] != seen[1]:
        raise RuntimeError(f"per-IP window not keyed by X-Forwarded-For (RateLimit r= {seen})")


def run_memory(ctx: Ctx, n: int, minted: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"addresses": n, "budget_mb": BUDGET_MB}
    for family, (mode, probe) in FAMILIES.items():
        try:
            out[family] = _flood(ctx, family, mode, probe, n, minted and family == "IPv4")
        except (RuntimeError, OSError, ValueError) as exc:
            out[family] = {"failed": str(exc).splitlines()[0][:160]}
        r = out[family]
        print(
            f"  memory {family}: "
            + (r["failed"] if "failed" in r else f"+{r['delta_mb']:.1f} MB ({r['detail']})"),
            flush=True,
        )
    return out


def _flood(
    ctx: Ctx, family: str, mode: str, probe: tuple[str, str], n: int, minted: bool
) -> dict[str, Any]:
    row = Row(f"mem-{mode}", "kit as (c)", "kit:app", kind="kit")
    # Hour-long never-refusing windows: every address stays in its window however long the
    # flood takes on a busy box (a per-minute window would start forgetting after 60 s).
    env = {"KIT_RATE_LIMITS": WINDOW, "KIT_IP_RATE_LIMITS": WINDOW}
    server, port = start_app(ctx.procs, row, ctx.up.url, ctx.tmp, env)
    try:
        validate(row, port)
        check_per_address(port, probe)
        url = f"http://127.0.0.1:{port}{common.PATH}"
        # Warm both paths: pools, imports, first-use caches, the limiter's table growth.
        wrk(url, 32, ctx.warmup, BOTH)
        warm_env = {"WRK_XFF_DISTINCT": mode, "WRK_XFF_BASE": "8000000"}
        wrk(url, 32, 1, XFP, warm_env, max_requests=2000)
        base = rss_mb(server.pid)
        res: dict[str, Any] = {"rss_base": base}
        if minted:
            # Bounded by wrk's -d: 600 s is far more than N requests need even at 300 req/s.
            w = wrk(url, 32, 600, BOTH, max_requests=n)
            res["minted"] = {"requests": int(w["requests"]), "delta_mb": rss_mb(server.pid) - base}
        before = rss_mb(server.pid)
        t = time.monotonic()
        env = {"WRK_XFF_DISTINCT": mode, "WRK_XFF_BASE": "1000"}
        w = wrk(url, 32, 600, XFP, env, max_requests=n)
        now = rss_mb(server.pid)
        res.update(
            rss_after=now,
            delta_mb=now - before,
            requests=int(w["requests"]),
            non2xx=int(w["err_status"]),
            errors=errors(w),
            seconds=time.monotonic() - t,
        )
        if res["requests"] < n:
            raise RuntimeError(f"only {res['requests']:,} of {n:,} {family} refusals were driven")
        res["detail"] = f"{before:.1f} -> {now:.1f} MB, {n:,} refusals in {res['seconds']:.0f}s"
        return res
    finally:
        ctx.procs.stop(server)
