# SPDX-License-Identifier: GPL-3.0-or-later
"""Every script sent to Windows parses with a real PowerShell grammar and carries its header line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_pwsh

from ansible_collections.hygiene.winpatch.plugins.plugin_utils import _scripts

SCRIPT_DIR = Path(__file__).resolve().parents[2] / "plugins" / "powershell"
SCRIPTS = sorted(SCRIPT_DIR.glob("*.ps1"))
HEADER_RE = re.compile(r"^# hygiene\.winpatch script: (?P<name>[a-z0-9_]+) v(?P<version>\d+)$")


def _problems(node: tree_sitter.Node) -> list[str]:
    """Every ERROR or MISSING node under ``node``, as 'line:column kind'."""
    found = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            row, column = current.start_point
            kind = "MISSING " + current.type if current.is_missing else "ERROR"
            found.append(f"{row + 1}:{column + 1} {kind}")
        stack.extend(current.children)
    return sorted(found)


@pytest.fixture(scope="module")
def parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))


def test_there_are_scripts() -> None:
    assert SCRIPTS, f"no scripts found under {SCRIPT_DIR}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(parser: tree_sitter.Parser, path: Path) -> None:
    tree = parser.parse(path.read_bytes())
    assert _problems(tree.root_node) == []
    assert not tree.root_node.has_error


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_compacted_script_parses_and_fits_the_command_line(parser: tree_sitter.Parser, path: Path) -> None:
    # What is sent is the compacted text; it must parse too, and fit cmd.exe's command line.
    compacted = _scripts.compact_script(path.read_text(encoding="utf-8"))
    assert _problems(parser.parse(compacted.encode("utf-8")).root_node) == []
    assert len(_scripts.command_line(path.stem)) <= _scripts.MAX_COMMAND_LINE


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_header(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    match = HEADER_RE.match(first)
    assert match, f"{path.name}: first line {first!r} is not '# hygiene.winpatch script: <name> v<version>'"
    assert match.group("name") == path.stem
    # The script text never carries parameters: they arrive as JSON on stdin.
    assert "[Console]::In.ReadToEnd()" in text


def test_parser_catches_a_broken_script(parser: tree_sitter.Parser) -> None:
    # The check must be able to fail: an unclosed block is reported.
    tree = parser.parse(b"if ($true) {\n    Write-Output 'x'\n")
    assert _problems(tree.root_node)
