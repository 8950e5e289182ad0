"""Every text-expressible setting of :class:`~orga_asgi.EndpointConfig` as a flag.

The flags are generated from the dataclass and read the way :meth:`EndpointConfig.from_env`
reads ``ORGA_*`` variables: a flag is one more variable, winning over the environment. So
names, parsing and errors are the library's own. Messages that speak of keywords
(``api_key=...``) are translated to flags here, at the command-line boundary.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from orga_asgi._config import EndpointConfig
from orga_asgi._errors import ConfigurationError
from orga_asgi._settings import kind

__all__ = ["add_setting_flags", "cli_message", "flag_name", "given_settings"]

_PREFIX = "ORGA_"
# Repeatable flags read better singular; the plural (the setting's name) works too.
_SINGULAR = {
    "trusted_proxies": "--trusted-proxy",
    "allowed_origins": "--allowed-origin",
    "rate_limits": "--rate-limit",
    "ip_rate_limits": "--ip-rate-limit",
}
_HELP = {
    "api_key": "the Orga API key, sk_orga_ai_... (prefer the environment variable: a command "
    "line is visible to every user of the machine)",
    "base_url": "the Orga API origin",
    "sandbox": "serve fake tokens from an in-process fake Orga: no account, no API key, "
    "plain HTTP from this machine. Development and tests only",
    "trusted_proxies": "a reverse proxy (IP or CIDR) whose Forwarded / X-Forwarded-* headers "
    "are believed; repeat for several. The only source of trust: the server's own "
    "proxy-header handling is off",
    "storage_uri": "where limits are counted: memory:// (one process) or redis://, "
    "valkey://... (needed for --workers above 1; may carry a password: prefer the "
    "environment variable)",
    "audit_key": "key of the HMAC that fingerprints issued tokens in audit events (prefer "
    "the environment variable)",
    "allowed_origins": "an origin (scheme://host[:port]) allowed to call cross-site with "
    "credentials (CORS); repeat for several. Without any: same-origin only",
    "rate_limits": "a per-principal window such as 10/minute; repeat for several, all must "
    "pass; none turns them off",
    "ip_rate_limits": "a per-client-address window, checked before authorize; repeat for "
    "several; none turns them off",
}
_DEFAULT_SHOWN = {
    "api_key": "the environment variable",
    "base_url": "https://api.orga-ai.com",
    "sandbox": "off",
}
_METAVAR = {"int": "N", "float": "SECONDS", "str": "VALUE", "list": "ITEM"}
_ROLE = re.compile(r":[a-z]+:$")  # sees only our own docstrings, never caller text


def _settings() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(EndpointConfig) if f.init and kind(str(f.type))]


def flag_name(setting: str) -> str:
    """The flag of ``setting``: ``--trusted-proxy`` for ``trusted_proxies``, else dashed."""
    return _SINGULAR.get(setting) or "--" + setting.replace("_", "-")


def _plain(text: str) -> str:
    """A docstring sentence without reStructuredText or Markdown markup, for ``--help``."""
    out: list[str] = []
    for i, part in enumerate(text.split("`")):
        if i % 2 == 0:
            role = _ROLE.search(part)
            out.append(part[: role.start()] if role else part)
        else:
            out.append(part.lstrip("~").rsplit(".", 1)[-1] if part.startswith("~") else part)
    # In a shell one types none, not None.
    return "".join(out).replace("\\|", "|").replace("None", "none")


def _descriptions() -> dict[str, str]:
    """Each setting's description, from the library's own settings table."""
    found: dict[str, str] = {}
    for row in EndpointConfig.settings_table().splitlines()[2:]:
        cells = row.strip().strip("|").split(" | ")
        if len(cells) == 5:
            found[cells[0].strip().strip("`")] = _plain(cells[4].strip())
    return found


def _literal_choices(annotation: str) -> tuple[str, ...] | None:
    """``('a', 'b')`` from the annotation text ``Literal['a', 'b']``; else ``None``."""
    if not annotation.startswith("Literal[") or not annotation.endswith("]"):
        return None
    return tuple(part.strip().strip("'\"") for part in annotation[8:-1].split(","))


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting; its help shows the default and the environment variable."""
    described = _descriptions()
    group = parser.add_argument_group(
        "settings", "Each is also read from the environment variable named; a flag wins."
    )
    for spec in _settings():
        how = kind(str(spec.type))
        var = _PREFIX + spec.name.upper()
        text = _HELP.get(spec.name) or described.get(spec.name, spec.name).rstrip(".")
        default = None if spec.default is dataclasses.MISSING else spec.default
        shown = _DEFAULT_SHOWN.get(spec.name) or _shown(default)
        options: dict[str, Any] = {
            "dest": spec.name,
            "default": None,  # not given: the environment, then the library, decide
            "help": f"{text} (default: {shown}; env {var})".replace("%", "%%"),
        }
        choices = _literal_choices(str(spec.type))
        if how == "bool":
            options["action"] = argparse.BooleanOptionalAction
        elif choices:
            options["choices"] = choices
        else:
            options["metavar"] = _METAVAR.get(how or "", "VALUE")
            if how == "list":
                options["action"] = "append"
        names = [flag_name(spec.name)]
        if spec.name in _SINGULAR:
            names.append("--" + spec.name.replace("_", "-"))
        group.add_argument(*names, **options)


def given_settings(args: argparse.Namespace) -> dict[str, str]:
    """The setting flags given, as the ``ORGA_*`` variables they stand for."""
    found: dict[str, str] = {}
    for spec in _settings():
        value = getattr(args, spec.name, None)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, list):
            text = ",".join(value)
        else:
            text = str(value)
        found[_PREFIX + spec.name.upper()] = text
    return found


def cli_message(exc: ConfigurationError) -> str:
    """A configuration error in the terms of the command line: flags, not keywords.

    ``api_key=... to OrgaClientSecrets`` becomes ``--api-key`` (``sandbox=True``:
    ``--sandbox``); ``ORGA_TIMEOUT must be`` (a value that did not parse) becomes
    ``--timeout / ORGA_TIMEOUT must be``.
    """
    names = sorted((f.name for f in _settings()), key=len, reverse=True)
    by_var = {_PREFIX + name.upper(): name for name in names}
    # Our own messages only; alternations of literal words, no nested quantifier.
    alternatives = "|".join(names)
    keyword = re.compile(r"\b(" + alternatives + r")\b(?:=\.\.\.|=True)?(?: to OrgaClientSecrets)?")
    variable = re.compile(r"\b(" + "|".join(by_var) + r") must\b")
    text = keyword.sub(lambda match: flag_name(match.group(1)), str(exc))
    text = variable.sub(lambda m: f"{flag_name(by_var[m.group(1)])} / {m.group(1)} must", text)
    return "--path" + text[4:] if text.startswith("path must") else text
