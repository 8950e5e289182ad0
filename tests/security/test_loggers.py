"""Every logger of the package scrubs secrets and knows the request id (hardening issue,
defect 10: in 0.1.0 ``orga_asgi.exchange`` and ``orga_asgi.limits`` came from
``logging.getLogger``, so a ``%(request_id)s`` format dropped their records, "Orga rejected
the API key" among them, with "--- Logging error ---").

The check runs in a fresh interpreter that imports every module of the package, so the
loggers it sees are the package's own, not ones other tests made.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import orga_asgi

PACKAGE = Path(orga_asgi.__file__).parent

PROBE = r"""
import importlib, io, json, logging, pkgutil, sys
import orga_asgi

skipped = []
for info in pkgutil.walk_packages(orga_asgi.__path__, "orga_asgi.", onerror=lambda name: None):
    try:
        importlib.import_module(info.name)
    except ImportError as exc:  # an optional dependency that is not installed
        # contrib modules re-raise a missing extra as ImportError with an install hint
        missing = exc.name or (exc.__cause__ and getattr(exc.__cause__, "name", None)) or ""
        if missing.split(".")[0] == "orga_asgi":
            raise
        skipped.append(f"{info.name} (needs {missing or exc})")

from orga_asgi import _log
from orga_asgi._request_id import request_id_var

report = {}
for name, logger in sorted(logging.Logger.manager.loggerDict.items()):
    if name.split(".")[0] != "orga_asgi" or not isinstance(logger, logging.Logger):
        continue
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(request_id)s|%(message)s"))
    failures = []
    handler.handleError = lambda record: failures.append(repr(sys.exc_info()[1]))
    logger.addHandler(handler)
    logger.propagate, logger.disabled = False, False
    logger.setLevel(logging.DEBUG)
    logger.warning("probe %s", "sk_orga_ai_probe123")
    token = request_id_var.set("req-probe-1")
    try:
        logger.warning("inside a request")
    finally:
        request_id_var.reset(token)
    report[name] = {
        "filters": [f in logger.filters for f in (_log._REQUEST_ID_FILTER, _log._REDACTING_FILTER)],
        "lines": stream.getvalue().splitlines(),
        "failures": failures,
    }
print(json.dumps({"loggers": report, "skipped": skipped}))
"""


def probe() -> dict[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    loggers: dict[str, dict[str, object]] = result["loggers"]
    return loggers


def test_every_package_logger_scrubs_and_stamps_the_request_id() -> None:
    loggers = probe()
    assert {"orga_asgi.exchange", "orga_asgi.limits"} <= set(loggers), sorted(loggers)
    bad = {
        name: found
        for name, found in loggers.items()
        if found
        != {
            "filters": [True, True],
            "lines": ["-|probe sk_orga_ai_[REDACTED]", "req-probe-1|inside a request"],
            "failures": [],
        }
    }
    assert not bad, f"loggers without the package's filters: {bad}"


def test_no_module_gets_a_logger_another_way() -> None:
    # What ruff's TID251 enforces in the lint session, checked here too.
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_log.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "getLogger":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "logging"
                and any(alias.name == "getLogger" for alias in node.names)
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"use orga_asgi._log.get_logger instead: {offenders}"
