#!/usr/bin/env python3
"""Benchmark GET /api/orga-client-secrets: the orga-asgi kit against hand-written baselines.

    python bench/run.py                    # all rows, wrk -t1, 2 s warm-up, 10 s at -c32 and -c1
    python bench/run.py --quick            # smoke check: 1 s warm-up, 2 s runs
    python bench/run.py --only a,b,e       # a subset (d = d-401 and d-429)
    python bench/run.py --memory           # RSS after 100k minted tokens and 100k refusals

Every run starts a private nginx (static JSON upstream, temp prefix, free loopback port) and,
one at a time, each implementation under uvicorn (uvloop, httptools, one process) on a free
loopback port; wrk runs in its own process. Every process started here is stopped by its PID
(and anything left in its session by PID), always. See bench/README.md for the rows and how to
read the ratios. Standard library only, so it runs from the project venv without extras.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
APPS = BENCH / "apps"
RESULTS = BENCH / "results"
sys.path.insert(0, str(APPS))
import _common as common  # noqa: E402  (lives next to the apps so they share one copy)

CLK_TCK = os.sysconf("SC_CLK_TCK")
WRK_TIMEOUT = "5s"
REDIS_URL = "redis://127.0.0.1:6379"
MEMORY_BUDGET_MB = 30.0
BENCH_TOKEN = "bench-token"  # what apps/kit.py accepts

# A proxy terminated TLS: the kit refuses plain http unless a trusted proxy says https.
XFP = {"X-Forwarded-Proto": "https"}
AUTH = {"Authorization": f"Bearer {BENCH_TOKEN}"}


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    module: str  # uvicorn "module:app" inside bench/apps
    headers: Mapping[str, str]  # sent by wrk and by the validation request
    expect: int = 200  # status the validation request must get (200 also checks the body)
    env: Mapping[str, str] = field(default_factory=dict)
    kit: bool = False
    redis: bool = False
    prime: bool = False  # send one request before validating (d-429: it uses up the window)


ROWS = [
    Row("a", "bare Starlette + shared aiohttp.ClientSession", "bare_aiohttp", {**AUTH, **XFP}),
    Row("b", "bare Starlette + shared httpx.AsyncClient", "bare_httpx", {**AUTH, **XFP}),
    Row(
        "c",
        "kit, defaults + bearer + memory limiter (never refuses)",
        "kit",
        {**AUTH, **XFP},
        kit=True,
    ),
    Row(
        "c-redis",
        "kit as (c), storage_uri=" + REDIS_URL,
        "kit",
        {**AUTH, **XFP},
        env={"KIT_STORAGE": REDIS_URL},
        kit=True,
        redis=True,
    ),
    Row("d-401", "kit refusing: no Authorization header -> 401", "kit", XFP, expect=401, kit=True),
    Row(
        "d-429",
        "kit refusing: rate_limits=1/hour, used up -> 429",
        "kit",
        {**AUTH, **XFP},
        expect=429,
        env={"KIT_RATE_LIMITS": "1/hour"},
        kit=True,
        prime=True,
    ),
    Row("e", "framework floor: bare Starlette, static JSON", "floor", {**AUTH, **XFP}),
]
ROW_KEYS = [r.key for r in ROWS]


# ------------------------------------------------------------------------------ processes
class Procs:
    """Every process this script starts, so the finally block can stop each by its PID."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        argv: list[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            # Own session: nothing here shares a process group with the caller (nox, a
            # terminal), and leftovers can be found by session id without guessing names.
            p = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        self.started.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
        # Anything it forked into its session (sid == its pid), each by its own PID.
        for pid in session_members(p.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if p in self.started:
            self.started.remove(p)

    def stop_all(self) -> None:
        for p in reversed(list(self.started)):
            self.stop(p)


def session_members(sid: int) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = d.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: session id
            found.append(int(d.name))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    port: int,
    path: str,
    headers: Mapping[str, str],
    method: str = "GET",
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=dict(headers))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if conn is None:
            c.close()


def wait_http(
    p: subprocess.Popen[bytes],
    port: int,
    path: str = "/",
    limit: float = 30.0,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Until the server answers anything at all (status is checked by the caller)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"exited with {p.returncode} before answering")
        try:
            request(port, path, headers or {})
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer on port {port} within {limit:.0f}s")


