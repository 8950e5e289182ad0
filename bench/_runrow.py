"""One table row: start, validate, warm up, measure at -c32 and -c1, extras, stop."""

from __future__ import annotations

import http.client
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as common
from _procs import Procs, request, rss_mb
from _redis import Redis, RoundTrips, monitor_sample, serverwide_delta
from _rows import Row
from _servers import start_app, validate
from _upstream import Upstream
from _wrk import measure, wrk


@dataclass
class Ctx:
    """What every row of one run shares."""

    procs: Procs
    up: Upstream
    tmp: Path
    redis: Redis | None
    kit_env: Mapping[str, str]
    seconds: float
    warmup: float


def sequential(
    port: int, headers: Mapping[str, str], expect: int = 200, n: int = 300
) -> tuple[int, int]:
    """n requests one after another on one keep-alive connection: (sent, answered expect)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = 0
    try:
        for _ in range(n):
            status, _ = request(port, common.PATH, headers, conn=conn)
            ok += status == expect
    finally:
        conn.close()
    return n, ok


def run_row(ctx: Ctx, row: Row) -> dict[str, Any]:
    if row.redis:
        if ctx.redis is None:
            return {"skipped": "redis-server not installed (Debian: apt-get install redis-server)"}
        ctx.redis.cmd("FLUSHALL")  # counts left by an earlier row would refuse this one
    redis_url = ctx.redis.url if ctx.redis else None
    server, port = start_app(ctx.procs, row, ctx.up.url, ctx.tmp, ctx.kit_env, redis_url)
    try:
        validate(row, port)
        url = f"http://127.0.0.1:{port}{common.PATH}"
        trips = RoundTrips(ctx.redis, server.pid) if row.flood and ctx.redis else None
        if trips:
            trips.start()
        warm = wrk(url, 32, ctx.warmup, row.headers, row.wrk_env)  # discarded: pools, caches
        stats0 = ctx.redis.commandstats() if row.redis and ctx.redis else {}
        c32 = measure(server.pid, ctx.up, url, 32, ctx.seconds, row.headers, row.wrk_env)
        stats1 = ctx.redis.commandstats() if row.redis and ctx.redis else {}
        c1 = measure(server.pid, ctx.up, url, 1, ctx.seconds, row.headers, row.wrk_env)
        res: dict[str, Any] = {
            "c32": c32.__dict__,
            "c1": c1.__dict__,
            "rss_mb": rss_mb(server.pid),
            # 1-minute load average after the row: on a shared box, the row's noise level
            "load": os.getloadavg()[0],
        }
        if trips:
            segs, conns = trips.stop()
            res["flood"] = {
                "refusals": int(warm["requests"]) + c32.requests + c1.requests,
                "round_trips": segs,
                "connections": conns,
            }
        if row.wrk_env.get("WRK_RELAY_PATH"):
            # CPU per (mint + relay) pair: wrk sends one relay call per minted handle.
            res["pairs"] = {
                run: {"relays": r.relays, "cpu_us_per_pair": r.cpu_us * r.requests / r.relays}
                for run, r in (("c32", c32), ("c1", c1))
                if r.relays
            }
        if row.redis and ctx.redis:
            # Server-wide, so only an upper bound if anything else used this Redis meanwhile
            # (nothing should: it is private to this run).
            res["redis_serverwide"] = serverwide_delta(stats0, stats1, c32.requests)
            redis = ctx.redis
            res["redis"] = monitor_sample(
                redis, server.pid, lambda: sequential(port, row.headers, row.expect)
            )
        return res
    finally:
        ctx.procs.stop(server)
