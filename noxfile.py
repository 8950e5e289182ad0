"""The compatibility matrix: every adapter, every supported version, on real servers.

``nox`` runs everything a release must pass (the README's test command); ``nox -t core``,
``nox -t adapters`` and ``nox -t e2e`` pick slices; ``nox -s coverage``, ``nox -s bench``
and ``nox -s soak`` are measurements and are not part of the default run.

What a session installs besides the package comes from the ``[dependency-groups]`` table of
``pyproject.toml``; the adapters' cells are generated from the one :data:`FRAMEWORKS` table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"
nox.options.sessions = [
    "lint", "typecheck", "tests", "plugins", "starlette", "fastapi", "litestar", "quart",
    "django", "redis", "servers", "reliability", "browser", "otel", "docs",
]  # fmt: skip


def _pythons() -> list[str]:
    """The Python versions the package claims, read from its classifiers."""
    found = {
        match.group(1)
        for classifier in PYPROJECT["project"]["classifiers"]
        if (match := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier))
    }
    return sorted(found, key=lambda v: int(v.split(".")[1]))


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
VERSIONS = ("oldest", "latest")


def _groups(*names: str) -> tuple[str, ...]:
    """The requirements of the named ``[dependency-groups]`` of ``pyproject.toml``."""
    return tuple(nox.project.dependency_groups(PYPROJECT, *names))


@dataclass(frozen=True)
class Framework:
    """One adapter's cells: its claimed range, proven by its oldest and its latest release.

    Keep ``oldest`` in step with the adapter's pyproject.toml and the README's table.
    """

    doc: str  # the session's description in ``nox -l``
    oldest: tuple[str, ...]
    latest: tuple[str, ...]
    extra: tuple[str, ...] = ()  # what its tests need besides the framework
    also: tuple[str, ...] = ()  # more test paths the cell runs

    def specs(self, version: str) -> tuple[str, ...]:
        return (*(self.oldest if version == "oldest" else self.latest), *self.extra)


FRAMEWORKS: dict[str, Framework] = {
    "starlette": Framework(
        "Starlette: the core, OrgaMiddleware, routes and mounts, the example.",
        oldest=("starlette==0.40.0",),
        latest=("starlette",),
        extra=("itsdangerous",),
        also=(
            "tests/core/test_middleware.py",
            "tests/core/test_endpoint.py",
            "tests/security/test_pipeline.py",
        ),  # the core paths that are Starlette's
    ),
    "fastapi": Framework(
        "FastAPI: middleware, the orga-asgi-fastapi router, OpenAPI, the example.",
        oldest=("fastapi==0.115.2",),
        latest=("fastapi",),
    ),
    "litestar": Framework(
        "Litestar: the orga-asgi-litestar plugin, OpenAPI, guards, the example.",
        oldest=("litestar==2.15.0",),
        latest=("litestar",),
    ),
    "quart": Framework(
        "Quart: the orga-asgi-quart extension with quart-auth, the example.",
        oldest=("quart==0.19.9", "quart-auth==0.9.0", "flask<3.2"),
        latest=("quart", "quart-auth"),
        extra=("hypercorn",),
    ),
    "django": Framework(
        "Django ASGI wrapped by OrgaMiddleware, session-cookie auth, the example.",
        oldest=("django==4.2.0",),
        latest=("django",),
    ),
}
# The pytest plugin's fixtures under pytest-asyncio's oldest supported and latest release.
PYTEST_ASYNCIO = {"oldest": ("pytest-asyncio==0.24.0",), "latest": ("pytest-asyncio",)}


def _adapter(name: str) -> tuple[str, ...]:
    """The adapter distribution of ``name``, to install editable, if it has one."""
    return (f"integrations/{name}",) if (ROOT / "integrations" / name).is_dir() else ()


def _framework_paths(name: str) -> list[str]:
    """The tests of one framework: its integration tests, its example, its extra paths."""
    paths = [f"tests/integrations/{name}"]
    example = Path("tests", "examples", f"test_example_{name}.py")
    if (ROOT / example).exists():
        paths.append(example.as_posix())
    return [*paths, *FRAMEWORKS[name].also]


def _run_tests(
    session: nox.Session,
    *paths: str,
    extras: str = "redis,jwt,structlog,server",
    groups: tuple[str, ...] = (),
    deps: tuple[str, ...] = (),
    editable: tuple[str, ...] = (),
    marker: str = "not slow",
    show: str | None = None,
    coverage: bool = False,
    posargs: bool = True,
) -> None:
    """The one helper behind every test session: install, then run pytest on ``paths``.

    Installs the package with ``extras``, the ``test`` dependency group and ``groups``,
    ``deps`` and the ``editable`` local distributions. ``show`` names a distribution whose
    resolved version is printed, for the README's compatibility table. ``coverage`` runs
    pytest under coverage.py (its settings are ``[tool.coverage]`` in pyproject.toml).
    ``posargs``: hand the session's positional arguments to pytest.
    """
    session.install(
        "-e", f".[{extras}]", *(f for e in editable for f in ("-e", e)),
        *_groups("test", *groups), *deps,
    )  # fmt: skip
    if show:
        session.run(
            "python",
            "-c",
            "import importlib.metadata as m, sys; "
            f"print('MATRIX {show}', m.version({show!r}), 'python', sys.version.split()[0])",
        )
    runner = ("-m", "coverage", "run", "-m") if coverage else ("-m",)
    session.run(
        "python", *runner, "pytest", "-m", marker, "-p", "no:cacheprovider", *paths,
        *(session.posargs if posargs else ()), env={"PYTHONDEVMODE": "1"},
    )  # fmt: skip


@nox.session(python=PYTHONS, tags=["core"])
def tests(session: nox.Session) -> None:
    """The core on every supported Python (memory rate limiting, in-process upstream)."""
    _run_tests(session, "tests/core", "tests/security", "tests/limits")


def _define_framework_session(name: str) -> None:
    """Register ``name``'s cells: oldest and latest release, on the oldest and newest Python."""
    framework = FRAMEWORKS[name]

    def cell(session: nox.Session, version: str) -> None:
        _run_tests(
            session,
            *_framework_paths(name),
            deps=framework.specs(version),
            editable=_adapter(name),
            show=name,
        )

    cell.__doc__ = framework.doc
    cells = nox.parametrize("version", list(VERSIONS))(cell)
    nox.session(cells, name=name, python=[OLDEST_PY, LATEST_PY], tags=["adapters"])


