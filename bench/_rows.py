"""The rows of the table: what runs, under which server, sending what.

A row's ``env`` values may contain ``@REDIS@``, replaced by the private Redis's URL at start.
Rows that need a feature the kit does not have yet (``feature``) are detected by import or
attribute in the bench venv and reported as "n/a (feature not present)", never faked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import _common as common

BENCH_TOKEN = "bench-token"  # what apps/kit.py and the peers accept
NEVER = "100000000/minute"  # the never-refusing windows of the minting kit rows
# A proxy terminated TLS: the kit refuses plain http unless a trusted proxy says https.
XFP = {"X-Forwarded-Proto": "https"}
AUTH = {"Authorization": f"Bearer {BENCH_TOKEN}"}
BOTH = {**AUTH, **XFP}
RELAY_PATH = "/api/orga/v1/realtime/calls"  # the kit's default relay_prefix + the call path


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    target: str  # "module:app" inside bench/apps (or the peers' folder for kind="peer")
    headers: Mapping[str, str] = field(default_factory=lambda: BOTH)
    expect: int = 200  # status the validation request must get (200 also checks the body)
    env: Mapping[str, str] = field(default_factory=dict)
    kind: str = "bare"  # bare | kit | peer
    server: str = "uvicorn"  # uvicorn | granian
    redis: bool = False
    prime: int = 0  # requests (all 200) before validating: they use up a refusing window
    feature: str | None = None  # telemetry | sealed: only when the kit has it
    flood: bool = False  # count Redis round trips over the whole refusal flood
    wrk_env: Mapping[str, str] = field(default_factory=dict)


def _granian(row: Row) -> Row:
    return Row(
        f"{row.key}-granian",
        f"as ({row.key}), under granian (1 worker, uvloop)",
        row.target,
        row.headers,
        row.expect,
        row.env,
        row.kind,
        "granian",
        row.redis,
        row.prime,
    )


_NO_IP = {"KIT_IP_RATE_LIMITS": "none"}
_429 = {"KIT_RATE_LIMITS": "1/hour"}
_BASE = [
    Row("a", "bare Starlette + shared aiohttp.ClientSession", "bare_aiohttp:app"),
    Row("b", "bare Starlette + shared httpx.AsyncClient", "bare_httpx:app"),
    Row(
        "c",
        "kit minting: defaults + bearer + memory limiter (never refuses)",
        "kit:app",
        kind="kit",
    ),
    Row(
        "c-redis",
        "kit minting as (c), storage_uri=redis://",
        "kit:app",
        env={"KIT_STORAGE": "@REDIS@"},
        kind="kit",
        redis=True,
    ),
    Row("d-401", "kit refusing: no Authorization -> 401", "kit:app", XFP, 401, kind="kit"),
    Row(
        "d-429",
        "kit refusing: rate_limits=1/hour used up -> 429",
        "kit:app",
        expect=429,
        env=_429,
        kind="kit",
        prime=1,
    ),
    Row(
        "d-429-redis",
        "kit refusing as (d-429), redis://, per-IP windows off",
        "kit:app",
        expect=429,
        env={**_429, **_NO_IP, "KIT_STORAGE": "@REDIS@"},
        kind="kit",
        redis=True,
        prime=1,
        flood=True,
    ),
    Row("e", "framework floor: bare Starlette, static JSON", "floor:app"),
]
_BY_KEY = {r.key: r for r in _BASE}
_GRANIAN = [_granian(_BY_KEY[k]) for k in ("c", "d-401", "d-429", "e")]

_PEER_REDIS = {"PEER_STORAGE": "@REDIS@"}
_PEER_429 = {"PEER_LIMIT": "2/hour"}
_PEERS = [
    Row("slowapi", "peer: FastAPI + slowapi + httpx, memory", "fastapi_slowapi:app", kind="peer"),
    Row(
        "slowapi-redis",
        "peer: FastAPI + slowapi + httpx, Redis",
        "fastapi_slowapi:app",
        env=_PEER_REDIS,
        kind="peer",
        redis=True,
    ),
    Row(
        "litestar", "peer: Litestar RateLimitConfig + httpx", "litestar_ratelimit:app", kind="peer"
    ),
    Row(
        "slowapi-429",
        "peer refusing: slowapi, memory, 2/hour used up -> 429",
        "fastapi_slowapi:app",
        expect=429,
        env=_PEER_429,
        kind="peer",
        prime=2,
    ),
    Row(
        "slowapi-redis-429",
        "peer refusing: slowapi, Redis, 2/hour used up -> 429",
        "fastapi_slowapi:app",
        expect=429,
        env={**_PEER_429, **_PEER_REDIS},
        kind="peer",
        redis=True,
        prime=2,
    ),
    Row(
        "litestar-429",
        "peer refusing: Litestar, 2/hour used up -> 429",
        "litestar_ratelimit:app",
        expect=429,
        env=_PEER_429,
        kind="peer",
        prime=2,
    ),
]
_FEATURES = [
    Row(
        "c-otel",
        "kit minting as (c), telemetry on (OTel SDK, in-memory exporters)",
        "kit:app",
        env={"KIT_TELEMETRY": "1"},
        kind="kit",
        feature="telemetry",
    ),
    Row(
        "relay",
        "kit sealed: mint a handle, then the relay call (pairs)",
        "kit:app",
        env={"KIT_SEALED": "1"},
        kind="kit",
        feature="sealed",
        wrk_env={"WRK_RELAY_PATH": RELAY_PATH, "WRK_RELAY_BODY": json.dumps(common.CALLS_BODY)},
    ),
]
ROWS = [*_BASE, *_GRANIAN, *_PEERS, *_FEATURES]
ROW_KEYS = [r.key for r in ROWS]
# Phases that are not table rows (their own tables), selectable with --only like rows.
PHASES = ["latency", "memory"]
GROUPS = {
    "d": ["d-401", "d-429", "d-429-redis"],
    "redis": ["c-redis", "d-429-redis", "slowapi-redis", "slowapi-redis-429"],
    "granian": [r.key for r in _GRANIAN],
    "peers": [r.key for r in _PEERS],
    "features": [r.key for r in _FEATURES],
    "rows": ROW_KEYS,
}

_PROBE = """
import dataclasses, importlib.util, json, sys
out = {"kit": False, "telemetry": False, "sealed": False, "otel_sdk": False}
try:
    import orga_asgi
    out["kit"] = hasattr(orga_asgi, "OrgaClientSecrets")
    out["path"] = orga_asgi.__file__.rsplit("/orga_asgi/", 1)[0]
    fields = {f.name for f in dataclasses.fields(orga_asgi.EndpointConfig)}
    out["sealed"] = "sealed" in fields
    out["telemetry"] = importlib.util.find_spec("orga_asgi.contrib.otel") is not None
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
try:
    out["otel_sdk"] = importlib.util.find_spec("opentelemetry.sdk") is not None
