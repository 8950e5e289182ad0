"""``orga-asgi dev`` and ``orga-asgi serve``: in-process (apps, parser, errors) and one real
``dev`` process. The real ``serve`` processes are in ``test_cli_serve.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import orga_asgi
from orga_asgi.cli import _parser, build_dev_app, build_serve_app, main
from tests._support import caller, free_port, require_module

pytestmark = pytest.mark.anyio
ROUTE = "/api/orga-client-secrets"
KEY = "sk_orga_ai_clitest"
HOOK = "orga_asgi:allow_anonymous"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The command reads every ORGA_* variable: a developer's own must not leak in.
    for name in list(os.environ):
        if name.startswith("ORGA_"):
            monkeypatch.delenv(name)


def serve(*argv: str) -> object:
    return build_serve_app(_parser().parse_args(["serve", "--authorize", HOOK, *argv]))


def refused(*argv: str) -> int:
    """``main(argv)`` expected to refuse before serving. Should it serve after all, binding a
    documentation address (never local) makes uvicorn exit at once instead of blocking."""
    try:
        return main([*argv, "--host", "192.0.2.1"])
    except SystemExit as exc:
        pytest.fail(f"orga-asgi tried to serve: {exc}")


async def test_dev_app_mints_for_loopback_callers_only() -> None:
    app = build_dev_app()
    local = caller(
        app, scheme="http", client=("127.0.0.1", 5000), headers={"host": "127.0.0.1:8000"}
    )
    async with local:
        ok = await local.get(ROUTE)
        index = await local.get("/")
    async with caller(app, scheme="http") as remote:
        refused = await remote.get(ROUTE)
    assert ok.status_code == 200
    assert ok.json()["ephemeralToken"].count(".") == 2
    assert index.json() == {"sandbox": True, "endpoint": ROUTE}
    assert refused.json()["error"] == "https_required"


@pytest.mark.parametrize("host", ["evil.example:8000", "testserver", "localhost.evil.example"])
async def test_dev_app_refuses_a_rebound_host_from_loopback(host: str) -> None:
    # DNS rebinding: the attacker's name now points at 127.0.0.1; its Host stays its own.
    app = build_dev_app()
    local = caller(app, scheme="http", client=("127.0.0.1", 5000), headers={"host": host})
    async with local:
        refused = await local.get(ROUTE)
    assert refused.status_code in (401, 403)
    assert "ephemeralToken" not in refused.text


async def test_dev_app_refuses_anonymous_remote_callers_even_over_https() -> None:
    async with caller(build_dev_app()) as remote:
        assert (await remote.get(ROUTE)).status_code == 401


def test_dev_command_serves_a_working_endpoint_and_prints_the_audit_line() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orga_asgi.cli", "dev", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}{ROUTE}", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        rebound = httpx.get(
            f"http://127.0.0.1:{port}{ROUTE}", headers={"host": f"evil.example:{port}"}, timeout=5
        )
        forwarded = httpx.get(
            f"http://127.0.0.1:{port}{ROUTE}",
            headers={"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"},
            timeout=5,
        )
        assert response.status_code == 200
        assert response.json()["iceServers"]
        assert rebound.status_code in (401, 403)
        assert forwarded.status_code == 403  # a local proxy relaying someone: not loopback
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode()
    assert "SANDBOX" in output
    assert "Traceback" not in output
    assert "orga_asgi.audit" in output
    assert "status=200" in output


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"orga-asgi {orga_asgi.__version__}"


def _subparsers() -> dict[str, object]:
    parser = _parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(action.choices)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["dev", "serve"])
def test_every_option_has_help_with_its_default(command: str) -> None:
    sub = _subparsers()[command]
    for action in sub._actions:  # type: ignore[attr-defined]
        if action.dest == "help":
            continue
        text = (action.help or "") % {"default": action.default}
        assert "default" in text or "required" in text, action.option_strings
    rendered = sub.format_help()  # type: ignore[attr-defined]
    assert "``" not in rendered
    assert ":class:" not in rendered
    assert ":func:" not in rendered
    assert "`" not in rendered


def test_serve_help_lists_settings_and_their_variables() -> None:
    rendered = _subparsers()["serve"].format_help()  # type: ignore[attr-defined]
    flags = ["--trusted-proxy", "--allowed-origin", "--storage-uri", "--rate-limit"]
    flags += ["--ip-rate-limit", "--api-key", "--workers", "--log-level", "--authorize"]
    for flag in flags:
        assert flag in rendered
    assert "ORGA_TRUSTED_PROXIES" in rendered
    assert "ORGA_API_KEY" in rendered


def test_log_level_choices() -> None:
    args = _parser().parse_args(["dev", "--log-level", "debug"])
    assert args.log_level == "debug"
    with pytest.raises(SystemExit):
        _parser().parse_args(["dev", "--log-level", "loud"])


def test_serve_without_a_key_speaks_of_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert refused("serve", "--authorize", HOOK) == 2
    err = capsys.readouterr().err
    assert "--api-key" in err
    assert "ORGA_API_KEY" in err
    assert "api_key=" not in err
    assert "OrgaClientSecrets" not in err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--trusted-proxy", "localhost"], "--trusted-proxy"),
        (["--allowed-origin", "*"], "--allowed-origin"),
        (["--base-url", "ftp://x"], "--base-url"),
        (["--timeout", "-1"], "--timeout"),
        (["--timeout", "soon"], "--timeout / ORGA_TIMEOUT must be a number"),
        (["--max-body-size", "1k"], "--max-body-size / ORGA_MAX_BODY_SIZE"),
        (["--path", "api"], "--path must be an absolute route path"),
    ],
)
def test_configuration_errors_name_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    assert refused("serve", "--authorize", HOOK, *argv) == 2
    err = capsys.readouterr().err
    assert flag in err
    assert KEY not in err


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ("nocolon", "MODULE:HOOK"),
        ("no_such_module_x:f", "no module named 'no_such_module_x'"),
        ("orga_asgi:no_such_hook", "has no 'no_such_hook'"),
        ("orga_asgi:DEFAULT_PATH", "is a str, not a hook"),
        ("os:getcwd", "a hook takes one argument"),
        ("orga_asgi.auth:bearer", "hook factory"),
        ("orga_asgi.auth:cookie", "hook factory"),
        ("orga_asgi.auth:scope_user", "hook factory"),
        ("orga_asgi.auth:any_of", "hook factory"),
        ("orga_asgi.auth:jwt", "--authorize jwt --jwks-url"),
    ],
)
def test_serve_with_a_bad_hook_exits_2(
    spec: str, hint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    assert refused("serve", "--authorize", spec) == 2
    err = capsys.readouterr().err
    assert "--authorize" in err
    assert hint in err
    assert KEY not in err


def test_a_factory_in_a_users_module_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cli_user_hooks.py").write_text(
        "from orga_asgi import AuthorizeHook, allow_anonymous\n"
        "def make(verify) -> AuthorizeHook:\n    return allow_anonymous\n"
        "def hook(request):\n    return allow_anonymous(request)\n"
        "raising = None\n"
    )
    (tmp_path / "cli_user_broken.py").write_text(
        "raise ValueError('cannot start: sk_orga_ai_leakedleakedleaked is wrong')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert refused("serve", "--authorize", "cli_user_hooks:make") == 2
    assert "hook factory" in capsys.readouterr().err
    app = serve()  # the current directory became importable for the first one
    assert app is not None
    assert (
        build_serve_app(
            _parser().parse_args(["serve", "--authorize", "cli_user_hooks:hook"])
        ).endpoint.config.authorize.__name__
        == "hook"
    )
    assert refused("serve", "--authorize", "cli_user_broken:x") == 2
    err = capsys.readouterr().err
    assert "ValueError" in err
    assert "sk_orga_ai_leaked" not in err


def test_jwt_needs_its_three_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    assert refused("serve", "--authorize", "jwt", "--jwks-url", "https://idp.example/jwks") == 2
    assert "--audience, --issuer" in capsys.readouterr().err
    assert refused("serve", "--authorize", HOOK, "--issuer", "https://idp.example") == 2
    assert "only go with --authorize jwt" in capsys.readouterr().err
    require_module("joserfc", "pip install 'orga-asgi[jwt]'")
    args = _parser().parse_args(
        ["serve", "--authorize", "jwt", "--jwks-url", "https://idp.example/jwks",
         "--audience", "orga", "--issuer", "https://idp.example"]
    )  # fmt: skip
    hook = build_serve_app(args).endpoint.config.authorize
    assert hook.verifier is not None


def test_workers_need_a_shared_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    assert refused("serve", "--authorize", HOOK, "--workers", "3") == 2
    err = capsys.readouterr().err
    assert "--storage-uri" in err
    assert "3 times every rate limit" in err
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--authorize", HOOK, "--workers", "0"])
    args = _parser().parse_args(
        ["serve", "--authorize", HOOK, "--workers", "2", "--storage-uri", "redis://127.0.0.1:1/0"]
    )
    assert build_serve_app(args).endpoint.config.storage_uri.startswith("redis://")


def test_serve_builds_the_sidecar_from_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    app = serve(
        "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "192.168.0.0/16,::1",
        "--path", "/api/orga-session", "--rate-limit", "5/minute", "--rate-limit", "50/day",
        "--ip-rate-limit", "none", "--no-audit-log", "--allowed-origin", "https://app.example",
    )  # fmt: skip
    config = app.endpoint.config  # type: ignore[attr-defined]
    assert app.path == "/api/orga-session"  # type: ignore[attr-defined]
    assert tuple(config.trusted_proxies) == ("10.0.0.0/8", "192.168.0.0/16", "::1")
    assert tuple(config.rate_limits) == ("5/minute", "50/day")
    assert config.ip_rate_limits is None
    assert config.audit_log is False
    assert KEY not in repr(app.endpoint)  # type: ignore[attr-defined]


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    monkeypatch.setenv("ORGA_RATE_LIMITS", "1/minute")
    monkeypatch.setenv("ORGA_TRUSTED_PROXIES", "10.0.0.1")
    config = serve("--rate-limit", "7/minute").endpoint.config  # type: ignore[attr-defined]
    assert tuple(config.rate_limits) == ("7/minute",)
    assert tuple(config.trusted_proxies) == ("10.0.0.1",)
    config = serve("--api-key", "sk_orga_ai_fromflag").endpoint.config  # type: ignore[attr-defined]
    assert config.api_key.reveal() == "sk_orga_ai_fromflag"
