"""The issue's targets (OK / MISSED), every one a ratio or a count from this one run."""

from __future__ import annotations

from typing import Any

from _latency import CALLERS
from _memory import BUDGET_MB
from _report import Results, fmt, ms, ratio, why_not


class Targets:
    """Collects the target lines; a target whose rows did not run says why instead."""

    def __init__(self, results: Results) -> None:
        self.r = results
        self.lines: list[str] = []

    def get(self, key: str, run: str, metric: str) -> float | None:
        r = self.r.get(key)
        v = r[run][metric] if r and run in r else None
        return float(v) if v is not None else None

    def head(self, text: str) -> None:
        self.lines += ["", f"**{text}**", ""]

    def verdict(self, name: str, ok: bool, text: str) -> None:
        self.lines.append(f"- {name}: {text} {'OK' if ok else 'MISSED'}")

    def na(self, name: str, *keys: str) -> bool:
        """True if one of the target's rows did not run: silently when it was not selected
        (--only), else with a line saying why (skipped, failed, feature not present)."""
        if any(k not in self.r for k in keys):
            return True
        for k in keys:
            reason = why_not(self.r.get(k))
            if reason:
                why = reason if reason.startswith("n/a") else f"n/a, ({k}) {reason}"
                self.lines.append(f"- {name}: {why}")
                return True
        return False

    def done(self) -> list[str]:
        """The lines, without the headings of sections that ended up empty."""
        out: list[str] = []
        for i, line in enumerate(self.lines):
            if line.startswith("**"):
                rest = self.lines[i + 1 :]
                nxt = next((x for x in rest if x.startswith(("- ", "**"))), "**")
                if nxt.startswith("**"):
                    continue
            out.append(line)
        while out and not out[-1]:
            out.pop()
        return [x for j, x in enumerate(out) if x or j == 0 or out[j - 1]]

    def ratio(
        self, name: str, num: tuple[str, str, str], den: tuple[str, str, str], op: str, bound: float
    ) -> None:
        if self.na(name, num[0], den[0]):
            return
        x, base = self.get(*num), self.get(*den)
        if not x or not base:
            self.lines.append(f"- {name}: n/a (no measurement)")
            return
        q = x / base
        ok = q >= bound if op == ">=" else q <= bound
        self.verdict(name, ok, f"{q:.2f}x ({fmt(x)} vs {fmt(base)}; target {op} {bound:g}x)")


