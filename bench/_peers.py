"""The peer apps of ``../shared/bench/peers/`` (next to the repository) and their venv.

The shared folder is read-only and not part of this repository: it sits beside the checkout
(``/work/shared`` here, ``../shared`` in CI). Its README installs the peers into a venv with
pinned versions (``requirements.lock``); this does the same into ``bench/.peers-venv`` (git-
ignored), created when missing and re-created when the lock file changes, with ``uv`` when it
is on PATH or next to this interpreter, else ``python -m venv`` + pip.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = REPO.parent / "shared" / "bench" / "peers"
VENV = BENCH / ".peers-venv"
_STAMP = VENV / "requirements.lock.sha256"


class PeersUnavailable(Exception):
    """Why the peer rows are skipped (the message says what to do)."""


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def python() -> Path:
    """The peers' interpreter, creating or refreshing their venv first (bounded: 10 min)."""
    lock = PEERS / "requirements.lock"
    if not lock.is_file():
        raise PeersUnavailable(
            f"{PEERS} not found (the shared bench folder next to the repository): peer rows skipped"
        )
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    py = VENV / "bin" / "python"
    if py.exists() and _STAMP.exists() and _STAMP.read_text().strip() == digest:
        return py
    print(f"creating the peers' venv {VENV} from {lock} ...", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    uv = _uv()
    # The peers' requirements.lock is the whole resolved set of their setup.sh (the top-level
    # pins and every dependency), so installing it as requirements is the same install.
    steps = (
        [
            [uv, "venv", "-q", "--python", sys.executable, str(VENV)],
            # pip compiles bytecode at install; uv only when asked.
            [
                uv,
                "pip",
                "install",
                "-q",
                "--compile-bytecode",
                "--python",
                str(py),
                "-r",
                str(lock),
            ],
        ]
        if uv
        else [
            [sys.executable, "-m", "venv", str(VENV)],
            [str(py), "-m", "pip", "install", "-q", "-r", str(lock)],
        ]
    )
    for argv in steps:
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeersUnavailable(f"could not create {VENV}: {exc}") from None
        if p.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            raise PeersUnavailable(f"could not create {VENV}: {' / '.join(tail)}")
    _STAMP.write_text(digest + "\n")
    return py
