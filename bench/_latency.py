"""The latency regime: an upstream whose every call takes 100 ms, 1,000 concurrent callers.

1. The slow upstream alone, at the same concurrency (wrk POSTs the mint call straight to it):
   its throughput is the most the kit could ever ask of it, so the kit's measured upstream
   call rate over it shows the upstream is not what limits the kit.
2. The kit with its defaults (as row (c): never-refusing windows, no in-flight cap, because
   wrk is one principal; everything else, max_upstream_concurrency and upstream_queue_timeout
   included, at the kit's defaults): a warm-up burst, RSS, the measured burst, RSS.
3. The same with max_upstream_concurrency sized by Little's law for this load (callers x 1
   upstream call in flight per request = 1,000), to show what sizing buys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import _common as common
from _procs import rss_mb
from _rows import Row
from _runrow import Ctx
from _servers import start_app, validate
from _upstream import Upstream
from _wrk import measure, wrk

DELAY = 0.1
CALLERS = 1000
WRK_TIMEOUT = "10s"  # longer than anything the kit lets a request wait (queue + 2 calls)
# A measured burst must be several request latencies long (they reach seconds when queued).
MIN_SECONDS = 5.0


@dataclass(frozen=True)
class LatencyRun:
    key: str
    label: str
    env: dict[str, str]


RUNS = [
    LatencyRun("L-kit", "kit, defaults (max_upstream_concurrency default)", {}),
    LatencyRun(
        "L-kit-sized",
        f"kit, max_upstream_concurrency={CALLERS} (callers x 1 call in flight)",
        {"KIT_MAX_UPSTREAM": str(CALLERS)},
    ),
]


def run_latency(ctx: Ctx, kit: bool) -> dict[str, Any]:
    slow = Upstream(ctx.procs, ctx.tmp, DELAY)
    out: dict[str, Any] = {"upstream_kind": slow.kind, "callers": CALLERS, "delay_ms": DELAY * 1e3}
    try:
        direct = measure(
            slow.proc.pid,
            slow,
            f"{slow.url}/v1/realtime/client-secrets",
            CALLERS,
            max(ctx.seconds, MIN_SECONDS),
            {"Authorization": f"Bearer {common.API_KEY}"},
            {"WRK_METHOD": "POST", "WRK_COUNT_STATUS": "1"},
            timeout=WRK_TIMEOUT,
        )
        out["upstream"] = direct.__dict__
        print(
            f"  upstream alone at c{CALLERS}: {direct.rps:,.0f} req/s, p50 {direct.p50_ms:.0f} "
            f"/ p99 {direct.p99_ms:.0f} ms",
            flush=True,
        )
        slow.settle()
        if not kit:
            out["skipped"] = "orga_asgi.OrgaClientSecrets not importable"
            return out
        for run in RUNS:
            out[run.key] = _kit_run(ctx, slow, run)
            r = out[run.key]
            if "failed" not in r:
                print(
                    f"  ({run.key}) {r['rps']:,.0f} req/s, p99 {r['p99_ms']:,.0f} ms, "
                    f"503 {r['statuses'].get('503', 0):,}, RSS {r['rss_before']:.1f} -> "
                    f"{r['rss_after']:.1f} MB",
                    flush=True,
                )
    finally:
        ctx.procs.stop(slow.proc)
    return out


def _kit_run(ctx: Ctx, slow: Upstream, run: LatencyRun) -> dict[str, Any]:
    row = Row(run.key, run.label, "kit:app", env=run.env, kind="kit")
    server, port = start_app(ctx.procs, row, slow.url, ctx.tmp, ctx.kit_env)
    try:
        validate(row, port)
        url = f"http://127.0.0.1:{port}{common.PATH}"
        # The warm-up is a burst of the same shape: 1,000 connections, the upstream pool
        # filled, every first-use cache made; RSS after it is the "before".
        wrk(url, CALLERS, max(ctx.warmup, 2.0), row.headers, timeout=WRK_TIMEOUT)
        slow.settle()
        before = rss_mb(server.pid)
        m = measure(
            server.pid,
            slow,
            url,
            CALLERS,
            max(ctx.seconds, MIN_SECONDS),
            row.headers,
            {"WRK_COUNT_STATUS": "1"},
            timeout=WRK_TIMEOUT,
        )
        res = dict(m.__dict__)
        res.update(
            rss_before=before,
            rss_after=rss_mb(server.pid),
            label=run.label,
            load=os.getloadavg()[0],
            upstream_calls_per_s=m.up_reqs / m.secs if m.secs else 0.0,
        )
        return res
    except (RuntimeError, OSError, ValueError) as exc:
        return {"failed": str(exc).splitlines()[0][:160], "label": run.label}
    finally:
        ctx.procs.stop(server)