def targets(results: Results, lat: dict[str, Any] | None, mem: dict[str, Any] | None) -> list[str]:
    t = Targets(results)
    t.head("Refusals at or above the framework floor (e), req/s")
    for k in ("d-401", "d-429"):
        for run in ("c32", "c1"):
            before = len(t.lines)
            t.ratio(f"({k}) vs (e) at {run}", (k, run, "rps"), ("e", run, "rps"), ">=", 1.0)
            kc, ec = t.get(k, run, "cpu_us"), t.get("e", run, "cpu_us")
            if len(t.lines) > before and kc and ec and t.lines[-1].endswith(("OK", "MISSED")):
                t.lines[-1] += f" [CPU/req {fmt(kc)} vs {fmt(ec)} µs: {kc / ec:.2f}x]"
    t.head("Minting at parity: CPU per minted token")
    t.ratio("(c) CPU µs/req vs (a)", ("c", "c32", "cpu_us"), ("a", "c32", "cpu_us"), "<=", 1.0)
    _redis_targets(t)
    _latency_targets(t, lat)
    _memory_targets(t, mem)
    t.head("Peers (req/s c32; CPU ratio in brackets, for information)")
    for kit, peer, bound in (
        ("c", "slowapi", 5.0),
        ("c-redis", "slowapi-redis", 5.0),
        ("c", "litestar", 3.0),
        ("d-429", "slowapi-429", 3.0),
        ("d-429-redis", "slowapi-redis-429", 3.0),
        ("d-429", "litestar-429", 3.0),
    ):
        before = len(t.lines)
        t.ratio(f"({kit}) vs ({peer})", (kit, "c32", "rps"), (peer, "c32", "rps"), ">=", bound)
        kc, pc = t.get(kit, "c32", "cpu_us"), t.get(peer, "c32", "cpu_us")
        if len(t.lines) > before and kc and pc and t.lines[-1].endswith(("OK", "MISSED")):
            t.lines[-1] += f" [peer CPU/req {pc / kc:.2f}x the kit's]"
    t.head("Servers: granian vs uvicorn, same rows (information: what granian buys)")
    for k in ("c", "d-401", "d-429", "e"):
        g = f"{k}-granian"
        if t.na(f"({g}) vs ({k})", g, k):
            continue
        t.lines.append(
            f"- ({g}) vs ({k}): req/s c32 {ratio(t.get(g, 'c32', 'rps'), t.get(k, 'c32', 'rps'))}"
            f", c1 {ratio(t.get(g, 'c1', 'rps'), t.get(k, 'c1', 'rps'))}, CPU µs/req "
            f"{ratio(t.get(g, 'c32', 'cpu_us'), t.get(k, 'c32', 'cpu_us'))}"
        )
    # uvicorn checks every response header in Python (two regular expressions each), granian
    # in Rust: the refusals' own headers cost the kit little there (bench/_sendcost.py).
    for k in ("d-401-granian", "d-429-granian"):
        if t.na(f"({k}) vs (e-granian)", k, "e-granian"):
            continue
        t.lines.append(
            f"- ({k}) vs (e-granian), the refusal target under granian: req/s c32 "
            f"{ratio(t.get(k, 'c32', 'rps'), t.get('e-granian', 'c32', 'rps'))}, c1 "
            f"{ratio(t.get(k, 'c1', 'rps'), t.get('e-granian', 'c1', 'rps'))} (information)"
        )
    t.head("Features")
    t.ratio(
        "(c-otel) telemetry on: CPU per mint vs (c) off",
        ("c-otel", "c32", "cpu_us"),
        ("c", "c32", "cpu_us"),
        "<=",
        1.10,
    )
    if not t.na("(relay) sealed relay call: CPU over a direct call", "relay", "c"):
        pair = results["relay"].get("pairs", {}).get("c32", {}).get("cpu_us_per_pair")
        mint = t.get("c", "c32", "cpu_us")
        if pair and mint:
            t.lines.append(
                f"- (relay) sealed relay call: {pair - mint:+,.0f} µs CPU per session start over "
                f"the browser calling Orga directly (mint + relay {fmt(pair)} µs vs mint alone "
                f"{fmt(mint)} µs), i.e. {(pair - mint) / mint:.2f}x a mint (information)"
            )
    return t.done()


def _redis_targets(t: Targets) -> None:
    t.head("Redis nearly free")
    if not t.na("(c-redis) CPU over (c)", "c-redis", "c"):
        a, b = t.get("c", "c32", "cpu_us"), t.get("c-redis", "c32", "cpu_us")
        if a and b:
            t.verdict(
                "(c-redis) CPU over (c)", b - a <= 80, f"{b - a:+,.0f} µs/req (target <= +80)"
            )
    for key in ("c-redis", "d-429-redis"):
        s = (t.r.get(key) or {}).get("redis")
        if s:
            by = ", ".join(f"{k} {v:.2f}" for k, v in s["by_command"].items()) or "none"
            t.lines.append(
                f"- ({key}) MONITOR, {s['requests']} sequential requests ({s['ok']} answered as "
                "validated) on the "
                f"server's {s['connections']} Redis connection(s): {s['commands_per_req']:.2f} "
                f"commands/request ({by}), {s['round_trips_per_req']:.2f} round trips/request "
                "(information)"
            )
    flood = (t.r.get("d-429-redis") or {}).get("flood")
    if not t.na("(d-429-redis) round trips under the 429 flood", "d-429-redis") and flood:
        # One key (the principal; per-IP windows off), one process, a 1/hour window: no
        # reset happens during the run, so the budget is one round trip in all.
        allowed = 1
        n, trips = flood["refusals"], flood["round_trips"]
        t.verdict(
            "(d-429-redis) round trips under the 429 flood",
            trips <= allowed,
            f"{trips:,} round trips for {n:,} refusals (1 key, 0 resets, 1 process: target "
            f"<= {allowed})",
        )


