"""A private Redis for the Redis rows, and the ways the harness counts what a server sends it.

Round trips are counted as the TCP data segments the server's own Redis connections sent
(``ss -ti``, ``data_segs_out``): Redis clients set TCP_NODELAY, so one command or one pipeline
is one segment. MONITOR lines are attributed to the server by its connections' local ports
(its fds' socket inodes matched against /proc/net/tcp).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _procs import Procs, free_port, tree


class Redis:
    """redis-server on a free loopback port, no persistence, stopped with the run."""

    def __init__(self, procs: Procs, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            "--maxclients",
            "4096",
        ]
        self.proc = procs.start(argv, tmp / "redis.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, RuntimeError):
                if self.cmd("PING") == "PONG":
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on {self.port}")

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def cmd(self, *args: str) -> str:
        """One command over RESP2; enough for PING, FLUSHALL and INFO."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload.encode())
            f = s.makefile("rb")
            head = f.readline().decode().rstrip("\r\n")
            if head.startswith("$"):
                return f.read(int(head[1:]) + 2)[:-2].decode()
            if head.startswith("-"):
                raise RuntimeError(head)
            return head[1:]

    def commandstats(self) -> dict[str, tuple[int, int]]:
        """command -> (calls, usec). Commands run inside Lua scripts count too (TIME, LINDEX,
        ... under one EVALSHA), so calls here are not round trips."""
        stats = {}
        for line in self.cmd("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
            if m:
                stats[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        return stats

    def client_ports(self, pid: int) -> set[int]:
        """Local ports of the server's (all its processes') TCP connections to this Redis."""
        inodes = set()
        for p in tree(pid):
            with contextlib.suppress(OSError):
                for fd in Path(f"/proc/{p}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        target = os.readlink(fd)
                        if target.startswith("socket:["):
                            inodes.add(target[8:-1])
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    parts = line.split()
                    if parts[9] in inodes and int(parts[2].rsplit(":", 1)[1], 16) == self.port:
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        return ports

    def data_segs_out(self, ports: set[int]) -> int:
        """TCP data segments sent to this Redis from these local ports (round trips)."""
        out = subprocess.run(
            ["ss", "-Htin", f"( dport = :{self.port} )"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        total, current = 0, None
        for line in out.splitlines():
            if not line.startswith((" ", "\t")):
                current = int(line.split()[-2].rsplit(":", 1)[1])
            elif current in ports:
                m = re.search(r"data_segs_out:(\d+)", line)
                total += int(m.group(1)) if m else 0
        return total


class RoundTrips:
    """Round trips a server makes to Redis between start() and stop(), connections it opens
    meanwhile included (they start from zero segments)."""

    def __init__(self, redis: Redis, pid: int) -> None:
        self.redis, self.pid = redis, pid

    def start(self) -> None:
        self.ports = self.redis.client_ports(self.pid)
        self.segs0 = self.redis.data_segs_out(self.ports)

    def stop(self) -> tuple[int, int]:
        """(round trips, connections seen)."""
        self.ports |= self.redis.client_ports(self.pid)
        return self.redis.data_segs_out(self.ports) - self.segs0, len(self.ports)


def serverwide_delta(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], requests: int
) -> dict[str, float]:
    def diff(name: str, i: int) -> int:
        return after.get(name, (0, 0))[i] - before.get(name, (0, 0))[i]

    n = max(requests, 1)
    scripts = sum(diff(c, 0) for c in ("evalsha", "evalsha_ro", "eval", "eval_ro", "fcall"))
    return {
        "scripts_per_req": scripts / n,
        "calls_per_req": (sum(diff(c, 0) for c in after) - 1) / n,  # minus the INFO itself
        "redis_us_per_req": sum(diff(c, 1) for c in after if c != "info") / n,
    }


def monitor_sample(redis: Redis, pid: int, drive: Callable[[], tuple[int, int]]) -> dict[str, Any]:
    """Run ``drive()`` (returns (requests, ok)) with MONITOR on: which commands the server
    sent, and how many round trips it made, per request."""
    lines: list[str] = []
    mon = socket.create_connection(("127.0.0.1", redis.port), timeout=5)
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
    trips = RoundTrips(redis, pid)
    trips.start()
    try:
        n, ok = drive()
        time.sleep(0.3)  # let MONITOR deliver the tail
        segs, _ = trips.stop()
    finally:
        with contextlib.suppress(OSError):
            mon.shutdown(socket.SHUT_RDWR)
        mon.close()
        t.join(2)
    names: Counter[str] = Counter()
    for ln in lines:
        m = re.match(r'\+[\d.]+ \[\d+ [\d.:\[\]a-f]*:(\d+)\] "([^"]+)"', ln)
        if m and int(m.group(1)) in trips.ports:
            names[m.group(2).upper()] += 1
    n = max(n, 1)
    return {
        "requests": n,
        "ok": ok,
        "commands_per_req": sum(names.values()) / n,
        "by_command": {k: v / n for k, v in names.most_common()},
        "round_trips": segs,
        "round_trips_per_req": segs / n,
        "connections": len(trips.ports),
    }
