"""The one check of an Orga API key, the one way to name a key in a log, and the error a
provider raises when it has no key to give."""

from __future__ import annotations

from orga_asgi._errors import ApiKeyUnavailable, ConfigurationError
from orga_asgi._principal import Secret

__all__ = ["API_KEY_PREFIX", "KeyUnavailable", "fingerprint", "validate_key"]

API_KEY_PREFIX = "sk_orga_ai_"


class KeyUnavailable(ApiKeyUnavailable):
    """Raised by the kit's own providers: 503 ``api_key_unavailable``. Its message is
    written here, never by a caller or a secret manager, so the endpoint may log it."""


def validate_key(key: object, *, source: str = "ORGA_API_KEY") -> Secret:
    """Check that ``key`` looks like an Orga API key and return it wrapped.

    The one check of a key: the constructor's ``api_key``, ``ORGA_API_KEY`` and every key a
    provider returns all go through it.

    Args:
        key: a ``str`` or a :class:`~orga_asgi.Secret`.
        source: where the key came from, named in the messages (never the key itself).

    Raises:
        ConfigurationError: the key is missing, blank, padded with white space, lacks the
            ``sk_orga_ai_`` prefix or contains white space; the message never echoes it.
    """
    value = key.reveal() if isinstance(key, Secret) else key
    if not isinstance(value, str):
        raise ConfigurationError(
            f"The Orga API key must be a string, a Secret or a key provider, not "
            f"{type(value).__name__}."
        )
    if not value.strip():
        raise ConfigurationError(
            f"No Orga API key: set {source} (from the Orga dashboard, API Keys) or pass "
            "api_key=... to OrgaClientSecrets."
        )
    if value != value.strip():
        raise ConfigurationError(
            f"The Orga API key has leading or trailing white space (a stray space or newline "
            f"from copying it): strip it in {source}."
        )
    if not value.startswith(API_KEY_PREFIX) or len(value) == len(API_KEY_PREFIX):
        raise ConfigurationError(
            f"The Orga API key does not look like one: keys start with {API_KEY_PREFIX!r}. "
            f"Copy it again from the Orga dashboard (API Keys) into {source}."
        )
    if any(c.isspace() for c in value):
        raise ConfigurationError(
            f"The Orga API key contains white space; check {source} for a stray character."
        )
    return key if isinstance(key, Secret) else Secret(value)


def fingerprint(key: str | Secret) -> str:
    """Name ``key`` in a log line or an error without showing it: ``sk_orga_ai_…wxyz``.

    The prefix, an ellipsis and the last four characters, as the Orga dashboard lists keys;
    fewer for a key shorter than 16 characters after the prefix (a test key), so that a
    fingerprint never shows more than a quarter of one.

    Args:
        key: the key, as a ``str`` or a :class:`~orga_asgi.Secret`.
    """
    value = key.reveal() if isinstance(key, Secret) else key
    body = value.removeprefix(API_KEY_PREFIX)
    shown = min(4, len(body) // 4)
    return f"{API_KEY_PREFIX}…{body[len(body) - shown :]}"