for _name in FRAMEWORKS:
    _define_framework_session(_name)


@nox.session(python=LATEST_PY, tags=["core"])
@nox.parametrize("pytest_asyncio", list(VERSIONS))
def plugins(session: nox.Session, pytest_asyncio: str) -> None:
    """The pytest plugin's fixtures from users' tests: anyio, pytest-asyncio, TestClient."""
    _run_tests(
        session,
        "tests/plugin",
        groups=("plugins",),
        deps=PYTEST_ASYNCIO[pytest_asyncio],
        show="pytest-asyncio",
    )


# The otel extra's oldest claimed opentelemetry-api and the latest, each with the SDK and the
# Prometheus exporter of the same release (test-only: the package depends on the API alone).
OPENTELEMETRY = {
    "oldest": ("opentelemetry-api==1.27.0", "opentelemetry-sdk==1.27.0",
               "opentelemetry-exporter-prometheus==0.48b0"),
    "latest": ("opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-prometheus"),
}  # fmt: skip


@nox.session(python=LATEST_PY, tags=["core"])
@nox.parametrize("opentelemetry", list(VERSIONS))
def otel(session: nox.Session, opentelemetry: str) -> None:
    """OpenTelemetry spans and metrics (SDK in-memory), the Prometheus example and sidecar."""
    _run_tests(
        session,
        "tests/otel",
        extras="redis,server,otel",
        deps=OPENTELEMETRY[opentelemetry],
        show="opentelemetry-api",
    )


@nox.session(python=LATEST_PY, tags=["e2e"])
def redis(session: nox.Session) -> None:
    """Shared rate limits on a real Redis: two processes, outages, fallback."""
    _run_tests(session, "tests/redis")


