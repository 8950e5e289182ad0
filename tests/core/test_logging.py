"""orga_asgi.logging: the handler filters, the shipped config and the docs' Python snippets.

Applying a logging config changes the whole process, so every check that applies one runs in
a fresh interpreter; the filters and the formatter are checked in process on plain records.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

import orga_asgi.logging as orga_logging
from orga_asgi._cli.server import log_config
from orga_asgi._request_id import request_id_var
from orga_asgi.observe import parse_logfmt
from orga_asgi.testing import FAKE_API_KEY
from tests._support import require_module

DOCS = Path(__file__).parents[2] / "docs" / "logging.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)


def record(name: str, msg: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_shipped_file_is_the_default_config_and_the_module_prints_its_path() -> None:
    path = Path(orga_logging.config_path())
    assert path.name == "log_config.json"
    assert path.parent == Path(orga_logging.__file__).parent  # inside the package: in the wheel
    assert json.loads(path.read_text()) == orga_logging.dict_config()
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "orga_asgi.logging"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == str(path)


def test_levels_and_the_json_variant() -> None:
    assert orga_logging.dict_config("info")["root"]["level"] == "INFO"
    assert orga_logging.dict_config("trace")["loggers"]["orga_asgi"]["level"] == 5
    assert orga_logging.dict_config(logging.DEBUG)["root"]["level"] == logging.DEBUG
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        orga_logging.dict_config("loud")
    formatter = orga_logging.dict_config(json=True)["formatters"]["orga_asgi"]
    assert formatter == {"()": "orga_asgi.logging.JsonFormatter"}
    first = orga_logging.dict_config()
    first["handlers"]["orga_asgi"]["filters"].clear()  # a caller edits its copy...
    assert orga_logging.dict_config()["handlers"]["orga_asgi"]["filters"] == [
        "request_id",
        "redact",
    ]  # ...never the next one
    assert log_config("warning") == orga_logging.dict_config("warning")  # what the CLI runs


def test_request_id_filter_stamps_inside_a_request_and_dashes_outside() -> None:
    stamp = orga_logging.RequestIdFilter()
    outside = record("uvicorn.error", "Started server process")
    assert stamp.filter(outside)
    assert outside.__dict__["request_id"] == "-"
    token = request_id_var.set("req-inside-1")
    try:
        assert orga_logging.current_request_id() == "req-inside-1"
        inside = record("some.library", "hello")
        stamp.filter(inside)
    finally:
        request_id_var.reset(token)
    assert inside.__dict__["request_id"] == "req-inside-1"
    assert orga_logging.current_request_id() is None
    named = record("orga_asgi.audit", "late", request_id="req-named-1")
    stamp.filter(named)
    # An explicit id outside the context is kept.
    assert named.__dict__["request_id"] == "req-named-1"


def test_json_formatter_gives_the_audit_fields_and_one_line_per_record() -> None:
    formatter = orga_logging.JsonFormatter()
    line = "request_id=req-json-1 method=GET path=/x status=200 outcome=issued"
    audit = json.loads(formatter.format(record("orga_asgi.audit", "%s", line, request_id="r")))
    assert audit["message"] == line
    assert audit["audit"] == parse_logfmt(line)
    assert audit["request_id"] == "r"
    assert audit["time"].endswith("Z")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = record("other", "caf\u00e9\nsecond line")
        failed.exc_info = sys.exc_info()
    text = formatter.format(failed)
    assert "\n" not in text  # a newline in a message cannot start a forged line
    parsed = json.loads(text)
    assert parsed["request_id"] == "-"  # no filter ran: the formatter never fails on it
    assert parsed["message"] == "caf\u00e9\nsecond line"
    assert "RuntimeError: boom" in parsed["exc_info"]
    assert "audit" not in parsed


def test_structlog_request_id_prefers_the_event_then_the_record_then_the_context() -> None:
    assert orga_logging.structlog_request_id(None, "info", {})["request_id"] == "-"
    stamped = record("x", "m", request_id="from-record")
    assert (
        orga_logging.structlog_request_id(None, "info", {"_record": stamped})["request_id"]
        == "from-record"
    )
    token = request_id_var.set("from-context")
    try:
        assert orga_logging.structlog_request_id(None, "info", {})["request_id"] == "from-context"
        kept = orga_logging.structlog_request_id(None, "info", {"request_id": "own"})
    finally:
        request_id_var.reset(token)
    assert kept["request_id"] == "own"


CONFIGURED = r"""
import logging
import orga_asgi.logging
from orga_asgi._request_id import request_id_var

