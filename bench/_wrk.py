"""wrk runs (one thread: the other core is the server's) and what one measured run records."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from _procs import cpu_seconds

if TYPE_CHECKING:
    from _upstream import Upstream

BENCH = Path(__file__).resolve().parent
WRK_TIMEOUT = "5s"


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
    up_reqs: int = 0  # upstream requests during the run
    secs: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)  # with WRK_COUNT_STATUS
    relays: int = 0  # sealed relay calls (relay mode)


def wrk(
    url: str,
    conns: int,
    seconds: float,
    headers: Mapping[str, str],
    extra_env: Mapping[str, str] | None = None,
    max_requests: int | None = None,
    timeout: str = WRK_TIMEOUT,
) -> dict[str, float]:
    """One wrk run, -t1. With max_requests, wrk stops after that many responses (or after
    ``seconds``, whichever comes first). Bounded: killed ``seconds`` + 60 s after start."""
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
        timeout,
        "--latency",
        "-s",
        str(BENCH / "wrk.lua"),
        url,
    ]
    with tempfile.TemporaryFile("w+") as out:
        # Same process group as run.py on purpose: Ctrl-C in a terminal reaches wrk too, and
        # the finally below kills it by PID whatever happens.
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


def errors(w: Mapping[str, float]) -> int:
    return int(w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"])


def measure(
    server_pid: int,
    up: Upstream | None,
    url: str,
    conns: int,
    seconds: float,
    headers: Mapping[str, str],
    extra_env: Mapping[str, str] | None = None,
    timeout: str = WRK_TIMEOUT,
) -> WrkResult:
    """One measured wrk run with the server's CPU time and the upstream's counters around it."""
    a0, r0 = up.counters() if up else (0, 0)
    t0 = cpu_seconds(server_pid)
    w = wrk(url, conns, seconds, headers, extra_env, timeout=timeout)
    t1 = cpu_seconds(server_pid)
    a1, r1 = up.counters() if up else (0, 0)
    n = int(w["requests"])
    up_reqs = r1 - r0 - 1  # minus the first probe; the second probe is counted in neither
    return WrkResult(
        requests=n,
        rps=w["rps"],
        p50_ms=w["p50_ms"],
        p99_ms=w["p99_ms"],
        errors=errors(w),
        non2xx=int(w["err_status"]),
        cpu_us=(t1 - t0) * 1e6 / n if n else float("nan"),
        up_conns_per_req=(a1 - a0 - 1) / up_reqs if up and up_reqs > 0 else None,
        up_reqs=max(up_reqs, 0),
        secs=w["secs"],
        statuses={k[7:]: int(v) for k, v in w.items() if k.startswith("status_")},
        relays=int(w.get("relays", 0)),
    )
