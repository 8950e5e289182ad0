"""Run the ``orga-asgi`` command as a real process on a loopback port, bounded in time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests._support import free_port

__all__ = ["Server", "cli"]


class Server:
    """Where the command listens; its whole output once it stopped."""

    url = ""
    output = ""


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORGA_")}
    env.update(extra)
    return env


@contextmanager
def cli(
    *argv: str, env: dict[str, str], cwd: Path | None = None, command: list[str] | None = None
) -> Iterator[Server]:
    """Run ``orga-asgi <argv> --port N`` until it listens; always stop it (bounded)."""
    port = free_port()
    base = command or [sys.executable, "-m", "orga_asgi.cli"]
    proc = subprocess.Popen(
        [*base, *argv, "--port", str(port)],
        env=_environment(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server()
    server.url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                output = proc.communicate(timeout=10)[0].decode()
                raise RuntimeError(f"orga-asgi exited with {proc.returncode}:\n{output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("orga-asgi did not listen within 20 s") from None
                time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate(timeout=10)[0]
        server.output = out.decode(errors="replace")