orga_asgi.logging.configure("INFO")
token = request_id_var.set("req-configured-1")
logging.getLogger("orga_asgi.audit").info("request_id=req-configured-1 status=200")
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                         "/api/orga-client-secrets", "1.1", 200)
request_id_var.reset(token)
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                         "/?api_key=API_KEY", "1.1", 404)
logging.getLogger("some.library").warning("no request here")
logging.getLogger("myapp").info("the app's own line, key %s", "API_KEY")
logging.getLogger("httpx").info("HTTP Request: POST https://api.orga.test/v1")
""".replace("API_KEY", FAKE_API_KEY)


def test_configure_shows_every_record_with_an_id_or_a_dash_and_no_secret(tmp_path: Path) -> None:
    lines = run_python(CONFIGURED, tmp_path).stderr.splitlines()
    assert len(lines) == 5, lines  # httpx's INFO line is held back
    audit, access_in, access_out, library, app = lines
    assert "INFO [req-configured-1] orga_asgi.audit: request_id=req-configured-1" in audit
    assert "[req-configured-1] uvicorn.access: 127.0.0.1:5 - " in access_in
    assert "[-] uvicorn.access:" in access_out
    assert "WARNING [-] some.library: no request here" in library
    assert "[-] myapp: the app's own line" in app
    output = "\n".join(lines)
    assert FAKE_API_KEY not in output
    assert "Logging error" not in output


def test_the_python_code_snippet_prints_the_audit_line_of_its_request(tmp_path: Path) -> None:
    [snippet] = [s for s in SNIPPETS if "orga_asgi.logging.configure(" in s]
    done = run_python(snippet, tmp_path)
    status, request_id = done.stdout.split()
    assert status == "200"
    [audit] = [line for line in done.stderr.splitlines() if "orga_asgi.audit" in line]
    assert f"[{request_id}] orga_asgi.audit: request_id={request_id} " in audit
    assert "outcome=issued" in audit
    assert FAKE_API_KEY not in done.stderr


def test_the_structlog_snippet_shares_the_request_id_and_scrubs(tmp_path: Path) -> None:
    require_module("structlog", "pip install 'orga-asgi[structlog]'")
    [snippet] = [s for s in SNIPPETS if "import structlog" in s]
    done = run_python(snippet, tmp_path)
    events = [json.loads(line) for line in done.stderr.splitlines()]
    # Picked by what they are, not by position: the sandbox's WARNING comes first, and under
    # PYTHONDEVMODE asyncio may add a slow-callback line of its own.
    [sandbox] = [e for e in events if e.get("logger") == "orga_asgi.sandbox"]
    assert sandbox["level"] == "warning"
    [hook] = [e for e in events if e.get("event") == "authorizing"]
    [audit] = [e for e in events if e.get("logger") == "orga_asgi.audit"]
    [after] = [e for e in events if e.get("event") == "done"]
    assert hook["event"] == "authorizing"
    assert hook["authorization"] == "[REDACTED]"
    assert audit["logger"] == "orga_asgi.audit"
    assert audit["request_id"] == hook["request_id"] != "-"
    assert f"request_id={hook['request_id']} " in audit["event"]
    assert after == {**after, "event": "done", "status": 200, "request_id": "-"}
    assert "a-session-token" not in done.stderr
    assert FAKE_API_KEY not in done.stderr
