"""Node.js for the suite: find ``node``/``npm``, install a small npm project once, run scripts.

A package dir (``tests/node/`` here) holds ``package.json`` and ``package-lock.json``, never
``node_modules``. :func:`node_project` installs it with ``npm ci`` into a cache outside the
repository, keyed by the hash of both files and the Node version, so a session installs at
most once and later sessions reuse the install. Missing ``node``/``npm`` skip the test with an
install hint, except under ``CI=true``, where they fail it (see ``_support.unavailable``).

CommonJS scripts find the installed packages through ``NODE_PATH`` (:meth:`NodeProject.env`).
ES modules ignore ``NODE_PATH``: copy such a script into :attr:`NodeProject.root` first.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests._support import require, unavailable

__all__ = ["NODE_DIR", "NodeProject", "node_project"]

NODE_DIR = Path(__file__).parent / "node"
_INSTALL_HINT = "install Node.js 18+ and npm (Debian: apt-get install nodejs npm)"
_CACHE = Path(tempfile.gettempdir()) / "orga-asgi-test-node"
_READY = ".orga-asgi-ready"  # written last: a half-finished install is never taken for done


@dataclass(frozen=True)
class NodeProject:
    """An installed npm project.

    Attributes:
        node: Path of the ``node`` executable.
        root: The install: a copy of ``package.json`` and the lockfile, and ``node_modules``.
    """

    node: str
    root: Path

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    def env(self, **extra: str) -> dict[str, str]:
        """The current environment plus ``NODE_PATH`` for this install, plus ``extra``."""
        return {**os.environ, "NODE_PATH": str(self.node_modules), **extra}

    def command(self, script: Path | str, *args: str) -> list[str]:
        """``node script args...``."""
        return [self.node, str(script), *args]


def _tool(name: str) -> str:
    return require(name, _INSTALL_HINT)


def node_project(package_dir: Path = NODE_DIR, *, timeout: float = 300) -> NodeProject:
    """Install ``package_dir``'s locked dependencies (once) and return the install.

    Args:
        package_dir: A directory with ``package.json`` and ``package-lock.json``.
        timeout: Seconds ``npm ci`` may take.
    """
    node, npm = _tool("node"), _tool("npm")
    installed = _install(Path(package_dir).resolve(), node, npm, timeout)
    if isinstance(installed, str):
        unavailable(installed)
    assert isinstance(installed, NodeProject)
    return installed


@functools.cache  # a failure is remembered too: one npm ci per package dir and session
def _install(package_dir: Path, node: str, npm: str, timeout: float) -> NodeProject | str:
    files = [package_dir / "package.json", package_dir / "package-lock.json"]
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing (npm ci needs a committed lockfile)")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    digest = hashlib.sha256(version.encode())
    for file in files:
        digest.update(file.read_bytes())
    root = _CACHE / f"{package_dir.name}-{digest.hexdigest()[:16]}"
    if (root / _READY).exists():
        return NodeProject(node, root)
    _CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=_CACHE))
    try:
        for file in files:
            shutil.copy2(file, staging / file.name)
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                cwd=staging,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "npm_config_update_notifier": "false"},
            )
        except subprocess.TimeoutExpired:
            return f"npm ci in {package_dir} took over {timeout:g} s (is the registry reachable?)"
        if done.returncode != 0:
            return f"npm ci in {package_dir} failed: {done.stderr.strip()[-1500:]}"
        (staging / _READY).write_text(version + "\n")
        with contextlib.suppress(OSError):  # another session finished first: use its install
            staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if not (root / _READY).exists():
        raise RuntimeError(f"the npm install at {root} is incomplete")
    return NodeProject(node, root)
