"""The tables of one run: the rows, and the latency regime."""

from __future__ import annotations

from typing import Any

from _latency import RUNS
from _rows import ROWS

Results = dict[str, dict[str, Any]]


def fmt(x: float | None, digits: int = 0) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:,.{digits}f}"


def ms(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def ratio(x: float | None, base: float | None) -> str:
    return f"{x / base:.2f}x" if x and base else "-"


def why_not(r: dict[str, Any] | None) -> str | None:
    if r is None:
        return "not run (--only)"
    if "c32" in r:
        return None
    return " ".join(str(v) for v in r.values())


def table(results: Results) -> list[str]:
    a = (results.get("a") or {}).get("c32", {})
    e = (results.get("e") or {}).get("c32", {})
    out = [
        "| row | what | req/s c32 | p50 / p99 ms c32 | req/s c1 | p50 / p99 ms c1 "
        "| CPU µs/req c32 | server CPU % c32 | errors | non-2xx | CPU vs (a) | req/s c32 vs (e) "
        "| up conns/req | RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in ROWS:
        r = results.get(row.key)
        if r is None:
            continue
        reason = why_not(r)
        if reason:  # skipped, failed or n/a: say why in the row
            out.append(f"| ({row.key}) | {row.label} | {reason.replace('|', '/')} |" + " |" * 11)
            continue
        c32, c1 = r["c32"], r["c1"]
        up = c32["up_conns_per_req"]
        out.append(
            f"| ({row.key}) | {row.label} | {fmt(c32['rps'])} | {ms(c32['p50_ms'])} / "
            f"{ms(c32['p99_ms'])} | {fmt(c1['rps'])} | {ms(c1['p50_ms'])} / {ms(c1['p99_ms'])} "
            f"| {fmt(c32['cpu_us'])} | {fmt(c32['cpu_us'] * c32['rps'] / 1e4)} "
            f"| {c32['errors'] + c1['errors']} "
            f"| {c32['non2xx'] + c1['non2xx']} | {ratio(c32['cpu_us'], a.get('cpu_us'))} "
            f"| {ratio(c32['rps'], e.get('rps'))} "
            f"| {'-' if up is None else f'{up:.2f}'} | {fmt(r['rss_mb'])} |"
        )
    return out


def latency_table(lat: dict[str, Any]) -> list[str]:
    out = [
        f"Latency regime: upstream = {lat['upstream_kind']}, {lat['callers']:,} concurrent "
        "callers (wrk -t1 -c1000, --timeout 10s).",
        "",
        "| run | req/s | p50 / p99 ms | errors | non-2xx | 503 | upstream calls/s "
        "| CPU µs/req | server CPU % | RSS MB before -> after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    u = lat.get("upstream")
    if u:
        out.append(
            f"| upstream alone (POST client-secrets) | {fmt(u['rps'])} | {ms(u['p50_ms'])} / "
            f"{ms(u['p99_ms'])} | {u['errors']} | {u['non2xx']} | "
            f"{u['statuses'].get('503', 0)} | {fmt(u['rps'])} | {fmt(u['cpu_us'])} "
            f"| {fmt(u['cpu_us'] * u['rps'] / 1e4)} | - |"
        )
    for run in RUNS:
        r = lat.get(run.key)
        if r is None:
            continue
        if "failed" in r:
            out.append(f"| ({run.key}) {run.label} | failed: {r['failed']} |" + " |" * 8)
            continue
        out.append(
            f"| ({run.key}) {run.label} | {fmt(r['rps'])} | {ms(r['p50_ms'])} / "
            f"{ms(r['p99_ms'])} | {r['errors']} | {r['non2xx']:,} | "
            f"{r['statuses'].get('503', 0):,} | {fmt(r['upstream_calls_per_s'])} "
            f"| {fmt(r['cpu_us'])} | {fmt(r['cpu_us'] * r['rps'] / 1e4)} "
            f"| {r['rss_before']:.1f} -> {r['rss_after']:.1f} |"
        )
    return out
