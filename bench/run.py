#!/usr/bin/env python3
"""Benchmark GET /api/orga-client-secrets: the orga-asgi kit against baselines and peers.

    python bench/run.py                    # every row and phase (about 12 minutes)
    python bench/run.py --quick            # smoke check: 1 s warm-up, 2 s runs, 20k addresses
    python bench/run.py --only d,e         # rows, groups (d, redis, granian, peers, features)
                                           # and phases (latency, memory)
    python bench/run.py --memory           # memory phase only, with 100k minted tokens first
    python bench/run.py --profile d-401,d-429   # where the time goes (py-spy), per row

Every run starts a private nginx (static JSON upstream, temp prefix, free loopback port), a
private Redis when a row needs one, and, one at a time, each implementation on a free loopback
port; wrk runs in its own process. Every process started here is stopped by its process group
(and anything left in its session by PID), always, Ctrl-C and failures included. See
bench/README.md for the rows, the targets and how to read the ratios. Standard library only,
so it runs from the project venv; the peers get their own venv (bench/.peers-venv).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH / "apps")]  # the harness modules and apps/_common.py

import _instructions  # noqa: E402
import _memory  # noqa: E402
import _peers  # noqa: E402
import _report  # noqa: E402
import _rows  # noqa: E402
import _targets  # noqa: E402
from _latency import run_latency  # noqa: E402
from _procs import Procs, raise_nofile  # noqa: E402
from _profile import run_profile  # noqa: E402
from _redis import Redis  # noqa: E402
from _runrow import Ctx, run_row  # noqa: E402
from _upstream import Upstream  # noqa: E402

RESULTS = BENCH / "results"
# What a row that cannot be measured raises; anything else is a harness bug and stops the run.
ROW_ERRORS = (
    RuntimeError,
    OSError,
    subprocess.SubprocessError,
    ValueError,
    _peers.PeersUnavailable,
)
PACKAGES = [
    "orga-asgi",
    "starlette",
    "uvicorn",
    "granian",
    "uvloop",
    "httptools",
    "aiohttp",
    "httpx",
    "httpcore",
    "sniffio",
    "limits",
    "redis",
    "opentelemetry-sdk",
]


def versions() -> str:
    def ver(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "-"

    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr
    wrk_v = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    pkgs = " ".join(f"{m} {ver(m)}" for m in PACKAGES)
    return (
        f"Python {platform.python_version()}, {pkgs}; "
        f"{nginx.strip().split(': ', 1)[-1]}, {wrk_v.stdout.split(' [')[0].strip()}; "
        f"{os.cpu_count()} CPUs, load average before run "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


@contextlib.contextmanager
def harness(seconds: float, warmup: float, limit: str, need_redis: bool) -> Iterator[Ctx]:
    for tool in ("nginx", "wrk", "ss"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (Debian: apt-get install nginx wrk iproute2)")
    raise_nofile()
    procs = Procs()
    # SIGTERM (nox/CI cancelling) must still run the finally blocks that stop the servers,
    # and so must Ctrl-C even when a parent shell started us with SIGINT ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="orga-bench.") as tmp:
        try:
            up = Upstream(procs, Path(tmp))
            redis = Redis(procs, Path(tmp)) if need_redis and Redis.available() else None
            kit_env = {"KIT_RATE_LIMITS": limit, "KIT_IP_RATE_LIMITS": limit}
            yield Ctx(procs, up, Path(tmp), redis, kit_env, seconds, warmup)
        finally:
            procs.stop_all()


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row over its cycles: medians of rates, latencies and CPU; sums of counts."""
    ok = [r for r in runs if "c32" in r]
    if not ok:
        return runs[0]
    out: dict[str, Any] = {"cycles": len(ok), "rss_mb": max(r["rss_mb"] for r in ok)}
    for run in ("c32", "c1"):
        agg: dict[str, Any] = {}
        for metric, first in ok[0][run].items():
            values = [r[run][metric] for r in ok if r[run][metric] is not None]
            if not isinstance(first, (int, float)) or isinstance(first, bool):
                agg[metric] = ok[-1][run][metric]
            elif metric in ("requests", "errors", "non2xx", "up_reqs", "relays"):
                agg[metric] = sum(values)
            else:
                agg[metric] = statistics.median(values) if values else None
        out[run] = agg
    for extra in ("redis", "redis_serverwide", "pairs"):
        if extra in ok[-1]:
            out[extra] = ok[-1][extra]
    if all("flood" in r for r in ok):
        out["flood"] = {
            k: sum(r["flood"][k] for r in ok) for k in ("refusals", "round_trips", "connections")
        }
    return out


