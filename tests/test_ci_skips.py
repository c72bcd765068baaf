"""CI must not pass by skipping: the one skip-or-fail helper (tests/conftest.py `need`) and `make test-slow`."""

from __future__ import annotations

import re

import pytest

from oekaki.core.paths import PROJECT_ROOT
from tests.conftest import need


def test_a_missing_tool_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        need("chromium", False, "run scripts/ensure-chromium.sh as root")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        need("chromium", False, "run scripts/ensure-chromium.sh as root")


@pytest.mark.parametrize("value", ["true", "True", "TRUE"])
def test_a_missing_tool_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true but PostgreSQL server binaries is missing"):
        need("PostgreSQL server binaries", False, "run scripts/ensure-postgres.sh as root")


def test_a_present_tool_neither_skips_nor_fails(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert need("chromium", True, "") is None


def test_the_tool_tests_use_the_helper_not_a_bare_skip():
    for name in ("test_browser.py", "test_mlflow_ui.py", "test_postgres.py"):
        text = (PROJECT_ROOT / "tests" / name).read_text()
        assert "skipif" not in text and "pytest.skip(" not in text, name
        assert "chromium" in re.findall(r"def test_\w+\(([^)]*)\)", text)[-1] or "need(" in text, name


def test_make_test_slow_fails_when_it_collects_no_test():
    """pytest exits 5 when it collects nothing; the recipe must pass that on, not swallow it."""
    recipe = re.search(r"^test-slow:.*\n((?:\t.*\n)+)", (PROJECT_ROOT / "Makefile").read_text(), re.M).group(1)
    pytest_line = next(line for line in recipe.splitlines() if "pytest" in line)
    assert "-m slow" in pytest_line and "||" not in pytest_line and "-eq 5" not in recipe
