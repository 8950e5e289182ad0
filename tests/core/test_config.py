"""Configuration is validated at construction, with a fix hint, never echoing the key."""

from __future__ import annotations

import dataclasses
import inspect
import logging

import pytest

from orga_asgi import (
    ConfigurationError,
    EndpointConfig,
    OrgaClientSecrets,
    OrgaError,
    Secret,
    allow_anonymous,
)
from orga_asgi.observe import Observer
from orga_asgi.testing import FakeOrga
from tests._support import make_endpoint

KEY = "sk_orga_ai_configtest"


def test_authorize_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_API_KEY", "sk_orga_ai_envkey")
    with pytest.raises(ConfigurationError, match="allow_anonymous"):
        OrgaClientSecrets()


def test_missing_key_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORGA_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="ORGA_API_KEY"):
        OrgaClientSecrets(authorize=allow_anonymous)


@pytest.mark.parametrize(
    "key", ["sk_live_abc123", "orga_sk_orga_ai_x", "sk_orga_AI_secret9", "sk_orga_ai_a b"]
)
def test_wrong_key_is_refused_without_echo(key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        OrgaClientSecrets(authorize=allow_anonymous, api_key=key)
    assert key not in str(info.value)
    assert isinstance(info.value, OrgaError)


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_API_KEY", "sk_orga_ai_envkey")
    monkeypatch.setenv("ORGA_BASE_URL", "https://orga.example.test/")
    endpoint = OrgaClientSecrets(authorize=allow_anonymous)
    assert endpoint.config.base_url == "https://orga.example.test"
    assert endpoint.config.api_key.reveal() == "sk_orga_ai_envkey"


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORGA_BASE_URL", raising=False)
    endpoint = OrgaClientSecrets(authorize=allow_anonymous, api_key="sk_orga_ai_x")
    assert endpoint.config.base_url == "https://api.orga-ai.com"


@pytest.mark.parametrize(
    "base_url", ["ftp://x", "api.orga-ai.com", "https://user:pw@orga.test", "https://o.test/?a=1"]
)
def test_bad_base_url(base_url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        OrgaClientSecrets(authorize=allow_anonymous, api_key="sk_orga_ai_x", base_url=base_url)


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"deadline": 0},
        {"retries": 9},
        {"max_body_size": 0},
        {"authorize": "not callable"},
        {"no_such_setting": 1},
        {"hsts": "max-age=1\r\nX-Evil: 1"},
    ],
)
def test_bad_settings_raise_configuration_error(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        make_endpoint(FakeOrga(), **options)


def test_config_is_immutable() -> None:
    endpoint = make_endpoint(FakeOrga())
    with pytest.raises(AttributeError):
        endpoint.config.timeout = 1  # type: ignore[misc]


def test_bare_prefix_is_not_a_key() -> None:
    with pytest.raises(ConfigurationError, match="does not look like one"):
        OrgaClientSecrets(authorize=allow_anonymous, api_key="sk_orga_ai_")


def test_storage_password_never_shows(fake_orga: FakeOrga) -> None:
    uri = "redis://:hunter2-storage-pw@127.0.0.1:6379/0"
    endpoint = make_endpoint(fake_orga, storage_uri=uri)
    assert endpoint.config.storage_uri == uri
    for text in (repr(endpoint), str(endpoint), repr(endpoint.config)):
        assert "hunter2-storage-pw" not in text


# --- One typed configuration (issue 12) ---------------------------------------------------


def _init_fields() -> list[dataclasses.Field[object]]:
    return [f for f in dataclasses.fields(EndpointConfig) if f.init]


def test_constructor_keywords_are_exactly_the_config_fields() -> None:
    # Names, order, defaults and annotations: the two spellings of the settings cannot drift.
    params = inspect.signature(OrgaClientSecrets.__init__).parameters
    keywords = [p for name, p in params.items() if name not in ("self", "config")]
    specs = _init_fields()
    assert [p.name for p in keywords] == [f.name for f in specs]
    for param, spec in zip(keywords, specs, strict=True):
        assert param.kind is inspect.Parameter.KEYWORD_ONLY, spec.name
        assert param.default == spec.default, spec.name
        assert param.annotation == spec.type, spec.name
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_every_field_has_a_docstring_in_the_settings_table() -> None:
    table = EndpointConfig.settings_table()
    lines = table.splitlines()
    assert lines[0].startswith("| Setting | Environment | Type | Default | Description |")
    rows = {line.split("|")[1].strip().strip("`"): line for line in lines[2:]}
    assert list(rows) == [f.name for f in _init_fields()]
    for name, line in rows.items():
        description = line.rsplit("|", 2)[-2].strip()
        assert len(description) > 20, name
    assert "`ORGA_RATE_LIMITS`" in rows["rate_limits"]
    assert "code only" in rows["authorize"] and "code only" in rows["http_client"]


@pytest.mark.parametrize(
    ("wrong", "suggested"),
    [
        ("rate_limit", "rate_limits"),
        ("storage_url", "storage_uri"),
        ("allowed_origin", "allowed_origins"),
    ],
)
def test_an_unknown_keyword_gets_a_did_you_mean(wrong: str, suggested: str) -> None:
    for build in (
        lambda: OrgaClientSecrets(authorize=allow_anonymous, api_key=KEY, **{wrong: 1}),
        lambda: EndpointConfig(authorize=allow_anonymous, api_key=KEY, **{wrong: 1}),
        lambda: EndpointConfig.from_env({}, authorize=allow_anonymous, api_key=KEY, **{wrong: 1}),
    ):
        with pytest.raises(ConfigurationError, match=f"did you mean '{suggested}'"):
            build()


def test_a_whole_config_can_be_passed() -> None:
    config = EndpointConfig(authorize=allow_anonymous, api_key=KEY, rate_limits="3/minute")
    endpoint = OrgaClientSecrets(config=config)
    assert endpoint.config is config
    assert config.rate_limits == ("3/minute",)


def test_keywords_beside_a_config_are_an_error_not_silently_lost() -> None:
    config = EndpointConfig(authorize=allow_anonymous, api_key=KEY)
    with pytest.raises(ConfigurationError, match=r"config= and also rate_limits, timeout"):
        OrgaClientSecrets(config=config, timeout=3.0, rate_limits=None)
    with pytest.raises(ConfigurationError, match="EndpointConfig"):
        OrgaClientSecrets(config={"authorize": allow_anonymous})  # type: ignore[arg-type]


def test_validation_is_the_configs_own() -> None:
    # No endpoint needed: an invalid EndpointConfig cannot exist.
    with pytest.raises(ConfigurationError, match="timeout"):
        EndpointConfig(authorize=allow_anonymous, api_key=KEY, timeout=0)
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        EndpointConfig(authorize=allow_anonymous, api_key=KEY, trusted_proxies=["nope"])
    config = EndpointConfig(authorize=allow_anonymous, api_key=KEY)
    assert dataclasses.replace(config, timeout=3.0).timeout == 3.0  # normalising is idempotent


def test_a_single_trusted_proxy_string_is_one_entry() -> None:
    # 0.1.0 split it into characters: "entry '1' is not an IP address".
    endpoint = make_endpoint(FakeOrga(), trusted_proxies="10.0.0.0/8")
    assert endpoint.config.trusted_proxies == ("10.0.0.0/8",)
    assert endpoint.config.proxies.trusts("10.1.2.3")


@pytest.mark.parametrize("key", [" sk_orga_ai_abc", "sk_orga_ai_abc\n", "\tsk_orga_ai_abc "])
def test_a_padded_key_is_told_so(key: str) -> None:
    with pytest.raises(ConfigurationError, match="leading or trailing white space") as info:
        OrgaClientSecrets(authorize=allow_anonymous, api_key=key)
    assert "sk_orga_ai_abc" not in str(info.value)


@pytest.mark.parametrize(
    "options",
    [
        {"ipv6_prefix_length": 0},
        {"ipv6_prefix_length": 129},
        {"ipv6_prefix_length": True},
        {"require_https": "false"},  # a string would be truthy: refused, not guessed
        {"max_in_flight_per_principal": 0},
        {"timeout": float("inf")},
        {"observers": [object()]},
        {"audit_key": ""},
        {"extra_headers": [(b"x-evil", b"a\r\nb")]},
        {"http_client": "client"},
        {"strategy": "fixed-window"},
    ],
)
def test_more_bad_settings(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        EndpointConfig(authorize=allow_anonymous, api_key=KEY, **options)  # type: ignore[arg-type]


def test_an_async_observer_is_refused_at_construction() -> None:
    class Slow(Observer):
        async def on_request(self, event: object) -> None:  # type: ignore[override]
            pass

    with pytest.raises(ConfigurationError, match="async"):
        EndpointConfig(authorize=allow_anonymous, api_key=KEY, observers=[Slow()])


# --- EndpointConfig.from_env ---------------------------------------------------------------

# One text value per field that the environment can set, and what it becomes. A new field
# without a row here fails test_from_env_reads_every_setting.
SAMPLES: dict[str, tuple[str, object]] = {
    "api_key": ("sk_orga_ai_fromenv", "sk_orga_ai_fromenv"),
    "base_url": ("https://orga.example.test/", "https://orga.example.test"),
    "timeout": ("3.5", 3.5),
    "deadline": ("7", 7.0),
    "retries": ("0", 0),
    "require_https": ("false", False),
    "allow_insecure_loopback": ("1", True),
    "trusted_proxies": ("10.0.0.0/8, 192.0.2.1", ("10.0.0.0/8", "192.0.2.1")),
    "hsts": ("none", None),
    "allowed_origins": (
        "https://a.example,https://b.example",
        ("https://a.example", "https://b.example"),
    ),
    "max_body_size": ("1024", 1024),
    "rate_limits": ("5/minute, 100/day", ("5/minute", "100/day")),
    "ip_rate_limits": ("", None),
    "ipv6_prefix_length": ("56", 56),
    "storage_uri": ("memory://", "memory://"),
    "strategy": ("sliding-window-counter", "sliding-window-counter"),
    "on_storage_error": ("deny", "deny"),
    "max_in_flight_per_principal": ("None", None),
    "max_upstream_concurrency": ("8", 8),
    "upstream_queue_timeout": ("0.5", 0.5),
    "audit_log": ("0", False),
    "audit_key": ("audit-secret", "audit-secret"),
    "audit_principal": ("plain", "plain"),
    "sealed": ("true", True),
    "sandbox": ("0", False),
    "relay_prefix": ("/rtc", "/rtc"),
    "relay_max_body_size": ("32768", 32768),
}
CODE_ONLY = {
    "authorize", "http_client", "observers", "extra_headers", "on_audit", "session_policy",
}  # fmt: skip


def test_from_env_reads_every_setting() -> None:
    names = {f.name for f in _init_fields()}
    assert set(SAMPLES) | CODE_ONLY == names
    environ = {"ORGA_" + name.upper(): text for name, (text, _) in SAMPLES.items()}
    config = EndpointConfig.from_env(environ, authorize=allow_anonymous)
    for name, (_, expected) in SAMPLES.items():
        value = getattr(config, name)
        shown = value.reveal() if isinstance(value, Secret) else value
        assert shown == expected, name


def test_from_env_prefix_overrides_and_defaults() -> None:
    environ = {"APP_TIMEOUT": "4", "APP_RATE_LIMITS": "1/minute", "ORGA_TIMEOUT": "9"}
    config = EndpointConfig.from_env(
        environ, prefix="APP_", authorize=allow_anonymous, api_key=KEY, rate_limits=None
    )
    assert (config.timeout, config.rate_limits, config.deadline) == (4.0, None, 15.0)


@pytest.mark.parametrize(
    ("var", "text", "message"),
    [
        ("ORGA_REQUIRE_HTTPS", "yes please", "ORGA_REQUIRE_HTTPS must be 1, 0, true or false"),
        ("ORGA_TIMEOUT", "soon", "ORGA_TIMEOUT must be a number"),
        ("ORGA_RETRIES", "2.5", "ORGA_RETRIES must be a number"),
        ("ORGA_IPV6_PREFIX_LENGTH", "200", "ipv6_prefix_length"),
    ],
)
def test_from_env_refuses_what_it_cannot_parse(var: str, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EndpointConfig.from_env({var: text}, authorize=allow_anonymous, api_key=KEY)


def test_from_env_warns_about_unknown_and_code_only_variables(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {"ORGA_RATE_LIMIT": "1/minute", "ORGA_AUTHORIZE": "app:hook", "OTHER": "x"}
    with caplog.at_level(logging.WARNING, logger="orga_asgi"):
        config = EndpointConfig.from_env(environ, authorize=allow_anonymous, api_key=KEY)
    assert config.rate_limits == ("10/minute", "200/day")
    assert "ORGA_RATE_LIMIT is not a setting" in caplog.text
    assert "did you mean ORGA_RATE_LIMITS" in caplog.text
    assert "ORGA_AUTHORIZE is ignored: authorize can only be set in code" in caplog.text
    assert "app:hook" not in caplog.text and "OTHER" not in caplog.text


def test_from_env_takes_objects_as_they_are() -> None:
    # A mapping like Quart's app.config holds objects, code-only settings included.
    environ = {"ORGA_AUTHORIZE": allow_anonymous, "ORGA_TIMEOUT": 3, "ORGA_API_KEY": KEY}
    config = EndpointConfig.from_env(environ)
    assert config.authorize is allow_anonymous and config.timeout == 3


def test_from_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORGA_API_KEY", KEY)
    monkeypatch.setenv("ORGA_MAX_BODY_SIZE", "2048")
    config = EndpointConfig.from_env(authorize=allow_anonymous)
    assert config.max_body_size == 2048
    assert config.api_key.reveal() == KEY  # type: ignore[union-attr]
