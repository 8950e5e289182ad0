"""Configuration is validated at construction, with a fix hint, never echoing the key."""

from __future__ import annotations

import pytest
from _support import make_endpoint

from orga_asgi import ConfigurationError, OrgaClientSecrets, OrgaError, allow_anonymous
from orga_asgi.testing import FakeOrga


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