def _latency_targets(t: Targets, lat: dict[str, Any] | None) -> None:
    t.head(f"The latency regime (100 ms upstream, {CALLERS:,} callers, kit defaults)")
    if lat is None:
        return
    r, u = lat.get("L-kit"), lat.get("upstream")
    if not r or "failed" in r or not u:
        t.lines.append(f"- n/a: {(r or {}).get('failed') or lat.get('skipped', 'no result')}")
        return
    demand = r["upstream_calls_per_s"] / u["rps"] if u["rps"] else float("nan")
    t.verdict(
        "upstream not the bottleneck",
        demand <= 0.5 and u["p99_ms"] <= 1.5 * lat["delay_ms"],
        f"the kit asked {fmt(r['upstream_calls_per_s'])} calls/s of an upstream that serves "
        f"{fmt(u['rps'])} calls/s at the same concurrency ({demand:.2f}x, p99 "
        f"{ms(u['p99_ms'])} ms; target <= 0.5x and p99 <= 1.5x the delay)",
    )
    n503 = r["statuses"].get("503", 0)
    t.verdict("no error", r["errors"] == 0, f"{r['errors']} wrk errors (target 0)")
    t.verdict("no non-2xx", r["non2xx"] == 0, f"{r['non2xx']:,} non-2xx (target 0)")
    t.verdict("no 503", n503 == 0, f"{n503:,} 503s (target 0)")
    t.verdict("p99 under 1 s", r["p99_ms"] < 1000, f"p99 {ms(r['p99_ms'])} ms (target < 1,000)")
    grow = r["rss_after"] - r["rss_before"]
    # Little's law, so the docs can size max_upstream_concurrency from it.
    need = CALLERS / 1.0
    slots = need * 2 * lat["delay_ms"] / 1e3
    t.lines.append(
        f"- sizing (information): {CALLERS:,} callers with p99 under 1 s need at least "
        f"{need:,.0f} req/s (Little's law); an exchange holds an upstream slot for 2 calls x "
        f"{lat['delay_ms']:g} ms, so max_upstream_concurrency >= {slots:,.0f} "
        f"(= req/s x 2 x latency) and at most {1e6 / need:,.0f} µs of CPU per request on the "
        f"server's core; measured here: {fmt(r['rps'])} req/s at {fmt(r['cpu_us'])} µs/req"
    )
    t.verdict(
        "RSS flat",
        grow <= 5.0,
        f"{grow:+.1f} MB from the end of the warm-up burst to the end of the measured one "
        "(target <= +5 MB)",
    )


def _memory_targets(t: Targets, mem: dict[str, Any] | None) -> None:
    n = mem["addresses"] if mem else 100_000
    t.head(f"Memory: {n:,} distinct addresses flooding refusals")
    if mem is None:
        return
    for family in ("IPv4", "IPv6 /64"):
        r = mem.get(family, {})
        if "failed" in r or "delta_mb" not in r:
            t.lines.append(f"- {family}: n/a ({r.get('failed', 'no result')})")
            continue
        note = "" if n >= 100_000 else f" (only {n:,} addresses: the target is for 100,000)"
        t.verdict(
            family,
            r["delta_mb"] <= BUDGET_MB,
            f"{r['delta_mb']:+.1f} MB ({r['detail']}; target <= {BUDGET_MB:g} MB){note}",
        )
