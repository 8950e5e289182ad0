"""Where the Orga API key comes from: the key-provider seam and the providers.

The endpoint asks its provider for the key of every mint, passing the principal the route
authorized (or the one given to :meth:`~orga_asgi.OrgaClientSecrets.issue`), so a provider
may rotate keys or pick one per tenant. ``api_key=`` accepts:

- a string or a :class:`~orga_asgi.Secret` (wrapped in :class:`StaticKey`, the default);
- a provider: :func:`from_env`, :func:`from_file` (Kubernetes secret volumes, the Vault
  agent), :func:`cached` (AWS Secrets Manager, Vault, GCP Secret Manager), or your own
  :class:`KeyProvider`;
- a callable ``(Principal | None) -> str | Awaitable[str]`` that picks the key per
  principal (:data:`KeyPicker`; :func:`per_principal` wraps one explicitly).

Every key a provider returns is checked as a constructor key is (:func:`validate_key`).
A provider that raises, or returns something that is not a valid key, makes that request
fail with 503 ``api_key_unavailable`` and one ERROR log line that never shows the key.
When Orga answers 401/403 the endpoint calls :meth:`KeyProvider.invalidate`, resolves the
key again, and if it changed, retries the mint once with the new key: a rotation needs no
restart. Logs and errors name a key only by its :func:`fingerprint`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from ._keys.base import KeyProvider, StaticKey
from ._keys.cached import CachedKey, Fetch
from ._keys.check import API_KEY_PREFIX, fingerprint, validate_key
from ._keys.env import DEFAULT_NAMES, EnvKey
from ._keys.file import FileKey
from ._keys.picked import KeyPicker, PickedKey

__all__ = [
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
]


def from_env(*names: str, environ: Mapping[str, str] = os.environ) -> KeyProvider:
    """The key in the first of ``names`` that is set (and not empty).

    Args:
        *names: environment variables to try, in order; default ``ORGA_API_KEY``, then
            ``ORGAAI_API_KEY`` (the spelling of the vendor's own examples).
        environ: where to read; ``os.environ`` by default.

    Raises:
        ConfigurationError: none is set, or the first set one is not a valid key (the
            message names the variable, never its value).
    """
    return EnvKey(names or DEFAULT_NAMES, environ)


def from_file(
    path: str | os.PathLike[str],
    refresh: float = 30.0,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> KeyProvider:
    """The key in the file ``path``, re-read when the file changes.

    Follows symlink swaps, which is how Kubernetes secret volumes and the Vault agent
    update a file: a change is noticed by the identity ``(st_dev, st_ino, st_mtime_ns,
    st_size)`` of the file the path resolves to, checked at most every ``refresh``
    seconds, off the event loop. After Orga rejects the key the file is read again at
    once. One trailing newline is dropped; anything else is checked as a key. A file that
    cannot be read, or holds a bad key, leaves the last good key in use (one WARNING).

    A Kubernetes secret mounted with ``subPath`` never updates (the kubelet does not
    touch such mounts): mount the whole volume and point ``path`` into it.

    Args:
        path: the key file, e.g. ``/var/run/secrets/orga/api-key``.
        refresh: seconds between checks of the file; ``0`` checks at every mint.
        clock: monotonic seconds; inject one in tests.

    Raises:
        ConfigurationError: the file cannot be read now, or does not hold a valid key.
    """
    return FileKey(path, refresh, clock)


def cached(
    fetch: Fetch,
    ttl: float = 300.0,
    *,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> KeyProvider:
    """The key an async ``fetch()`` returns (from a secret manager), cached ``ttl`` seconds.

    The first mint waits for the first fetch. Afterwards a stale key is served while a
    background fetch replaces it, one fetch in flight at a time however many mints ask.
    A failing fetch (an exception, a timeout, a value that is not a key) leaves the last
    good key in use, with one WARNING per failure streak, and is retried after a backoff
    of 1, 2, 4 ... up to 60 seconds. After Orga rejects the key the next mint waits for a
    new fetch (at most one a second while the source keeps returning the rejected key).

    Args:
        fetch: an async callable without arguments returning the key (``str`` or
            :class:`~orga_asgi.Secret`): AWS Secrets Manager, Vault, GCP Secret Manager.
            Only the type of what it raises is logged.
        ttl: seconds a fetched key is fresh.
        timeout: seconds one fetch may take before it counts as failed.
        clock: monotonic seconds; inject one in tests.

    Raises:
        ConfigurationError: ``fetch`` is not callable, or ``ttl``/``timeout`` not positive.
    """
    return CachedKey(fetch, ttl, timeout, clock)


def per_principal(pick: KeyPicker) -> KeyProvider:
    """A provider asking ``pick(principal)`` for the key of every mint (one key per tenant).

    Passing the callable itself as ``api_key=`` does the same. ``pick`` gets the principal
    the route authorized, or the one passed to ``issue()`` (``None`` without one); it may
    be sync (it must not block) or async, and returns a ``str`` or a
    :class:`~orga_asgi.Secret`. It is asked again after Orga rejects a key, so returning a
    new key then is a rotation.

    Raises:
        ConfigurationError: ``pick`` is not callable.
    """
    return PickedKey(pick)