# ------------------------------------------------------------------------------ upstream
class Upstream:
    def __init__(self, procs: Procs, tmp: Path) -> None:
        prefix = tmp / "nginx"
        prefix.mkdir()
        self.port = free_port()
        conf = (BENCH / "upstream.conf.in").read_text()
        for k, v in {
            "@PORT@": str(self.port),
            "@PREFIX@": str(prefix),
            "@API_KEY@": common.API_KEY,
            "@CLIENT_SECRETS@": json.dumps(common.CLIENT_SECRETS, separators=(",", ":")),
            "@ICE_CONFIG@": json.dumps(common.ICE_CONFIG, separators=(",", ":")),
        }.items():
            conf = conf.replace(k, v)
        (prefix / "nginx.conf").write_text(conf)
        self.proc = procs.start(
            [
                "nginx",
                "-p",
                str(prefix),
                "-e",
                str(prefix / "error.log"),
                "-c",
                str(prefix / "nginx.conf"),
            ],
            tmp / "nginx.out",
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_http(self.proc, self.port, "/nginx_status", limit=10)
        status, body = request(
            self.port,
            "/v1/realtime/client-secrets",
            {"Authorization": f"Bearer {common.API_KEY}"},
            method="POST",
        )
        if status != 200 or json.loads(body) != common.CLIENT_SECRETS:
            raise RuntimeError(f"nginx upstream answers {status} {body[:200]!r}")

    def counters(self) -> tuple[int, int]:
        """(accepted connections, requests) from stub_status, this probe included."""
        _, body = request(self.port, "/nginx_status", {})
        accepts, _handled, requests = body.decode().splitlines()[2].split()
        return int(accepts), int(requests)


# ------------------------------------------------------------------------------ wrk
@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # connect + read + write + timeout
    non2xx: int  # wrk's "status" errors: HTTP > 399
    cpu_us: float  # server CPU per request during the run
    up_conns_per_req: float | None  # new upstream connections per upstream request


def wrk(
    url: str,
    conns: int,
    seconds: float,
    headers: Mapping[str, str],
    extra_env: Mapping[str, str] | None = None,
    max_requests: int | None = None,
) -> dict[str, float]:
    """One wrk run (-t1: the other core is the server's). With max_requests, wrk stops after
    that many responses (or after `seconds`, whichever comes first)."""
    env = {
        **os.environ,
        "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        **(extra_env or {}),
    }
    done = None
    if max_requests:
        fd, name = tempfile.mkstemp(prefix="orga-bench-wrk.")
        os.close(fd)
        done = Path(name)
        done.unlink()
        env.update(WRK_MAX_REQUESTS=str(max_requests), WRK_DONE_FILE=str(done))
    argv = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        WRK_TIMEOUT,
        "--latency",
        "-s",
        str(BENCH / "wrk.lua"),
        url,
    ]
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + seconds + 60
        try:
            while p.poll() is None and time.monotonic() < deadline:
                if done is not None and done.exists():
                    p.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
                    done.unlink()
                time.sleep(0.05)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            if done is not None:
                done.unlink(missing_ok=True)
        out.seek(0)
        text = out.read()
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKRESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({p.returncode}): {text[-800:]}")
    return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}


