"""Processes the harness starts, and what it reads about them from /proc.

Every child runs in its own session (so its process group id is its PID): stopping it means
SIGTERM to that group, SIGKILL to the group after 5 s, then SIGKILL by PID to anything left in
the session (a child that made its own group). Nothing is ever found or killed by name.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Procs:
    """Every process this run started, so a finally block can stop each one."""

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
            # Own session and group: nothing here shares a group with the caller (nox, a
            # terminal), and the whole tree (granian's workers) goes with one killpg.
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

    def stop(self, p: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
        # The group may outlive its leader (a worker still shutting down): kill what is left,
        # then anything that moved to another group but stayed in the session, by PID.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        for pid in session_members(p.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if p in self.started:
            self.started.remove(p)

    def stop_all(self) -> None:
        for p in reversed(list(self.started)):
            self.stop(p)


def _stat(pid: int | str) -> list[str]:
    # Fields after the command name (which may contain spaces and parentheses).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def session_members(sid: int) -> list[int]:
    """PIDs whose session id is sid (the server and everything it forked)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if int(_stat(d.name)[3]) == sid:  # field 6 of stat: session id
                found.append(int(d.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def tree(pid: int) -> list[int]:
    """The server's processes: itself and its session (granian runs a worker beside it)."""
    return sorted({pid, *session_members(pid)})


def cpu_seconds(pid: int) -> float:
    """utime + stime of the server's processes (fields 14 and 15 of /proc/<pid>/stat).

    Exited children are not counted, which is fine: servers here keep their workers alive.
    """
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError, IndexError):
            f = _stat(p)
            total += int(f[11]) + int(f[12])
    return total / CLK_TCK


def rss_mb(pid: int) -> float:
    """Resident memory of the server's processes, MB (VmRSS summed)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(want: int = 65536) -> int:
    """Raise the soft open-files limit toward ``want`` (children inherit it); returns it.

    1,000 callers need 1,000 client sockets in wrk and as many in the server, plus its
    upstream pool: the common default soft limit of 1,024 is not enough.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def request(
    port: int,
    path: str,
    headers: Mapping[str, str],
    method: str = "GET",
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=dict(headers))
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
) -> None:
    """Until the server answers anything at all (status is checked by the caller)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"exited with {p.returncode} before answering")
        try:
            request(port, path, {})
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer on port {port} within {limit:.0f}s")
