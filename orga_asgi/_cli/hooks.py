"""``--authorize``: a hook named ``module:attribute``, or ``jwt`` with its three flags.

The current directory is importable (console scripts put their own ``bin`` first, not it),
and a target that makes hooks rather than being one (``orga_asgi.auth:bearer``) is refused
with the line to write instead, before the server starts.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from typing import TYPE_CHECKING, Any

from orga_asgi._errors import ConfigurationError

if TYPE_CHECKING:
    from orga_asgi._principal import AuthorizeHook

__all__ = ["authorize_hook", "load_hook"]

_FACTORY_MODULES = ("orga_asgi.auth", "orga_asgi._jwt")


def _importable_cwd() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _is_factory(target: Any) -> bool:
    """Whether ``target`` makes hooks rather than being one."""
    module = getattr(target, "__module__", "") or ""
    if inspect.isfunction(target) and module.startswith("orga_asgi."):
        # The library's hooks are closures its factories return; its module-level
        # functions there are the factories themselves (allow_anonymous lives elsewhere).
        return module in _FACTORY_MODULES and "<locals>" not in target.__qualname__
    try:
        returns = inspect.signature(target).return_annotation
    except (TypeError, ValueError):
        return False
    if returns is inspect.Signature.empty:
        return False
    # `def make(verify) -> AuthorizeHook` (or any Callable) in a user's module: a hook
    # returns a Principal, None or an awaitable of one, never a function.
    text = returns if isinstance(returns, str) else repr(returns)
    return "Hook" in text or "Callable" in text


def load_hook(spec: str) -> AuthorizeHook:
    """The hook ``module:attribute`` names, checked to be one.

    Raises:
        ConfigurationError: the module or attribute is missing, the import failed, or the
            target is not a hook (a factory, a non-callable, a wrong signature).
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            "--authorize takes MODULE:HOOK (a hook in a module of yours, such as "
            f"myapp.auth:authorize), jwt or signed-header, not {spec!r}."
        )
    _importable_cwd()
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        where = "" if module_name.startswith(missing) else f" (imported by {module_name!r})"
        raise ConfigurationError(
            f"--authorize {spec!r}: no module named {missing!r}{where}; the current "
            "directory and PYTHONPATH are searched."
        ) from None
    except Exception as exc:
        from orga_asgi.redaction import redact

        raise ConfigurationError(
            f"--authorize {spec!r}: importing {module_name!r} raised {type(exc).__name__}: "
            f"{redact(str(exc))[:200]} (python -c 'import {module_name}' shows where)."
        ) from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigurationError(f"--authorize {spec!r}: {module_name!r} has no {attr!r}.")
        target = getattr(target, part)
    return _checked(target, spec)


def _checked(target: Any, spec: str) -> AuthorizeHook:
    if not callable(target):
        raise ConfigurationError(
            f"--authorize {spec!r} is a {type(target).__name__}, not a hook (a function "
            "taking the request and returning a Principal or None)."
        )
    if _is_factory(target):
        name = getattr(target, "__name__", "factory")
        also = " Or use --authorize jwt --jwks-url URL --audience AUD --issuer ISS." * (
            name == "jwt"
        )
        raise ConfigurationError(
            f"--authorize {spec!r} is a hook factory, not a hook: it builds one from your "
            f"own settings, such as {name}(verify). In a module of yours write "
            f"authorize = {name}(...) and pass --authorize yourmodule:authorize.{also}"
        )
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # no signature to read (a builtin): the first call tells
        return target  # type: ignore[no-any-return]
    try:
        signature.bind(object())
    except TypeError:
        raise ConfigurationError(
            f"--authorize {spec!r} takes {signature}: a hook takes one argument, the request."
        ) from None
    return target  # type: ignore[no-any-return]


def authorize_hook(args: argparse.Namespace) -> AuthorizeHook:
    """The hook ``--authorize`` (with ``--jwks-url``, ``--audience``, ``--issuer``) names."""
    jwt_flags = {"jwks_url": args.jwks_url, "audience": args.audience, "issuer": args.issuer}
    if args.authorize != "jwt":
        given = ["--" + name.replace("_", "-") for name, value in jwt_flags.items() if value]
        if given:
            raise ConfigurationError(f"{', '.join(given)} only go with --authorize jwt.")
        if args.authorize == "signed-header":
            return _signed_header_hook()
        return load_hook(args.authorize)
    missing = ["--" + name.replace("_", "-") for name, value in jwt_flags.items() if not value]
    if missing:
        raise ConfigurationError(
            f"--authorize jwt needs {', '.join(missing)}: without an audience and an issuer, "
            "a token your identity provider issued for any other app would be accepted."
        )
    from orga_asgi import auth

    try:
        return auth.jwt(**jwt_flags)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(str(exc)) from None


def _signed_header_hook() -> AuthorizeHook:
    secret = os.environ.get("ORGA_SIDECAR_SECRET", "")
    if not secret:
        raise ConfigurationError(
            "--authorize signed-header reads the shared secret from ORGA_SIDECAR_SECRET, "
            "which is not set; generate one with: python -c "
            "'import secrets; print(secrets.token_hex(32))'"
        )
    from orga_asgi import auth

    return auth.signed_header(secret)
