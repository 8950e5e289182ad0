"""The package's shape: one module knows ``limits``; the scripts ship as package data."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import orga_asgi
from orga_asgi._ratelimit import backend

PACKAGE = Path(orga_asgi.__file__).parent


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_backend_imports_limits() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(name == "limits" or name.startswith("limits.") for name in imports_of(path))
    )
    assert users == ["_ratelimit/backend.py"]


def test_lua_scripts_load_as_package_data() -> None:
    moving, sliding = backend.script_source(False), backend.script_source(True)
    assert "redis.call('TIME')" in moving
    assert "redis.call('rename', KEYS[2], KEYS[1])" in sliding


def test_memory_limits_do_not_import_redis_py() -> None:
    code = (
        "import sys\n"
        "from orga_asgi._ratelimit import RateLimitGate\n"
        "RateLimitGate(rate_limits=('1/minute',), ip_rate_limits=None)\n"
        "print('redis' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
