"""The settings as data: names with a did-you-mean, ``ORGA_*`` parsing, the docs table.

Everything here is derived from :class:`~orga_asgi.EndpointConfig`'s fields (their names,
annotations, defaults and docstrings), so a new field is documented, read from the
environment and checked for typos without being spelled a second time.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import itertools
import textwrap
from collections.abc import Mapping
from dataclasses import MISSING, Field, fields
from functools import cache
from typing import Any

from ._errors import ConfigurationError
from ._log import get_logger

__all__ = ["check_names", "kind", "read_env", "table"]

logger = get_logger("orga_asgi.config")
_TRUE, _FALSE = frozenset({"1", "true"}), frozenset({"0", "false"})


def _fields(cls: type) -> tuple[Field[Any], ...]:
    return tuple(f for f in fields(cls) if f.init)


def check_names(cls: type, given: Mapping[str, object], what: str) -> None:
    """Refuse unknown setting names, suggesting the closest known one."""
    names = [f.name for f in _fields(cls)]
    for name in given:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            raise ConfigurationError(
                f"{what} has no setting {name!r}{hint} The settings are the fields of "
                "orga_asgi.EndpointConfig."
            )


def kind(annotation: str) -> str | None:
    """How a field is read from text: ``list``, ``bool``, ``int``, ``float``, ``str``, or
    ``None`` for a field that only code can set (a hook, a client, observers)."""
    if "Sequence[str]" in annotation:
        return "list"
    for name in ("bool", "int", "float", "str"):
        if annotation.startswith(name):
            return name
    return "str" if annotation.startswith("Literal") else None


def _parse(var: str, raw: str, annotation: str) -> object:
    how = kind(annotation)
    text = raw.strip()
    if annotation.endswith("| None") and text.lower() in ("", "none"):
        return None
    if how == "list":
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if how == "bool":
        if text.lower() in _TRUE or text.lower() in _FALSE:
            return text.lower() in _TRUE
        raise ConfigurationError(f"{var} must be 1, 0, true or false.")
    if how in ("int", "float"):
        try:
            return int(text) if how == "int" else float(text)
        except ValueError:
            raise ConfigurationError(f"{var} must be a number.") from None
    return raw  # strings as given: a padded key must reach its own error message


def read_env(cls: type, environ: Mapping[str, Any], prefix: str) -> dict[str, object]:
    """The settings found in ``environ`` as ``<prefix><NAME>``, parsed by field type.

    Text is parsed; any other value (a mapping such as Quart's ``app.config`` may hold
    objects) is passed on as it is, for code-only fields too. Other ``<prefix>*`` names and
    text for code-only fields are logged with a hint, once per call, never with their value.
    """
    found: dict[str, object] = {}
    by_var = {prefix + f.name.upper(): f for f in _fields(cls)}
    for var, raw in environ.items():
        if not isinstance(var, str) or not var.startswith(prefix):
            continue
        spec = by_var.get(var)
        if spec is None:
            close = difflib.get_close_matches(var, list(by_var), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            logger.warning("%s is not a setting of orga-asgi, ignored%s", var, hint)
        elif not isinstance(raw, str):
            found[spec.name] = raw
        elif kind(str(spec.type)) is None:
            logger.warning("%s is ignored: %s can only be set in code", var, spec.name)
        else:
            found[spec.name] = _parse(var, raw, str(spec.type))
    return found


@cache
def _docs(cls: type) -> dict[str, str]:
    """Each field's docstring, read from the class source (they are not kept at runtime)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def table(cls: type, prefix: str) -> str:
    """The settings of ``cls`` as a Markdown table, one row per field."""
    rows = ["| Setting | Environment | Type | Default | Description |", "|---|---|---|---|---|"]
    docs = _docs(cls)
    for spec in _fields(cls):
        annotation = str(spec.type)
        env = f"`{prefix}{spec.name.upper()}`" if kind(annotation) else "code only"
        default = "required" if spec.default is MISSING else f"`{spec.default!r}`"
        cells = (f"`{spec.name}`", env, f"`{annotation}`", default, docs.get(spec.name, ""))
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"
