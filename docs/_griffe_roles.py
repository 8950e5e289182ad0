"""Griffe extension: the package's reST habits, rendered as Markdown and reference links.

The docstrings say :class:`~orga_asgi.Principal`, :meth:`from_env` or :mod:`.rules`, as
Sphinx does; mkdocstrings speaks autorefs. Each role becomes an *optional* autoref to the
name resolved in the docstring's scope: a link when the target is on the reference page,
plain code when it is private (the strict build only fails on the links written by hand).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([\w.]+)`")
# reST's "text::" before an indented literal block: in Markdown the block is code already.
_LITERAL = re.compile(r"(?<=\S)::\n(?=[ \t]*\n)")


def _identifier(obj: griffe.Object, target: str) -> str | None:
    """The full path ``target`` names in ``obj``'s scope, or ``None``."""
    if target.startswith("."):  # relative to the package: :mod:`.rules`
        package = obj.module if obj.module.is_init_module else obj.module.parent
        return f"{package.path if package else ''}{target}" if package else None
    head, _, rest = target.partition(".")
    if head in ("orga_asgi", "orga_asgi_fastapi", "orga_asgi_litestar", "orga_asgi_quart"):
        return target
    try:
        resolved = obj.resolve(head)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
        return None
    return f"{resolved}.{rest}" if rest else resolved


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring's roles before mkdocstrings renders it."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        obj.docstring.value = _LITERAL.sub(":\n", obj.docstring.value)
        if ":`" not in obj.docstring.value:
            return

        def replace(match: re.Match[str]) -> str:
            short, target = match.groups()
            title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
            identifier = _identifier(obj, target)
            if identifier is None:
                return f"`{title}`"
            return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'

        obj.docstring.value = _ROLE.sub(replace, obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self.on_object(obj=pkg)  # on_object visits a package's members, not the package