@nox.session(python=LATEST_PY, tags=["e2e"])
def servers(session: nox.Session) -> None:
    """End to end through uvicorn, hypercorn and granian on loopback, HTTP/1.1 and HTTP/2."""
    _run_tests(session, "tests/e2e", "tests/sealed", groups=("e2e",))


@nox.session(python=LATEST_PY, tags=["e2e"])
def reliability(session: nox.Session) -> None:
    """Faults, hostile input and short load runs (``soak`` runs the long profiles)."""
    _run_tests(session, "tests/reliability")


@nox.session(python=LATEST_PY, tags=["e2e"])
def browser(session: nox.Session) -> None:
    """The browser example in real headless Chromium (Debian's /usr/bin/chromium)."""
    _run_tests(session, "tests/browser", groups=("browser",))


@nox.session(python=LATEST_PY)
def coverage(session: nox.Session) -> None:
    """Branch coverage of orga_asgi/ over the core, security, limits, redis and adapters."""
    frameworks = sorted(FRAMEWORKS)
    deps = tuple(spec for name in frameworks for spec in FRAMEWORKS[name].specs("latest"))
    paths = ["tests/core", "tests/security", "tests/limits", "tests/redis", "tests/integrations"]
    paths += [p for p in (f"tests/examples/test_example_{n}.py" for n in frameworks)
              if (ROOT / p).exists()]  # fmt: skip
    editable = tuple(e for name in frameworks for e in _adapter(name))
    session.install(*_groups("coverage"))
    session.run("coverage", "erase")
    _run_tests(session, *paths, groups=("coverage",), deps=deps, editable=editable, coverage=True)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")  # fail_under is in [tool.coverage.report]


@nox.session(python=LATEST_PY)
def soak(session: nox.Session) -> None:
    """The long load, soak and fuzz profiles."""
    _run_tests(session, "tests/reliability", "tests/security", marker="slow")


@nox.session(python=LATEST_PY)
def bench(session: nox.Session) -> None:
    """The benchmark table (needs nginx and wrk from Debian's packages)."""
    # granian: its rows; the otel group: the telemetry-on row (SDK, in-memory exporters);
    # py-spy: --profile, which shows where a MISSED row's time goes.
    session.install(
        "-e", ".[redis,server,otel]", "uvloop", "httptools", "granian", "py-spy",
        *_groups("otel"),
    )  # fmt: skip
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=LATEST_PY, tags=["core"])
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install(*_groups("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=LATEST_PY, tags=["core"])
def docs(session: nox.Session) -> None:
    """The documentation site, strict (mkdocs.yml): into site/, or the directory given."""
    # The package itself: docs/_hooks.py renders the settings table from EndpointConfig;
    # ruff (the lint group): mkdocstrings formats the reference's signatures with it.
    session.install("-e", ".", *_groups("docs", "lint"))
    # Every page's snippets run first, as a reader would run them: with each framework the
    # pages show, structlog and the OpenTelemetry SDK.
    _run_tests(
        session,
        "tests/docs",
        extras="redis,jwt,structlog,server,otel",
        groups=("otel",),
        deps=("django", "quart-auth"),
        editable=(*_adapter("fastapi"), *_adapter("litestar"), *_adapter("quart")),
        posargs=False,  # this session's argument is the site directory
    )
    site = session.posargs[0] if session.posargs else "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python=LATEST_PY, tags=["core"])
def typecheck(session: nox.Session) -> None:
    """mypy strict on the core, the adapters and this file."""
    session.install(
        "-e", ".[redis,jwt,structlog,server]", "-e", "integrations/litestar",
        "-e", "integrations/quart", "-e", "integrations/fastapi", *_groups("typecheck"),
    )  # fmt: skip
    session.run("mypy", "--strict", "orga_asgi", "integrations/litestar/orga_asgi_litestar",
                "integrations/quart/orga_asgi_quart", "integrations/fastapi/orga_asgi_fastapi",
                "noxfile.py")  # fmt: skip
