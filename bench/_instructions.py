"""``--instructions ROWS``: CPU instructions per request, counted by valgrind, not timed.

Timed ratios on a shared 2-core VM move by 20% from run to run, which hides a 5% change.
Instruction counts do not: callgrind counts the server's own instructions whatever else the
machine is doing, so two versions of the kit can be compared to a fraction of a percent.

Each (row, version) starts the row's real server (uvicorn, uvloop + httptools, as in the
table) twice under ``valgrind --tool=callgrind``, and sends ``SHORT`` and then ``LONG``
requests one after another on one keep-alive connection (after the row's priming and
validation requests). The difference of the two totals over ``LONG - SHORT`` requests is the
cost of one request with start-up and shutdown cancelled out. ``PYTHONHASHSEED=0`` keeps the
interpreter's own work repeatable. ``--against REV`` measures that git revision too (a
temporary worktree, its ``orga_asgi`` on ``PYTHONPATH``, this checkout's apps).

Instructions are not time (cache misses and branch mispredictions are not counted), but
an instruction more or less per request is the kit's own doing, which is what a before and
after comparison asks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _common as common
from _procs import request
from _rows import Row
from _runrow import Ctx
from _sendcost import COLLECTED
from _servers import start_app

SHORT, LONG = 100, 600
Answer = dict[str, Any]
_ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def checkout(rev: str | None) -> Iterator[Path | None]:
    """``rev`` as a temporary worktree (``None``: this checkout, no worktree)."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="orga-bench-rev.") as tmp:
        where = Path(tmp) / "tree"
        git = ["git", "-C", str(_ROOT)]
        subprocess.run([*git, "worktree", "add", "--detach", str(where), rev], check=True,
                       capture_output=True)  # fmt: skip
        try:
            yield where
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(where)], check=False,
                           capture_output=True)  # fmt: skip


def _count(ctx: Ctx, row: Row, code: Path | None, n: int, tag: str) -> tuple[int, Answer]:
    """Total instructions of one server process that answered ``n`` measured requests, and
    its last answer (status, headers, body length; one more request in either count)."""
    out = ctx.tmp / f"callgrind.{row.key}.{tag}.{n}"
    row = dataclasses.replace(row, key=f"{row.key}.{tag}.{n}")  # its own log file
    env = dict(ctx.kit_env)
    env["PYTHONHASHSEED"] = "0"
    if code is not None:  # that revision's kit ahead of the installed one
        env["PYTHONPATH"] = str(code)
    server, port = start_app(
        ctx.procs, row, ctx.up.url, ctx.tmp, env,
        prefix=("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"),
        start_limit=300.0,
    )  # fmt: skip
    try:
        # Under valgrind a first mint (imports, the upstream pool) takes many seconds.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        try:
            for i in range(row.prime + n):
                status, _body = request(port, common.PATH, row.headers, conn=conn)
                want = 200 if i < row.prime else row.expect
                if status != want:
                    raise RuntimeError(f"expected HTTP {want}, got {status}")
            conn.request("GET", common.PATH, headers=dict(row.headers))
            r = conn.getresponse()
            answer: Answer = {"status": r.status, "headers": r.getheaders(),
                              "body_length": len(r.read())}  # fmt: skip
        finally:
            conn.close()
    finally:
        ctx.procs.stop(server, grace=120.0)  # valgrind writes its totals on the way out
    log = (ctx.tmp / f"{row.key}.log").read_bytes()
    found = COLLECTED.findall(log)
    if not found:
        raise RuntimeError(f"({row.key}) valgrind printed no total: {log[-300:]!r}")
    return int(found[-1]), answer


def per_request(ctx: Ctx, row: Row, code: Path | None, tag: str) -> tuple[float, Answer]:
    """Instructions per request of ``row`` with the kit at ``code`` (``None``: installed),
    and the answer it gives."""
    with ThreadPoolExecutor(2) as pool:  # the two processes side by side (a core each)
        short = pool.submit(_count, ctx, row, code, SHORT, tag + "s")
        long = pool.submit(_count, ctx, row, code, LONG, tag + "l")
        (low, _), (high, answer) = short.result(), long.result()
        return (high - low) / (LONG - SHORT), answer


def report(rows: list[Row], counts: dict[str, dict[str, float]], against: str | None) -> list[str]:
    """The table, and the two ratios the issues ask for, per version."""
    versions = ["this checkout"] + ([against] if against else [])
    head = "| row | " + " | ".join(f"{v}: instructions/request" for v in versions)
    lines = [head + (" | change |" if against else " |"),
             "|---|" + "---:|" * (len(versions) + (1 if against else 0))]  # fmt: skip
    for row in rows:
        got = counts.get(row.key, {})
        cells = [f"{got[v]:,.0f}" if v in got else "-" for v in versions]
        if against and all(v in got for v in versions):
            cells.append(f"{(got[versions[0]] / got[against] - 1) * 100:+.1f}%")
        elif against:
            cells.append("-")
        lines.append(f"| ({row.key}) {row.label} | " + " | ".join(cells) + " |")
    floor, bare = counts.get("e", {}), counts.get("a", {})
    lines.append("")
    for row in rows:
        base = floor if row.key.startswith("d-") else bare if row.key == "c" else None
        name = "floor (e) / row" if row.key.startswith("d-") else "row / bare aiohttp (a)"
        for v in versions:
            got = counts.get(row.key, {})
            if base and v in got and v in base:
                ratio = base[v] / got[v] if row.key.startswith("d-") else got[v] / base[v]
                lines.append(f"- ({row.key}) {name}, {v}: {ratio:.3f}")
    return lines


def server_share(rows: list[Row], counts: dict[str, dict[str, float]],
                 answers: dict[str, Answer]) -> list[str]:  # fmt: skip
    """How much of each uvicorn row's gap to its base (the floor (e) for a refusal, bare
    aiohttp (a) for (c)) is uvicorn's own handling of the two answers (:mod:`_sendcost`)."""
    import _sendcost

    lines: list[str] = []
    here = "this checkout"
    for row in rows:
        base = "e" if row.key.startswith("d-") else "a" if row.key == "c" else None
        if base is None or row.server != "uvicorn" or row.key not in answers:
            continue
        measured = counts.get(row.key, {}), counts.get(base, {})
        if base not in answers or any(here not in m for m in measured):
            continue
        mine, theirs = _sendcost.per_answer(answers[row.key]), _sendcost.per_answer(answers[base])
        fast, slow = _sendcost.timed(answers[row.key], answers[base])
        gap = measured[0][here] - measured[1][here]
        share = f", {(mine - theirs) / gap:.0%} of the {gap:,.0f}" if gap > 0 else ""
        what, other = _sendcost.describe(answers[row.key]), _sendcost.describe(answers[base])
        lines.append(
            f"- ({row.key}) uvicorn's own sending of its answer ({what}): "
            f"{mine:,.0f} instructions, ({base})'s ({other}): "
            f"{theirs:,.0f}; the difference, {mine - theirs:+,.0f}{share} instructions per "
            f"request ({row.key}) costs over ({base}); timed in-process, {fast:.2f} vs "
            f"{slow:.2f} µs ({fast - slow:+.2f} µs per answer)"
        )
    return lines


def env_note() -> str:
    return f"valgrind callgrind, {SHORT} and {LONG} sequential requests, PYTHONHASHSEED=0"


__all__ = ["Answer", "checkout", "env_note", "per_request", "report", "server_share"]
