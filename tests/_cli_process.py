"""Run the ``orga-asgi`` command as a real process on a loopback port, bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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


def _stop(proc: subprocess.Popen[bytes], log: IO[bytes]) -> str:
    """SIGTERM the whole process group (worker processes too), SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    log.seek(0)
    return log.read().decode(errors="replace")


@contextmanager
def cli(
    *argv: str,
    env: dict[str, str],
    cwd: Path | None = None,
    command: list[str] | None = None,
    start_timeout: float = 30,
) -> Iterator[Server]:
    """Run ``orga-asgi <argv> --port N`` until it accepts connections; always stop it.

    Output goes to a file, not a pipe: worker processes would hold a pipe open after their
    parent was killed.
    """
    port = free_port()
    base = command or [sys.executable, "-m", "orga_asgi.cli"]
    server = Server()
    server.url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*base, *argv, "--port", str(port)],
            env=_environment(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if proc.poll() is not None:
                    output = _stop(proc, log)
                    raise RuntimeError(f"orga-asgi exited with {proc.returncode}:\n{output}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        output = _stop(proc, log)
                        raise RuntimeError(
                            f"orga-asgi did not listen within {start_timeout} s:\n{output}"
                        ) from None
                    time.sleep(0.05)
            yield server
        finally:
            if not server.output:
                server.output = _stop(proc, log)
