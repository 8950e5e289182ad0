"""Starting one row's app under its server, and the validation request before any load.

uvicorn: ``--loop uvloop --http httptools --no-access-log --log-level warning``, one process.
granian: ``--interface asgi --workers 1 --loop uvloop --http 1 --no-ws``; uvloop is its
fastest loop installed here (rloop is experimental and not a dependency), and its Rust task
implementation is experimental too, so granian runs with its defaults otherwise. granian runs
the app in a worker process beside its main one: CPU and RSS are summed over both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import _common as common
import _peers
from _procs import Procs, free_port, request, wait_http
from _rows import RELAY_PATH, Row

BENCH = Path(__file__).resolve().parent
APPS = BENCH / "apps"


def server_argv(
    python: Path | str, server: str, target: str, app_dir: Path, port: int
) -> list[str]:
    if server == "granian":
        return [
            str(python),
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "--working-dir",
            str(app_dir),
            target,
        ]
    return [
        str(python),
        "-m",
        "uvicorn",
        target,
        "--app-dir",
        str(app_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def start_app(
    procs: Procs,
    row: Row,
    upstream_url: str,
    tmp: Path,
    kit_env: Mapping[str, str],
    redis_url: str | None = None,
    prefix: Sequence[str] = (),
    start_limit: float = 30.0,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the row's server on a free port and wait (``start_limit`` s) until it answers.

    ``prefix`` goes before the server's command line (``--instructions``: valgrind).
    """
    port = free_port()
    if row.kind == "peer":
        python: Path | str = _peers.python()
        app_dir = _peers.PEERS
    else:
        python, app_dir = sys.executable, APPS
    env = {
        **os.environ,
        **kit_env,
        **{k: v.replace("@REDIS@", redis_url or "") for k, v in row.env.items()},
        "ORGA_BASE_URL": upstream_url,
        "ORGA_API_KEY": common.API_KEY,
        # The app's folder first; a PYTHONPATH given to run.py (a kit checkout to measure,
        # e.g. PYTHONPATH=/path/to/orga-asgi-0.1.0) stays behind it.
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(app_dir), kit_env.get("PYTHONPATH", os.environ.get("PYTHONPATH"))])
        ),
    }
    log = tmp / f"{row.key}.log"
    argv = [*prefix, *server_argv(python, row.server, row.target, app_dir, port)]
    p = procs.start(argv, log, env, BENCH)
    try:
        wait_http(p, port, limit=start_limit)
    except RuntimeError as exc:
        tail = log.read_text(errors="replace")[-2000:]
        procs.stop(p)
        # The table keeps the first line: put the app's last words (its exception) on it.
        last = next((ln for ln in reversed(tail.splitlines()) if ln.strip()), "")
        raise RuntimeError(f"{exc}: {last.strip()[:200]}\n{tail}") from None
    return p, port


def validate(row: Row, port: int) -> None:
    """The row is what it claims: the right status, and for 200 the right body."""
    for i in range(row.prime):
        status, body = request(port, common.PATH, row.headers)
        if status != 200:
            raise RuntimeError(f"priming request {i + 1}: HTTP {status}: {body[:300]!r}")
    status, body = request(port, common.PATH, row.headers)
    if status != row.expect:
        raise RuntimeError(f"expected HTTP {row.expect}, got {status}: {body[:300]!r}")
    if status == 200:
        got = json.loads(body)
        keys = ["iceServers"] if row.feature == "sealed" else list(common.BODY)
        wrong = [k for k in keys if got.get(k) != common.BODY[k]]
        if wrong:
            raise RuntimeError(f"wrong {wrong} in body: {body[:300]!r}")
    if row.feature == "sealed":
        _validate_relay(port, row, json.loads(body))
    if row.feature == "telemetry":
        status, body = request(port, "/bench/otel", {})
        spans = json.loads(body).get("spans", 0) if status == 200 else 0
        if not spans:
            raise RuntimeError(
                "telemetry row: the kit recorded no spans into the SDK's in-memory exporter; "
                "wire it in bench/apps/kit.py (KIT_TELEMETRY)"
            )


def _validate_relay(port: int, row: Row, minted: dict[str, object]) -> None:
    handle = str(minted.get("ephemeralToken", ""))
    if not handle or handle == common.TOKEN:
        raise RuntimeError("sealed row: the route handed out the Orga token, not a handle")
    headers = {**row.headers, "Authorization": f"Bearer {handle}"}
    headers["Content-Type"] = "application/json"
    body = json.dumps(common.CALLS_BODY).encode()
    status, got = request(port, RELAY_PATH, headers, method="POST", body=body)
    if (
        status != 200
        or json.loads(got).get("conversation_id") != common.CALLS_ANSWER["conversation_id"]
    ):
        raise RuntimeError(f"relay call: HTTP {status}: {got[:300]!r}")
