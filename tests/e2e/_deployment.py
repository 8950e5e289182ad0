"""What the deployment tests share: the page's blocks, signing, processes, the sidecar.

The page is docs/deployment.md; its blocks are found by language and first line, so a test
fails loudly, not silently, when the page changes under it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orga_asgi.testing import FAKE_API_KEY
from tests._cli_process import cli

__all__ = ["DOC", "ROOT", "ROUTE", "SECRET", "fenced", "sidecar", "sign", "started", "substitute"]

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "deployment.md").read_text()
SECRET = "deploy-test-" + "s" * 40
ROUTE = "/api/orga-client-secrets"


def fenced(language: str, start: str = "") -> str:
    """The page's one ```language block that starts with ``start``."""
    found = [
        body
        for body in re.findall(rf"^```{language}\n(.*?)^```", DOC, re.M | re.S)
        if body.startswith(start)
    ]
    assert len(found) == 1, f"expected one {language} block starting {start!r} in the page"
    return str(found[0])


def substitute(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in text, f"the page's config no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def sign(principal_id: str) -> str:
    payload = f"{principal_id}.{time.time_ns() // 1_000_000}"
    return payload + "." + hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


def wait_for(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                output = log.read_text()
                raise RuntimeError(f"port {port} not open in {timeout} s:\n{output}") from None
            time.sleep(0.05)


@contextmanager
def started(
    argv: list[str],
    *,
    ports: list[int],
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (its output in ``log``) until ``ports`` accept; always stop it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        try:
            for port in ports:
                wait_for(port, proc, log)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def sidecar_argv() -> list[str]:
    """The page's ``orga-asgi serve`` command, without the program name and its port."""
    line = next(
        x
        for x in fenced("sh", "export ORGA_API_KEY=").splitlines()
        if x.startswith("orga-asgi serve ")
    )
    argv = shlex.split(line)[1:]
    at = argv.index("--port")
    return argv[:at] + argv[at + 2 :]


@contextmanager
def sidecar(upstream: str, *extra: str) -> Iterator[int]:
    env = {"ORGA_API_KEY": FAKE_API_KEY, "ORGA_BASE_URL": upstream, "ORGA_SIDECAR_SECRET": SECRET}
    with cli(*sidecar_argv(), *extra, env=env) as server:
        yield int(server.url.rsplit(":", 1)[1])
    assert SECRET not in server.output
    assert "Traceback" not in server.output