def progress(tag: str, r: dict[str, Any], t0: float) -> None:
    if "c32" not in r:
        print(f"{tag} {next(iter(r))}: {next(iter(r.values()))}", flush=True)
        return
    print(
        f"{tag} {r['c32']['rps']:,.0f} req/s c32, {r['c1']['rps']:,.0f} req/s c1, "
        f"{r['c32']['cpu_us']:,.0f} µs CPU/req, load {r['load']:.1f}  "
        f"[{time.monotonic() - t0:.0f}s]",
        flush=True,
    )


def run_bench(args: argparse.Namespace, keys: list[str], command: str) -> int:
    have = _rows.features()
    rows = [r for r in _rows.ROWS if r.key in keys]
    runs: dict[str, list[dict[str, Any]]] = {r.key: [] for r in rows}
    lat = mem = None
    started = dt.datetime.now().astimezone()
    header = versions()
    need_redis = any(r.redis for r in rows)
    with harness(args.seconds, args.warmup, args.kit_limit, need_redis) as ctx:
        print(f"upstream {ctx.up.kind} on {ctx.up.url}; {args.seconds:g}s per run", flush=True)
        if need_redis and ctx.redis is None:
            print("redis-server not installed: Redis rows skipped", flush=True)
        # Cycles interleave the rows (a b c ... a b c ...) so a burst of load from something
        # else on the box lands on several rows instead of skewing one.
        for cycle in range(1, args.cycles + 1):
            for row in rows:
                t0 = time.monotonic()
                reason = _rows.unavailable(row, have)
                r: dict[str, Any]
                if reason:
                    r = {"skipped": reason}
                else:
                    try:
                        r = run_row(ctx, row)
                    except ROW_ERRORS as exc:
                        r = {"failed": str(exc).splitlines()[0][:200]}
                        print(f"({row.key}) FAILED: {exc}", file=sys.stderr, flush=True)
                runs[row.key].append(r)
                progress(f"[{cycle}/{args.cycles}] ({row.key})", r, t0)
        if "latency" in keys:
            print("latency regime:", flush=True)
            lat = run_latency(ctx, bool(have.get("kit")))
        if "memory" in keys and have.get("kit"):
            print(f"memory: {args.requests:,} distinct addresses per family", flush=True)
            mem = _memory.run_memory(ctx, args.requests)
    results = {k: aggregate(v) for k, v in runs.items() if v}
    cycles = "one cycle" if args.cycles == 1 else f"median of {args.cycles} interleaved cycles"
    report = [
        f"Measured {started:%Y-%m-%d %H:%M %Z} with `{command}` (wrk -t1, {args.warmup:g}s "
        f"warm-up at -c32, then {args.seconds:g}s at -c32 and {args.seconds:g}s at -c1; one "
        f"server process per row, uvloop; {cycles}). Never-refusing kit windows: "
        f"`{args.kit_limit}`.",
        "",
        f"{header}; the kit imported from `{have.get('path', '?')}`.",
        "",
        *_report.table(results),
        "",
        "errors = wrk connect/read/write/timeout errors, non-2xx = responses >= 400 (expected "
        "for the refusing rows), both summed over the c32 and c1 runs; CPU = server utime+stime "
        "/ requests.",
    ]
    if lat:
        report += ["", *_report.latency_table(lat)]
    report += _targets.targets(results, lat, mem)
    text = "\n".join(report).rstrip() + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    raw = {"rows": runs, "latency": lat, "memory": mem, "features": have}
    (RESULTS / "latest.json").write_text(json.dumps(raw, indent=1, default=str))
    print(f"written to {RESULTS / 'latest.md'} (raw numbers: latest.json)")
    # A row that could not be measured fails the run; a missed target does not (it is one
    # measurement on a shared box: read the ratios).
    failed = any("failed" in r for rs in runs.values() for r in rs)
    failed |= any("failed" in v for v in (lat or {}).values() if isinstance(v, dict))
    failed |= any("failed" in v for v in (mem or {}).values() if isinstance(v, dict))
    return 1 if failed else 0