def measure(
    server: subprocess.Popen[bytes],
    up: Upstream,
    url: str,
    conns: int,
    seconds: float,
    headers: Mapping[str, str],
) -> WrkResult:
    a0, r0 = up.counters()
    t0 = cpu_seconds(server.pid)
    w = wrk(url, conns, seconds, headers)
    t1 = cpu_seconds(server.pid)
    a1, r1 = up.counters()
    n = int(w["requests"])
    up_reqs = r1 - r0 - 1  # minus the first probe; the second probe is counted in neither
    return WrkResult(
        requests=n,
        rps=w["rps"],
        p50_ms=w["p50_ms"],
        p99_ms=w["p99_ms"],
        errors=int(w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"]),
        non2xx=int(w["err_status"]),
        cpu_us=(t1 - t0) * 1e6 / n if n else float("nan"),
        up_conns_per_req=(a1 - a0 - 1) / up_reqs if up_reqs > 0 else None,
    )


# ------------------------------------------------------------------------------ redis
def redis_cmd(*args: str, addr: tuple[str, int] = ("127.0.0.1", 6379)) -> str:
    """One command over RESP2; enough for PING and INFO (simple, error or bulk string)."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection(addr, timeout=5) as s:
        s.sendall(payload.encode())
        f = s.makefile("rb")
        head = f.readline().decode().rstrip("\r\n")
        if head.startswith("$"):
            return f.read(int(head[1:]) + 2)[:-2].decode()
        if head.startswith("-"):
            raise RuntimeError(head)
        return head[1:]


def commandstats() -> dict[str, tuple[int, int]]:
    """command -> (calls, usec). Commands run inside Lua scripts are counted too (TIME,
    LINDEX, ... under one EVALSHA), so calls here are not round trips."""
    stats = {}
    for line in redis_cmd("INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
        if m:
            stats[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return stats


def commandstats_delta(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], requests: int
) -> dict[str, float]:
    def diff(name: str, i: int) -> int:
        return after.get(name, (0, 0))[i] - before.get(name, (0, 0))[i]

    n = max(requests, 1)
    scripts = sum(diff(c, 0) for c in ("evalsha", "evalsha_ro", "eval", "eval_ro", "fcall"))
    return {
        "scripts_per_req": scripts / n,
        # minus the INFO that took the second snapshot
        "calls_per_req": (sum(diff(c, 0) for c in after) - 1) / n,
        "redis_us_per_req": sum(diff(c, 1) for c in after if c != "info") / n,
    }


def redis_client_ports(pid: int, redis_port: int = 6379) -> set[int]:
    """Local ports of pid's TCP connections to redis_port (its fds' socket inodes matched
    against /proc/net/tcp), so MONITOR lines and ss counters can be attributed to it alone:
    the Redis here is shared with other engineers' test runs."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[9] in inodes and int(parts[2].rsplit(":", 1)[1], 16) == redis_port:
                    ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