except Exception:
    pass
print(json.dumps(out))
"""


def features() -> dict[str, object]:
    """What the installed kit has, probed in a fresh interpreter of the bench venv."""
    # cwd: not the repository root, whose orga_asgi/ would shadow a PYTHONPATH-given kit.
    p = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parent,
    )
    try:
        return dict(json.loads(p.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"kit": False, "error": (p.stderr or p.stdout)[-300:]}


def unavailable(row: Row, have: Mapping[str, object]) -> str | None:
    """Why the row cannot run with this kit (None: it can)."""
    if row.kind == "kit" and not have.get("kit"):
        return f"orga_asgi.OrgaClientSecrets not importable ({have.get('error', 'missing')})"
    if row.feature == "telemetry":
        if not have.get("telemetry"):
            return "n/a (feature not present: no orga_asgi.contrib.otel)"
        if not have.get("otel_sdk"):
            return "n/a (opentelemetry-sdk not installed in the bench venv)"
    if row.feature == "sealed" and not have.get("sealed"):
        return "n/a (feature not present: no EndpointConfig.sealed)"
    return None


def expand(only: str) -> list[str]:
    """--only's comma list (rows, groups, phases) -> row keys and phases, in table order."""
    picked: set[str] = set()
    for k in (s.strip() for s in only.split(",") if s.strip()):
        if k in GROUPS:
            picked.update(GROUPS[k])
        elif k in ROW_KEYS or k in PHASES:
            picked.add(k)
        else:
            known = ", ".join([*ROW_KEYS, *PHASES, *GROUPS])
            raise ValueError(f"unknown row {k!r} (known: {known})")
    return [k for k in [*ROW_KEYS, *PHASES] if k in picked]
