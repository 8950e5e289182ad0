"""The documentation's Python runs as written, and its settings tables name every setting.

Every ```python block of ``docs/*.md`` runs in a fresh interpreter, from an empty directory
(so only the installed package is importable, as for a reader who copies it), with warnings
as errors and a timeout. A block that defines ``test_*`` functions (or ``Test*`` classes) is
a user's test file and runs under pytest, with the package's plugin. The environment is a
sandbox user's: no ``ORGA_*`` variable of the machine gets through (a real key must never
be used), and ``ORGA_API_KEY``/``ORGA_BASE_URL`` name the sandbox's fake key and its
unreachable upstream.
A block fenced ```python {.no-run} is shown, not run: keep it for what cannot run (a
framework fragment that needs your own login code), and prefer a block that runs.

The README's own snippets are run by ``test_readme.py``. The site itself (links, API
references, docstrings) is built strictly by ``nox -s docs``, which ``nox`` runs by default:
building it here would need the docs group in every test session.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType

import pytest

from orga_asgi import EndpointConfig
from orga_asgi._settings import kind
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
TIMEOUT = 90.0  # seconds per block, under pytest-timeout's 120: the machine may be busy
# An opening fence (any indent, for blocks inside admonitions), its info string, its body.
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)
NO_RUN = re.compile(r"\{[^}]*\.no-run\b[^}]*\}")


@dataclass(frozen=True)
class Block:
    """One fenced Python block: where it is, and its code."""

    page: str  # docs/index.md
    line: int  # the line of its first line of code
    code: str
    run: bool

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"

    def padded(self) -> str:
        """The code, pushed down to its line in the page: tracebacks name the page's lines."""
        return "\n" * (self.line - 1) + self.code


def _language(info: str) -> str:
    """``python`` from ``python``, ``python {.no-run}``, ``{.python .no-run}`` or ``py``."""
    info = info.strip()
    if info.startswith("{"):
        first = re.search(r"\.([\w-]+)", info)
        return first.group(1) if first else ""
    return info.split(maxsplit=1)[0] if info else ""


def blocks(path: Path) -> list[Block]:
    """The Python blocks of one Markdown page."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if _language(match["info"]) not in ("python", "py"):
            continue
        indent = len(match["indent"])
        code = "".join(line[indent:] for line in match["body"].splitlines(keepends=True))
        line = text.count("\n", 0, match.start("body")) + 1
        page = path.relative_to(ROOT).as_posix()
        found.append(Block(page, line, code, run=not NO_RUN.search(match["info"])))
    return found


PAGES = sorted(DOCS.glob("*.md"))
BLOCKS = [block for page in PAGES for block in blocks(page)]


def _is_test_file(code: str) -> bool:
    tree = ast.parse(code)
    return any(
        (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"))
        or (isinstance(node, ast.ClassDef) and node.name.startswith("Test"))
        for node in tree.body
    )


def _sandbox_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORGA_", "ORGAAI_"))}
    env.pop("PYTHONPATH", None)  # the installed package, not the checkout on sys.path
    env.update(ORGA_API_KEY=FAKE_API_KEY, ORGA_BASE_URL=FAKE_BASE_URL, PYTHONDEVMODE="1")
    return env


def test_the_docs_have_python_to_run() -> None:
    assert PAGES, "docs/*.md not found"
    assert any(block.page == "docs/index.md" and block.run for block in BLOCKS)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.run], ids=str)
def test_a_docs_python_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    try:
        ast.parse(block.code)
    except SyntaxError as exc:
        pytest.fail(f"{block.page}:{block.line + (exc.lineno or 1) - 1}: not Python: {exc.msg}")
    name = Path(block.page).stem.replace("-", "_")
    if _is_test_file(block.code):
        script = tmp_path / f"test_docs_{name}_{block.line}.py"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-p", "no:asyncio", "-W", "error", script.name]
    else:
        script = tmp_path / f"docs_{name}_{block.line}.py"
        command = [sys.executable, "-W", "error", script.name]
    script.write_text(block.padded(), encoding="utf-8")
    try:
        done = subprocess.run(
            command, cwd=tmp_path, env=_sandbox_environment(), capture_output=True,
            text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block}: the block did not finish within {TIMEOUT:.0f} s")
    if done.returncode:
        output = (done.stdout + done.stderr).strip().splitlines()
        pytest.fail(
            f"{block}: the block failed (exit {done.returncode}); its traceback's line "
            f"numbers are the page's:\n" + "\n".join(output[-30:]),
            pytrace=False,
        )


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _settings() -> list[str]:
    return [f.name for f in fields(EndpointConfig) if f.init]


def test_the_configuration_page_lists_every_setting_with_its_variable() -> None:
    hooks = _hooks()
    page = hooks.render((DOCS / "configuration.md").read_text(encoding="utf-8"))
    assert hooks.MARKER not in page
    rows = {m[1]: m[0] for m in re.finditer(r"^\| `(\w+)` \|.*$", page, re.M)}
    assert list(rows) == _settings()
    for spec in fields(EndpointConfig):
        if spec.init and kind(str(spec.type)):
            assert f"`ORGA_{spec.name.upper()}`" in rows[spec.name]
        elif spec.init:
            assert "| code only |" in rows[spec.name]
    assert ":class:" not in page and ":func:" not in page  # roles became reference links


def test_the_configuration_page_needs_its_marker() -> None:
    with pytest.raises(ValueError, match="settings-table"):
        _hooks().render("# Configuration\n")


def test_the_readmes_configuration_table_names_every_setting_once() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    named: list[str] = []
    for row in re.findall(r"^\| (`.*?) \|", section, re.M):  # the option column
        named += re.findall(r"`(\w+)`", row)
    assert sorted(named) == sorted(set(named)), "a setting has two rows"
    assert set(named) == set(_settings()), (
        f"missing from README: {sorted(set(_settings()) - set(named))}; "
        f"not settings: {sorted(set(named) - set(_settings()))}"
    )
