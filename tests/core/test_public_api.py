"""The public surface is exactly what we mean to support."""

from __future__ import annotations

import orga_asgi
import orga_asgi._error_table
import orga_asgi.auth
import orga_asgi.logging
import orga_asgi.redaction
import orga_asgi.schema
import orga_asgi.testing

EXPECTED = {
    "DEFAULT_PATH",
    "ApiKeyUnavailable",
    "AuditEvent",
    "AuthorizeHook",
    "Busy",
    "ClientSecrets",
    "ConfigurationError",
    "CrossOriginForbidden",
    "EndpointConfig",
    "Forbidden",
    "HTTPSRequired",
    "InternalError",
    "InvalidRequestBody",
    "InvalidSessionHandle",
    "MethodNotAllowed",
    "OneOf",
    "OrgaClientSecrets",
    "OrgaError",
    "OrgaMiddleware",
    "PayloadTooLarge",
    "Pinned",
    "Principal",
    "Range",
    "RateLimited",
    "RateLimiterUnavailable",
    "RequestError",
    "Secret",
    "SessionParamsRefused",
    "SessionPolicy",
    "SessionStoreUnavailable",
    "TooManyInFlight",
    "Unauthorized",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamInvalidResponse",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "__version__",
    "allow_anonymous",
    "error_response",
    "keys",
    "observe",
}
OBSERVE = {
    "AuditEvent",
    "AuditLog",
    "HandlesExpired",
    "Observer",
    "TokenIssued",
    "UpstreamAttempt",
    "logfmt",
    "parse_logfmt",
    "token_fingerprint",
}
LOGGING = {
    "FORMAT",
    "JsonFormatter",
    "RedactingFilter",
    "RequestIdFilter",
    "config_path",
    "configure",
    "current_request_id",
    "dict_config",
    "structlog_request_id",
}
KEYS = {
    "API_KEY_PREFIX",
    "KeyPicker",
    "KeyProvider",
    "StaticKey",
    "cached",
    "fingerprint",
    "from_env",
    "from_file",
    "per_principal",
    "validate_key",
}


def test_all_is_the_contract() -> None:
    assert set(orga_asgi.__all__) == EXPECTED
    for name in orga_asgi.__all__:
        assert getattr(orga_asgi, name) is not None


def test_public_names_are_not_private_modules() -> None:
    assert not any(name.startswith("_") and name != "__version__" for name in orga_asgi.__all__)
    assert all(not n.startswith("_") for n in orga_asgi.auth.__all__)


def test_the_seams_are_public_modules() -> None:
    assert set(orga_asgi.observe.__all__) == OBSERVE
    assert set(orga_asgi.keys.__all__) == KEYS
    # Imported by its full name only: in the star import it would shadow the stdlib's logging.
    assert set(orga_asgi.logging.__all__) == LOGGING
    assert "logging" not in orga_asgi.__all__
    assert orga_asgi.AuditEvent is orga_asgi.observe.AuditEvent
    for module in (orga_asgi.observe, orga_asgi.keys):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_one_version_source() -> None:
    from importlib.metadata import version

    assert version("orga-asgi") == orga_asgi.__version__


def test_every_error_is_an_orga_error() -> None:
    for name in orga_asgi.__all__:
        obj = getattr(orga_asgi, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, orga_asgi.OrgaError), name


def test_submodules_export_what_they_document() -> None:
    assert {"bearer", "cookie", "scope_user", "jwt", "any_of", "Forbidden"} <= set(
        orga_asgi.auth.__all__
    )
    assert {
        "FakeOrga",
        "FAKE_API_KEY",
        "FAKE_BASE_URL",
        "recording_secrets",
        "sandbox_client",
    } <= set(orga_asgi.testing.__all__)
    assert {"RedactingFilter", "install", "structlog_processor"} <= set(orga_asgi.redaction.__all__)
    assert set(orga_asgi.schema.__all__) == {
        "ERRORS",
        "ClientSecretsBody",
        "ErrorBody",
        "IceServer",
    }


def test_the_error_descriptions_name_codes_of_the_table() -> None:
    codes = {row.code for row in orga_asgi._error_table.rows().values()}
    for text in orga_asgi.schema.ERRORS.values():
        for code in text.split("`")[1::2]:
            assert code in codes or code in {"max_body_size", "Retry-After"}, code


def test_py_typed_is_shipped() -> None:
    from importlib.resources import files

    assert files("orga_asgi").joinpath("py.typed").is_file()