def run_memory_only(args: argparse.Namespace, command: str) -> int:
    if not _rows.features().get("kit"):
        print("orga_asgi.OrgaClientSecrets not importable: nothing to measure", file=sys.stderr)
        return 2
    with harness(args.seconds, args.warmup, args.kit_limit, False) as ctx:
        mem = _memory.run_memory(ctx, args.requests, minted=True)
    lines = [f"Memory check with `{command}`; {versions()}.", ""]
    minted = mem.get("IPv4", {}).get("minted")
    if minted:
        lines.append(f"- {minted['requests']:,} minted tokens: {minted['delta_mb']:+.1f} MB RSS")
    lines += [
        ln for ln in _targets.targets({}, None, mem) if "Memory" in ln or ln.startswith("- IP")
    ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.md").write_text(text)
    over = [f for f in ("IPv4", "IPv6 /64") if mem[f].get("delta_mb", 1e9) > _memory.BUDGET_MB]
    return 1 if over else 0


def run_profiles(args: argparse.Namespace, keys: list[str]) -> int:
    have = _rows.features()
    rows = [r for r in _rows.ROWS if r.key in keys]
    with harness(args.seconds, args.warmup, args.kit_limit, any(r.redis for r in rows)) as ctx:
        for row in rows:
            reason = _rows.unavailable(row, have)
            try:
                text = run_profile(ctx, row, args.native) if not reason else [reason]
            except ROW_ERRORS as exc:
                text = [f"({row.key}) failed: {str(exc).splitlines()[0][:200]}"]
            print("\n".join(text))
            print(flush=True)
    return 0


def run_instructions(args: argparse.Namespace, keys: list[str], command: str) -> int:
    """Instructions per request (valgrind), this checkout and ``--against``'s revision."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind not found (Debian: apt-get install valgrind)")
    rows = [r for r in _rows.ROWS if r.key in keys]
    counts: dict[str, dict[str, float]] = {}
    answers: dict[str, _instructions.Answer] = {}  # this checkout's, per row
    failed = False
    with (
        harness(args.seconds, args.warmup, args.kit_limit, False) as ctx,
        _instructions.checkout(args.against) as other,
    ):
        codes = [("this checkout", None)] + ([(args.against, other)] if other else [])
        for row in rows:
            for name, code in codes:
                try:
                    got, answer = _instructions.per_request(ctx, row, code, str(len(counts)))
                except ROW_ERRORS as exc:
                    print(f"({row.key}) {name} failed: {str(exc).splitlines()[0][:200]}")
                    failed = True
                    continue
                counts.setdefault(row.key, {})[name] = got
                if code is None:
                    answers[row.key] = answer
                print(f"({row.key}) {name}: {got:,.0f} instructions/request", flush=True)
    lines = [f"Instructions per request with `{command}` ({_instructions.env_note()}); "
             f"{versions()}.", "", *_instructions.report(rows, counts, args.against)]  # fmt: skip
    shares = _instructions.server_share(rows, counts, answers)
    if shares:
        lines += ["", "The server's own part (valgrind, uvicorn's `send` replaying each answer):",
                  "", *shares]  # fmt: skip
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "instructions.md").write_text(text)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="2 s runs, 1 s warm-up, 20k addresses")
    ap.add_argument("--duration", type=float, default=None, help="seconds per measured run (10)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds of warm-up (2)")
    ap.add_argument(
        "--only",
        default="rows,latency,memory",
        help="comma-separated rows, groups and phases: "
        f"{','.join([*_rows.ROW_KEYS, *_rows.PHASES])}; groups {','.join(_rows.GROUPS)}",
    )
    ap.add_argument("--cycles", type=int, default=None, help="repeat all rows, medians (1)")
    ap.add_argument("--memory", action="store_true", help="the memory phase alone (+ minted)")
    ap.add_argument("--profile", metavar="ROWS", help="py-spy profile of these rows instead")
    ap.add_argument("--native", action="store_true", help="--profile with C frames (slower)")
    ap.add_argument(
        "--instructions", metavar="ROWS", help="valgrind instructions/request of these rows"
    )
    ap.add_argument("--against", metavar="REV", help="--instructions: also this git revision")
    ap.add_argument("--requests", type=int, default=None, help="addresses per memory flood")
    ap.add_argument(
        "--kit-limit",
        default=_rows.NEVER,
        help=f"the never-refusing kit windows, limits notation ({_rows.NEVER})",
    )
    args = ap.parse_args(argv)
    args.seconds = args.duration or (2.0 if args.quick else 10.0)
    args.warmup = args.warmup or (1.0 if args.quick else 2.0)
    args.cycles = args.cycles or 1
    args.requests = args.requests or (20_000 if args.quick else 100_000)
    command = ("python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    try:
        keys = _rows.expand(args.instructions or args.profile or args.only)
    except ValueError as exc:
        ap.error(str(exc))
    try:
        if args.memory:
            return run_memory_only(args, command)
        if args.profile:
            return run_profiles(args, keys)
        if args.instructions:
            return run_instructions(args, keys, command)
        return run_bench(args, keys, command)
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
