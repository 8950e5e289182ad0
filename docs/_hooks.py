"""MkDocs hook: the Configuration page's settings table, rendered from ``EndpointConfig``.

``docs/configuration.md`` holds :data:`MARKER` where the table goes; the table is
``EndpointConfig.settings_table()`` (field names, ``ORGA_*`` variables, types, defaults and
the fields' docstrings), so a new setting is documented without being written twice. The
docstrings' Sphinx roles become autorefs links, which the strict build checks resolve.
``tests/core/test_docs_snippets.py`` renders the page through :func:`render` too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.structure.pages import Page

MARKER = "<!-- settings-table -->"
PAGE = "configuration.md"
# :class:`~orga_asgi.Principal` (title: the last part) or :mod:`orga_asgi.keys` (title: all).
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc):`(~?)([\w.]+)`")
_CODE = re.compile(r"`[^`]*`")


def _link(match: re.Match[str]) -> str:
    short, target = match.groups()
    title = target.rsplit(".", 1)[-1] if short else target
    return f"[`{title}`][{target}]"


def settings_table() -> str:
    """``EndpointConfig.settings_table()`` with its roles turned into reference links."""
    from orga_asgi import EndpointConfig  # the docs build installs the package

    table = _ROLE.sub(_link, EndpointConfig.settings_table())
    # A pipe inside a code span is not a cell border to Python-Markdown, and its escape
    # would show: ``AuthorizeHook \| None`` is written ``AuthorizeHook | None``.
    return _CODE.sub(lambda code: code.group().replace("\\|", "|"), table)


def render(markdown: str) -> str:
    """The page's Markdown with the settings table in place of :data:`MARKER`."""
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} lost its {MARKER} line: the settings table goes there")
    return markdown.replace(MARKER, settings_table())


def on_page_markdown(markdown: str, *, page: Page, **kwargs: Any) -> str:
    """MkDocs' hook: render the Configuration page, leave every other page as it is."""
    return render(markdown) if page.file.src_uri == PAGE else markdown
