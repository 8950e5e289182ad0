"""The compatibility matrix: every adapter, every supported version, on real servers.

``nox`` runs everything a release must pass (the README's test command); ``nox -t core``,
``nox -t adapters`` and ``nox -t e2e`` pick slices; ``nox -s bench`` and ``nox -s soak``
are the long measurements and are not part of the default run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"
nox.options.sessions = [
    "lint", "typecheck", "tests", "starlette", "fastapi", "litestar", "quart", "django",
    "redis", "servers", "reliability", "browser",
]  # fmt: skip


def _pythons() -> list[str]:
    """The Python versions the package claims, read from its classifiers."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text)
    return sorted(set(found), key=lambda v: int(v.split(".")[1]))


def _expose_pyenv_interpreters() -> None:
    """Put every pyenv-installed interpreter on PATH so nox (and uv) can find it."""
    root = os.environ.get("PYENV_ROOT") or (
        subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        if shutil.which("pyenv")
        else str(Path.home() / ".pyenv")
    )
    versions = Path(root, "versions")
    if versions.is_dir():
        bins = [str(p / "bin") for p in sorted(versions.iterdir()) if (p / "bin").is_dir()]
        os.environ["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])
    # Never let uv download an interpreter: a missing one must fail the run, loudly.
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


_expose_pyenv_interpreters()
PYTHONS = _pythons()
OLDEST_PY, LATEST_PY = PYTHONS[0], PYTHONS[-1]

TEST_DEPS = ["pytest>=8", "pytest-timeout", "anyio>=4.4", "trio", "hypothesis", "httpx>=0.27"]

# Each adapter's claimed range, proven by its oldest and its latest release. Keep these in
# step with the adapters' pyproject.toml and the README's compatibility table.
FRAMEWORKS: dict[str, dict[str, tuple[str, ...]]] = {
    "starlette": {"oldest": ("starlette==0.40.0",), "latest": ("starlette",)},
    "fastapi": {"oldest": ("fastapi==0.115.2",), "latest": ("fastapi",)},
    "litestar": {"oldest": ("litestar==2.15.0",), "latest": ("litestar",)},
    "quart": {
        "oldest": ("quart==0.19.9", "quart-auth==0.9.0", "flask<3.2"),
        "latest": ("quart", "quart-auth"),
    },
    "django": {"oldest": ("django==4.2.0",), "latest": ("django",)},
}


def _run_tests(
    session: nox.Session,
    *paths: str,
    extras: str = "redis,jwt,structlog,server",
    deps: tuple[str, ...] = (),
    editable: tuple[str, ...] = (),
    marker: str = "not slow",
    show: str | None = None,
) -> None:
    """The one helper behind every test session: install, then run pytest on ``paths``.

    ``show`` names a distribution whose resolved version is printed, for the README's
    compatibility table.
    """
    session.install(
        "-e", f".[{extras}]", *(f for e in editable for f in ("-e", e)), *TEST_DEPS, *deps
    )
    if show:
        session.run(
            "python",
            "-c",
            "import importlib.metadata as m, sys; "
            f"print('MATRIX {show}', m.version({show!r}), 'python', sys.version.split()[0])",
        )
    session.run(
        "python", "-m", "pytest", "-m", marker, "-p", "no:cacheprovider", *paths, *session.posargs,
        env={"PYTHONDEVMODE": "1"},
    )  # fmt: skip


def _framework_session(session: nox.Session, name: str, which: str, *extra_deps: str) -> None:
    specs = FRAMEWORKS[name][which]
    editable = (f"integrations/{name}",) if (ROOT / "integrations" / name).is_dir() else ()
    paths = [f"tests/integrations/{name}"]
    example = ROOT / "tests" / "examples" / f"test_example_{name}.py"
    if example.exists():
        paths.append(str(example.relative_to(ROOT)))
    if name == "starlette":  # the core itself depends on starlette: prove it too
        paths += ["tests/core", "tests/security"]
    _run_tests(session, *paths, deps=(*specs, *extra_deps), editable=editable, show=name)


@nox.session(python=PYTHONS, tags=["core"])
def tests(session: nox.Session) -> None:
    """The core on every supported Python (memory rate limiting, in-process upstream)."""
    _run_tests(session, "tests/core", "tests/security", "tests/limits")


@nox.session(python=[OLDEST_PY, LATEST_PY], tags=["adapters"])
@nox.parametrize("version", ["oldest", "latest"])
def starlette(session: nox.Session, version: str) -> None:
    """Starlette: the core, OrgaMiddleware, routes and mounts, the example."""
    _framework_session(session, "starlette", version, "uvicorn[standard]", "itsdangerous")


@nox.session(python=[OLDEST_PY, LATEST_PY], tags=["adapters"])
@nox.parametrize("version", ["oldest", "latest"])
def fastapi(session: nox.Session, version: str) -> None:
    """FastAPI: middleware, the dependency recipe, OpenAPI untouched, the example."""
    _framework_session(session, "fastapi", version, "uvicorn[standard]")


@nox.session(python=[OLDEST_PY, LATEST_PY], tags=["adapters"])
@nox.parametrize("version", ["oldest", "latest"])
def litestar(session: nox.Session, version: str) -> None:
    """Litestar: the orga-asgi-litestar plugin, OpenAPI, guards, the example."""
    _framework_session(session, "litestar", version, "uvicorn[standard]")


@nox.session(python=[OLDEST_PY, LATEST_PY], tags=["adapters"])
@nox.parametrize("version", ["oldest", "latest"])
def quart(session: nox.Session, version: str) -> None:
    """Quart: the orga-asgi-quart extension with quart-auth, the example."""
    _framework_session(session, "quart", version, "hypercorn", "uvicorn[standard]")


@nox.session(python=[OLDEST_PY, LATEST_PY], tags=["adapters"])
@nox.parametrize("version", ["oldest", "latest"])
def django(session: nox.Session, version: str) -> None:
    """Django ASGI wrapped by OrgaMiddleware, session-cookie auth, the example."""
    _framework_session(session, "django", version, "uvicorn[standard]")


@nox.session(python=LATEST_PY, tags=["e2e"])
def redis(session: nox.Session) -> None:
    """Shared rate limits on a real Redis: two processes, outages, fallback."""
    _run_tests(session, "tests/redis", deps=("uvicorn[standard]",))


@nox.session(python=LATEST_PY, tags=["e2e"])
def servers(session: nox.Session) -> None:
    """End to end through uvicorn, hypercorn and granian on loopback, HTTP/1.1 and HTTP/2."""
    _run_tests(
        session, "tests/e2e", deps=("uvicorn[standard]", "hypercorn", "granian", "httpx[http2]")
    )


@nox.session(python=LATEST_PY, tags=["e2e"])
def reliability(session: nox.Session) -> None:
    """Faults, hostile input and short load runs (``soak`` runs the long profiles)."""
    _run_tests(session, "tests/reliability", deps=("uvicorn[standard]", "aiohttp"))


@nox.session(python=LATEST_PY, tags=["e2e"])
def browser(session: nox.Session) -> None:
    """The browser example in real headless Chromium (Debian's /usr/bin/chromium)."""
    _run_tests(session, "tests/browser", deps=("uvicorn[standard]", "playwright"))


@nox.session(python=LATEST_PY)
def soak(session: nox.Session) -> None:
    """The long load, soak and fuzz profiles."""
    _run_tests(session, "tests/reliability", deps=("uvicorn[standard]",), marker="slow")


@nox.session(python=LATEST_PY)
def bench(session: nox.Session) -> None:
    """The benchmark table (needs nginx and wrk from Debian's packages)."""
    session.install("-e", ".[redis]", "uvicorn[standard]", "uvloop", "httptools")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=LATEST_PY, tags=["core"])
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=LATEST_PY, tags=["core"])
def typecheck(session: nox.Session) -> None:
    """mypy strict on the core, the adapters and this file."""
    session.install(
        "mypy", "nox", "-e", ".[redis,jwt,structlog,server]",
        "-e", "integrations/litestar", "-e", "integrations/quart", "quart-auth", "pytest",
    )  # fmt: skip
    session.run("mypy", "--strict", "orga_asgi", "integrations/litestar/orga_asgi_litestar",
                "integrations/quart/orga_asgi_quart", "noxfile.py")  # fmt: skip
