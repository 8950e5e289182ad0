"""``--profile ROWS``: where a row's CPU time goes, sampled with py-spy under load.

The row runs as in the table (uvicorn, wrk -c32 after a warm-up); py-spy samples the server
process from outside for the measured seconds: Python frames without pausing it (C time is
charged to the Python frame that called it), or with ``--native`` also the C frames
(httptools' parser, uvloop, system calls), which needs a pause per sample and slows the server
several times. Idle samples are excluded, so shares are of CPU time. Four rankings: self
time by area (a package or an orga_asgi module), by function and by source line, and inclusive
time by function (the kit's, the server's and the framework's), written to
``bench/results/profile-<row>.md`` beside the raw stacks (``.txt``, collapsed
format: speedscope and flamegraph.pl read it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import _common as common
from _rows import Row
from _runrow import Ctx
from _servers import start_app, validate
from _wrk import wrk

RESULTS = Path(__file__).resolve().parent / "results"
# Leaf C functions where the server waits for work: not CPU time (py-spy's idle detection does
# not apply to native frames).
_IDLE = {"epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "select", "uv__io_poll"}
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<path>[^():]+)(?::(?P<line>\d+))?\)$")
# (substring of a frame's file, area); the first match wins.
_AREAS = [
    ("orga_asgi/", None),  # orga_asgi.<module>, filled in below
    ("uvicorn/protocols/http/httptools_impl", "uvicorn: httptools protocol (Python)"),
    ("uvicorn/", "uvicorn: other"),
    ("httptools", "httptools: C parser"),
    ("llhttp", "httptools: C parser"),
    ("starlette/", "starlette"),
    ("limits/", "limits"),
    ("/json/", "json"),
    ("_json", "json"),
    ("/logging/", "logging"),
    ("uvloop", "uvloop (event loop, C)"),
    ("libuv", "uvloop (event loop, C)"),
    ("/asyncio/", "asyncio (Python)"),
    ("anyio/", "anyio"),
    ("aiohttp/", "aiohttp"),
    ("ipaddress", "ipaddress"),
    ("/http/", "stdlib http"),
    ("/site-packages/", None),  # another package: its top-level name, filled in below
    ("libpython", "CPython interpreter (C)"),
    ("/bin/python", "CPython interpreter (C)"),
    ("/include/python3", "CPython interpreter (C)"),
    ("cpython", "CPython interpreter (C)"),
    ("module.c", "CPython interpreter (C)"),
    ("libc.so", "libc / system calls"),
    ("/lib/python3", "stdlib: other"),
]


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def area(path: str) -> str:
    for needle, name in _AREAS:
        if needle in path:
            if name is None and needle == "orga_asgi/":
                module = path.rsplit("orga_asgi/", 1)[1].removesuffix(".py")
                return "orga_asgi." + module.replace("/", ".").removesuffix(".__init__")
            if name is None:
                return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
            return name
    return Path(path).name or path


def parse(raw: str) -> tuple[int, list[tuple[list[tuple[str, str, str]], int]]]:
    stacks = []
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for f in stack.split(";"):
            m = _FRAME.match(f.strip())
            if m:
                frames.append((m.group("fn"), m.group("path"), m.group("line") or "?"))
            else:
                frames.append((f.strip(), f.strip(), "?"))
        stacks.append((frames, int(count)))
        total += int(count)
    return total, stacks


def rank(raw: str, top: int = 25) -> list[str]:
    total, stacks = parse(raw)
    if not total:
        return ["no samples"]
    by_area: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    idle = sum(n for frames, n in stacks if frames[-1][0] in _IDLE)
    stacks = [(frames, n) for frames, n in stacks if frames[-1][0] not in _IDLE]
    total -= idle
    if not total:
        return ["no samples"]
    self_line: Counter[str] = Counter()
    for frames, n in stacks:
        fn, path, line = frames[-1]
        by_area[area(path)] += n
        self_fn[f"{fn} ({area(path)})"] += n
        self_line[f"{Path(path).name}:{line} {fn} ({area(path)})"] += n
        for name in {f"{fn} ({area(path)})" for fn, path, _ in frames}:
            incl_fn[name] += n

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out = [f"{total:,} samples of CPU time ({idle:,} waiting in epoll left out)", ""]
    out += ["Self time by area:", ""]
    out += [f"    {pct(n)}  {k}" for k, n in by_area.most_common(top)]
    out += ["", "Self time by function:", ""]
    out += [f"    {pct(n)}  {k}" for k, n in self_fn.most_common(top)]
    out += ["", "Self time by source line:", ""]
    out += [f"    {pct(n)}  {k}" for k, n in self_line.most_common(top)]
    out += ["", "Inclusive time by function (kit, server and framework frames):", ""]
    keep = ("orga_asgi", "uvicorn", "starlette", "limits", "httptools")
    inclusive = [(k, n) for k, n in incl_fn.most_common() if any(s in k for s in keep)]
    out += [f"    {pct(n)}  {k}" for k, n in inclusive[:top]]
    return out


def run_profile(ctx: Ctx, row: Row, native: bool = False) -> list[str]:
    spy = py_spy()
    if spy is None:
        return [f"({row.key}) py-spy not found: pip install py-spy into the bench venv"]
    if row.redis and ctx.redis is None:
        return [f"({row.key}) redis-server not installed"]
    if row.redis and ctx.redis:
        ctx.redis.cmd("FLUSHALL")
    redis_url = ctx.redis.url if ctx.redis else None
    server, port = start_app(ctx.procs, row, ctx.up.url, ctx.tmp, ctx.kit_env, redis_url)
    raw_file = RESULTS / f"profile-{row.key}.txt"
    RESULTS.mkdir(exist_ok=True)
    try:
        validate(row, port)
        url = f"http://127.0.0.1:{port}{common.PATH}"
        wrk(url, 32, ctx.warmup, row.headers)
        load: dict[str, Any] = {}

        def drive() -> None:
            load.update(wrk(url, 32, ctx.seconds + 2, row.headers))

        t = threading.Thread(target=drive, daemon=True)
        t.start()
        argv = [spy, "record", "--pid", str(server.pid), "--full-filenames", "--format", "raw"]
        argv += ["--duration", str(max(1, round(ctx.seconds))), "--output", str(raw_file)]
        # Native stacks (C frames: httptools' parser, uvloop, system calls) need the process
        # paused per sample, which slows it several times; Python frames alone do not.
        argv += ["--native", "--rate", "250"] if native else ["--nonblocking", "--rate", "200"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=ctx.seconds + 60)
        t.join(ctx.seconds + 70)
        if p.returncode != 0 or not raw_file.exists():
            return [f"({row.key}) py-spy failed: {(p.stderr or p.stdout)[-400:]}"]
    finally:
        ctx.procs.stop(server)
    flag = " --native" if native else ""
    head = [
        f"## ({row.key}) {row.label}: py-spy{flag}, {ctx.seconds:g}s under wrk -c32 "
        f"({load.get('rps', 0):,.0f} req/s while sampled)",
        "",
    ]
    lines = head + rank(raw_file.read_text())
    (RESULTS / f"profile-{row.key}.md").write_text("\n".join(lines) + "\n")
    return lines
