"""One PNG serves the English and the Japanese report page, so no figure title is written in a language.

The report's captions, translated, carry what a figure shows (issue 14). Read with `ast`: every
`set_title` / `suptitle` / `fig.text` call in the modules that draw the report's figures must
build its text from numbers and symbols only. Axis labels and legends are not checked: they stay
English (named in docs/report.md).
"""

from __future__ import annotations

import ast
import re

import pytest

from oekaki.core.paths import PROJECT_ROOT

FIGURE_MODULES = sorted(
    [*(PROJECT_ROOT / "oekaki" / "stages").glob("*/figures.py"), PROJECT_ROOT / "oekaki" / "core" / "plots.py"]
    + [PROJECT_ROOT / "oekaki" / "models" / "memorisation.py", PROJECT_ROOT / "oekaki" / "stages" / "evaluate" / "stage.py"]
    + [PROJECT_ROOT / "oekaki" / "stages" / "download" / "stage.py"]
)
TITLE_CALLS = {"set_title", "suptitle", "title", "text"}
WORD = re.compile(r"[A-Za-z\u3040-\u30ff\u4e00-\u9fff]{2,}")  # two letters or kana/kanji in a row: a word


def literal_words(node: ast.AST) -> list[str]:
    """The words in the string literals of an expression (f-string parts included, format specs not)."""
    words = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.FormattedValue):
            sub.format_spec = None
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            words += WORD.findall(sub.value)
    return words


@pytest.mark.parametrize("path", FIGURE_MODULES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_figure_titles_carry_no_words(path):
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TITLE_CALLS:
            if words := [w for arg in node.args for w in literal_words(arg)]:
                found.append(f"{path.name}:{node.lineno} {node.func.attr}: {words}")
    assert not found, "titles in words (put them in the report's captions instead): " + "; ".join(found)


def test_the_check_finds_a_title():
    call = ast.parse('ax.set_title(f"Quality vs steps ({n:,} samples each)", fontsize=9)').body[0].value
    assert literal_words(call.args[0]) == ["Quality", "vs", "steps", "samples", "each"]
    assert literal_words(ast.parse('f"{i + 1} ({p:.0%})"').body[0].value) == []