def data_segs_out(ports: set[int], redis_port: int = 6379) -> int:
    """TCP data segments sent to Redis from these local ports (ss -i). With TCP_NODELAY, which
    Redis clients set, one request or one pipeline is one write, so this counts round trips."""
    out = subprocess.run(
        ["ss", "-Htin", f"( dport = :{redis_port} )"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    total, current = 0, None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            local = line.split()[-2]
            current = int(local.rsplit(":", 1)[1])
        elif current in ports:
            m = re.search(r"data_segs_out:(\d+)", line)
            total += int(m.group(1)) if m else 0
    return total


def redis_sample(
    server: subprocess.Popen[bytes], port: int, headers: Mapping[str, str], n: int = 300
) -> dict[str, Any]:
    """n sequential requests with MONITOR on: exactly which commands the kit sends, and how
    many writes (round trips) it makes, per request."""
    lines: list[str] = []
    mon = socket.create_connection(("127.0.0.1", 6379), timeout=5)
    mon.sendall(b"MONITOR\r\n")
    mon_file = mon.makefile("rb")
    if not mon_file.readline().startswith(b"+OK"):
        raise RuntimeError("MONITOR refused")

    def reader() -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in mon_file:
                lines.append(raw.decode(errors="replace"))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    ports = redis_client_ports(server.pid)
    segs0 = data_segs_out(ports)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = 0
    try:
        for _ in range(n):
            status, _ = request(port, common.PATH, headers, conn=conn)
            ok += status == 200
    finally:
        conn.close()
    time.sleep(0.3)  # let MONITOR deliver the tail
    new_ports = redis_client_ports(server.pid) - ports
    segs = data_segs_out(ports | new_ports) - segs0  # new connections started from zero
    with contextlib.suppress(OSError):
        mon.shutdown(socket.SHUT_RDWR)
    mon.close()
    t.join(2)
    ports |= new_ports
    names: Counter[str] = Counter()
    for ln in lines:
        m = re.match(r'\+[\d.]+ \[\d+ [\d.:\[\]a-f]*:(\d+)\] "([^"]+)"', ln)
        if m and int(m.group(1)) in ports:
            names[m.group(2).upper()] += 1
    return {
        "requests": n,
        "ok": ok,
        "commands_per_req": sum(names.values()) / n,
        "by_command": {k: v / n for k, v in names.most_common()},
        "round_trips_per_req": segs / n,
        "connections": len(ports),
    }


def redis_up() -> bool:
    try:
        return redis_cmd("PING") == "PONG"
    except OSError:
        return False


# ------------------------------------------------------------------------------ one row
def kit_available() -> bool:
    probe = "import orga_asgi, sys; sys.exit(0 if hasattr(orga_asgi, 'OrgaClientSecrets') else 1)"
    return (
        subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, timeout=60, check=False
        ).returncode
        == 0
    )


def start_app(
    procs: Procs, row: Row, up: Upstream, tmp: Path, kit_env: Mapping[str, str]
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, **kit_env, **row.env, "ORGA_BASE_URL": up.url}
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{row.module}:app",
        "--app-dir",
        str(APPS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    p = procs.start(argv, tmp / f"{row.key}.log", env=env, cwd=BENCH)
    try:
        wait_http(p, port)
    except RuntimeError as exc:
        log = (tmp / f"{row.key}.log").read_text(errors="replace")[-2000:]
        procs.stop(p)
        raise RuntimeError(f"{exc}\n{log}") from None
    return p, port


def validate(row: Row, port: int) -> None:
    if row.prime:
        request(port, common.PATH, row.headers)
    status, body = request(port, common.PATH, row.headers)
    if status != row.expect:
        raise RuntimeError(f"expected HTTP {row.expect}, got {status}: {body[:300]!r}")
    if status == 200:
        got = json.loads(body)
        wrong = [k for k, v in common.BODY.items() if got.get(k) != v]
        if wrong:
            raise RuntimeError(f"wrong {wrong} in body: {body[:300]!r}")


def run_row(
    procs: Procs,
    row: Row,
    up: Upstream,
    tmp: Path,
    seconds: float,
    warmup: float,
    kit_env: Mapping[str, str],
) -> dict[str, Any]:
    server, port = start_app(procs, row, up, tmp, kit_env)
    try:
        validate(row, port)
        url = f"http://127.0.0.1:{port}{common.PATH}"
        wrk(url, 32, warmup, row.headers)  # discarded: imports, pools, JIT-less caches
        stats0 = commandstats() if row.redis else {}
        c32 = measure(server, up, url, 32, seconds, row.headers)
        stats1 = commandstats() if row.redis else {}
        c1 = measure(server, up, url, 1, seconds, row.headers)
        res: dict[str, Any] = {
            "c32": c32.__dict__,
            "c1": c1.__dict__,
            "rss_mb": rss_mb(server.pid),
            # 1-minute load average after the row: on a shared box, the row's noise level
            "load": os.getloadavg()[0],
        }
        if row.redis:
            # Server-wide, so only an upper bound if someone else used Redis meanwhile.
            res["redis_serverwide"] = commandstats_delta(stats0, stats1, c32.requests)
            res["redis"] = redis_sample(server, port, row.headers)
        return res
    finally:
        procs.stop(server)


# ------------------------------------------------------------------------------ report
def fmt(x: float | None, digits: int = 0) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:,.{digits}f}"


def ms(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def ratio(x: float | None, base: float | None) -> str:
    return f"{x / base:.2f}x" if x and base else "-"


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    base: dict[str, Any] = (results.get("a") or {}).get("c32", {})
    out = [
        "| row | what | req/s c32 | p50 / p99 ms c32 | req/s c1 | p50 / p99 ms c1 "
        "| CPU µs/req c32 | errors | non-2xx | vs (a) req/s c32 | vs (a) CPU "
        "| up conns/req | RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in ROWS:
        r = results.get(row.key)
        if r is None:
            continue
        if "c32" not in r:  # skipped or failed: say why in the row
            why = " ".join(f"{k}: {v}" for k, v in r.items()).replace("|", "/")
            out.append(f"| ({row.key}) | {row.label} | {why} |" + " |" * 10)
            continue
        c32, c1 = r["c32"], r["c1"]
        up = c32["up_conns_per_req"]
        out.append(
            f"| ({row.key}) | {row.label} | {fmt(c32['rps'])} | {ms(c32['p50_ms'])} / "
            f"{ms(c32['p99_ms'])} | {fmt(c1['rps'])} | {ms(c1['p50_ms'])} / {ms(c1['p99_ms'])} "
            f"| {fmt(c32['cpu_us'])} | {c32['errors'] + c1['errors']} "
            f"| {c32['non2xx'] + c1['non2xx']} "
            f"| {ratio(c32['rps'], base.get('rps'))} "
            f"| {ratio(c32['cpu_us'], base.get('cpu_us'))} "
            f"| {'-' if up is None else f'{up:.2f}'} | {fmt(r['rss_mb'])} |"
        )
    return out


def targets(results: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's targets, computed from this run only (ratios are comparable, absolute
    numbers from different runs are not)."""

    def get(key: str, run: str, metric: str) -> float | None:
        r = results.get(key)
        return r[run][metric] if r and run in r else None

    lines = []

    def check(name: str, value: float | None, base: float | None, op: str, bound: float) -> None:
        if not value or not base:
            return
        q = value / base
        ok = q >= bound if op == ">=" else q <= bound
        lines.append(f"- {name}: {q:.2f}x (target {op} {bound}) {'OK' if ok else 'MISSED'}")

    check("(c) req/s c32 vs (a)", get("c", "c32", "rps"), get("a", "c32", "rps"), ">=", 0.85)
    check("(c) CPU µs/req vs (a)", get("c", "c32", "cpu_us"), get("a", "c32", "cpu_us"), "<=", 1.2)
    for k in ("d-401", "d-429"):
        check(
            f"({k}) req/s c32 vs floor (e)", get(k, "c32", "rps"), get("e", "c32", "rps"), ">=", 0.7
        )
        check(f"({k}) req/s c1 vs floor (e)", get(k, "c1", "rps"), get("e", "c1", "rps"), ">=", 0.7)
    cr = results.get("c-redis")
    if cr and "redis" in cr:
        s = cr["redis"]
        by = ", ".join(f"{k} {v:.2f}" for k, v in s["by_command"].items()) or "none"
        lines.append(
            f"- (c-redis) Redis per minted token ({s['requests']} sequential requests, "
            f"{s['ok']} ok, MONITOR filtered to the kit's {s['connections']} connection(s)): "
            f"{s['commands_per_req']:.2f} commands ({by}), {s['round_trips_per_req']:.2f} round "
            f"trips (client TCP writes); 2 windows checked (1 per-IP + 1 per-user), target <= 2."
        )
        w = cr.get("redis_serverwide")
        if w:
            lines.append(
                f"- (c-redis) server-wide INFO commandstats during the c32 run: "
                f"{w['scripts_per_req']:.2f} EVALSHA/request, {w['calls_per_req']:.2f} calls/"
                f"request counting the commands the scripts run, {w['redis_us_per_req']:.0f} µs "
                f"of Redis time/request"
            )
        c_cpu, r_cpu = get("c", "c32", "cpu_us"), get("c-redis", "c32", "cpu_us")
        c_rps, r_rps = get("c", "c32", "rps"), get("c-redis", "c32", "rps")
        if c_cpu and r_cpu and c_rps and r_rps:
            lines.append(
                f"- (c-redis) cost vs (c): {r_cpu - c_cpu:+,.0f} µs CPU/request in the "
                f"server process, req/s c32 {r_rps / c_rps:.2f}x (Redis's own CPU not "
                f"included)"
            )
    return lines


def versions() -> str:
    def ver(mod: str) -> str:
        try:
            from importlib.metadata import version

            return version(mod)
        except Exception:
            return "?"

    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr
    wrk_v = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    pkgs = " ".join(
        f"{m} {ver(m)}"
        for m in (
            "orga-asgi",
            "starlette",
            "uvicorn",
            "uvloop",
            "httptools",
            "aiohttp",
            "httpx",
            "httpcore",
            "sniffio",
            "limits",
            "redis",
        )
    )
    return (
        f"Python {platform.python_version()}, {pkgs}; "
        f"{nginx.strip().split(': ', 1)[-1]}, {wrk_v.stdout.split(' [')[0].strip()}; "
        f"{os.cpu_count()} CPUs, load average before run "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


# ------------------------------------------------------------------------------ modes
@contextlib.contextmanager
def harness() -> Iterator[tuple[Procs, Upstream, Path]]:
    for tool in ("nginx", "wrk", "ss"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found (Debian: apt-get install nginx wrk iproute2)")
    procs = Procs()
    # SIGTERM (nox/CI cancelling) must still run the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="orga-bench.") as tmp:
        try:
            yield procs, Upstream(procs, Path(tmp)), Path(tmp)
        finally:
            procs.stop_all()


def kit_limits_env(limit: str) -> dict[str, str]:
    """Both windows of the never-refusing kit rows."""
    return {"KIT_RATE_LIMITS": limit, "KIT_IP_RATE_LIMITS": limit}


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row over its cycles: medians of rates, latencies and CPU; sums of counts."""
    ok = [r for r in runs if "c32" in r]
    if not ok:
        return runs[0]
    out: dict[str, Any] = {"cycles": len(ok), "rss_mb": max(r["rss_mb"] for r in ok)}
    for run in ("c32", "c1"):
        agg: dict[str, Any] = {}
        for metric in ok[0][run]:
            values = [r[run][metric] for r in ok if r[run][metric] is not None]
            if metric in ("requests", "errors", "non2xx"):
                agg[metric] = sum(values)
            else:
                agg[metric] = statistics.median(values) if values else None
        out[run] = agg
    for extra in ("redis", "redis_serverwide"):
        if extra in ok[-1]:
            out[extra] = ok[-1][extra]
    return out


def load_range(runs: dict[str, list[dict[str, Any]]]) -> str:
    loads = [r["load"] for rs in runs.values() for r in rs if "load" in r]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-"


def run_bench(
    keys: list[str], seconds: float, warmup: float, command: str, limit: str, cycles: int
) -> int:
    kit = kit_available() if any(r.kit for r in ROWS if r.key in keys) else False
    have_redis = redis_up()
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    started = dt.datetime.now().astimezone()
    header = versions()
    with harness() as (procs, up, tmp):
        print(f"upstream nginx on {up.url}; {seconds:g}s per run, {warmup:g}s warm-up", flush=True)
        # Cycles interleave the rows (a b c ... a b c ...) so a burst of load from something
        # else on the box lands on several rows instead of skewing one.
        for cycle in range(1, cycles + 1):
            for row in ROWS:
                if row.key not in keys:
                    continue
                t = time.monotonic()
                r: dict[str, Any]
                if row.kit and not kit:
                    r = {"skipped": "orga_asgi.OrgaClientSecrets not importable yet"}
                elif row.redis and not have_redis:
                    r = {"skipped": f"no Redis answering at {REDIS_URL}"}
                else:
                    try:
                        r = run_row(procs, row, up, tmp, seconds, warmup, kit_limits_env(limit))
                    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
                        r = {"failed": str(exc).splitlines()[0][:160]}
                        print(f"({row.key}) FAILED: {exc}", file=sys.stderr, flush=True)
                runs[row.key].append(r)
                tag = f"[{cycle}/{cycles}] ({row.key})"
                if "c32" not in r:
                    print(f"{tag} {next(iter(r))}: {next(iter(r.values()))}", flush=True)
                else:
                    print(
                        f"{tag} {r['c32']['rps']:,.0f} req/s c32, {r['c1']['rps']:,.0f} req/s "
                        f"c1, {r['c32']['cpu_us']:,.0f} µs CPU/req, load {r['load']:.1f}  "
                        f"[{time.monotonic() - t:.0f}s]",
                        flush=True,
                    )
    results = {k: aggregate(v) for k, v in runs.items() if v}
    report = [
        f"Measured {started:%Y-%m-%d %H:%M %Z} with `{command}` "
        f"(wrk -t1, {warmup:g}s warm-up at -c32, then {seconds:g}s at -c32 and {seconds:g}s "
        f"at -c1; one uvicorn process per row, uvloop + httptools; "
        f"{'one cycle' if cycles == 1 else f'median of {cycles} interleaved cycles'}). "
        f"Never-refusing kit windows: `{limit}` (per-IP and per-user).",
        "",
        f"{header}; load average after each row {load_range(runs)}.",
        "",
        *table(results),
        "",
        "errors = wrk connect/read/write/timeout errors, non-2xx = responses >= 400 (expected for "
        "the d rows), both summed over the c32 and c1 runs; CPU = server utime+stime / requests.",
        "",
        *targets(results),
    ]
    text = "\n".join(report).rstrip() + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps(runs, indent=1, default=str))
    print(f"written to {RESULTS / 'latest.md'} (raw numbers: latest.json)")
    # A row that could not be measured fails the run; a missed target does not (it is one
    # measurement on a shared box: read the ratios).
    return 1 if any("failed" in r for rs in runs.values() for r in rs) else 0


def check_per_address(port: int) -> None:
    """The refusal phase only means something if the kit keys its per-IP window by the
    X-Forwarded-For address: a fresh address must get a full window (same RateLimit r=)."""
    seen = []
    for addr in ("192.0.2.1", "192.0.2.2"):
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


def run_memory(n: int, warmup: float, command: str, limit: str) -> int:
    if not kit_available():
        print("orga_asgi.OrgaClientSecrets not importable yet: nothing to measure", file=sys.stderr)
        return 2
    row = next(r for r in ROWS if r.key == "c")
    lines = [
        f"Memory check with `{command}`: kit as row (c), memory:// storage, windows `{limit}` "
        "(a per-minute window keeps every address it saw for a minute, as 60/minute would).",
        f"{versions()}.",
        "",
    ]
    problems: list[str] = []
    with harness() as (procs, up, tmp):
        server, port = start_app(procs, row, up, tmp, kit_limits_env(limit))
        validate(row, port)
        check_per_address(port)
        url = f"http://127.0.0.1:{port}{common.PATH}"
        # Warm both paths: pools, imports and first-use caches are not a leak.
        wrk(url, 32, warmup, row.headers)
        wrk(url, 32, 1, XFP)
        base = rss_mb(server.pid)
        lines.append(f"- RSS after warm-up: {base:.1f} MB")
        print(lines[-1], flush=True)
        phases = [
            (f"{n:,} minted tokens (one principal, one address)", row.headers, {}),
            (
                f"{n:,} refusals (401, no credentials) from {n:,} distinct "
                "X-Forwarded-For addresses",
                XFP,
                {"WRK_XFF_DISTINCT": "1", "WRK_XFF_BASE": "1000"},
            ),
        ]
        for what, headers, env in phases:
            t = time.monotonic()
            # Bounded by wrk's -d: 600 s is far more than 100k requests need even at 300 req/s.
            w = wrk(url, 32, 600, headers, env, max_requests=n)
            now = rss_mb(server.pid)
            delta = now - base
            if delta > MEMORY_BUDGET_MB:
                problems.append(f"over the {MEMORY_BUDGET_MB:.0f} MB budget after {what}")
            if w["requests"] < n:
                problems.append(f"only {int(w['requests']):,} of {what} were driven")
            lines.append(
                f"- RSS after {what}: {now:.1f} MB, {delta:+.1f} MB vs warm-up (budget "
                f"{MEMORY_BUDGET_MB:.0f} MB) {'OK' if delta <= MEMORY_BUDGET_MB else 'OVER'}; "
                f"{int(w['requests']):,} requests in {time.monotonic() - t:.0f}s, "
                f"non-2xx {int(w['err_status']):,}, errors "
                f"{int(w['err_connect'] + w['err_read'] + w['err_write'] + w['err_timeout'])}"
            )
            print(lines[-1], flush=True)
    verdict = "; ".join(problems) or f"within the {MEMORY_BUDGET_MB:.0f} MB budget"
    lines.append(f"- verdict: {verdict}")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.md").write_text(text)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="smoke check: 2 s runs, 1 s warm-up")
    ap.add_argument("--duration", type=float, default=None, help="seconds per measured run (10)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds of warm-up (2)")
    ap.add_argument(
        "--only",
        default=",".join(ROW_KEYS),
        help=f"comma-separated rows: {','.join(ROW_KEYS)} (d = d-401,d-429)",
    )
    ap.add_argument("--cycles", type=int, default=1, help="repeat all rows, report medians (1)")
    ap.add_argument("--memory", action="store_true", help="RSS check instead of the table")
    ap.add_argument("--requests", type=int, default=100_000, help="per memory phase (100000)")
    ap.add_argument(
        "--kit-limit",
        default="100000000/minute",
        help="the never-refusing kit windows, limits notation (100000000/minute)",
    )
    args = ap.parse_args(argv)
    seconds = args.duration or (2.0 if args.quick else 10.0)
    warmup = args.warmup or (1.0 if args.quick else 2.0)
    command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.memory:
        return run_memory(args.requests, warmup, command.strip(), args.kit_limit)
    keys: list[str] = []
    for k in (s.strip() for s in args.only.split(",") if s.strip()):
        expanded = ["d-401", "d-429"] if k == "d" else [k]
        for e in expanded:
            if e not in ROW_KEYS:
                ap.error(f"unknown row {e!r} (known: {', '.join(ROW_KEYS)})")
            keys.append(e)
    return run_bench(keys, seconds, warmup, command.strip(), args.kit_limit, args.cycles)


if __name__ == "__main__":
    sys.exit(main())
