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


# The only skips that are not `need`: data that no set-up step installs (Debian's Fashion-MNIST, for one
# opt-in check), and the CPU-only error that cannot be provoked where a GPU exists.
ALLOWED_SKIPS = {"test_download.py": "DEBIAN_FASHION", "test_training.py": "a GPU is present"}


def test_no_test_skips_by_itself_on_a_missing_tool():
    """Every skip in tests/ goes through `need` (a failure under CI=true), apart from ALLOWED_SKIPS."""
    for path in sorted((PROJECT_ROOT / "tests").glob("*.py")):
        if path.name in ("conftest.py", "test_ci_skips.py"):
            continue
        for line in path.read_text().splitlines():
            if re.search(r"skipif|pytest\.skip\(|importorskip|mark\.skip\b", line):
                assert ALLOWED_SKIPS.get(path.name, "\0") in line, f"{path.name}: {line.strip()} (use tests/conftest.py `need`)"


def test_the_tool_tests_use_the_helper():
    for name in ("test_browser.py", "test_mlflow_ui.py", "test_postgres.py", "test_app.py"):
        text = (PROJECT_ROOT / "tests" / name).read_text()
        assert any("chromium" in a for a in re.findall(r"def test_\w+\(([^)]*)\)", text)) or "need(" in text, name


def test_make_test_slow_fails_when_it_collects_no_test():
    """pytest exits 5 when it collects nothing; the recipe must pass that on, not swallow it."""
    recipe = re.search(r"^test-slow:.*\n((?:\t.*\n)+)", (PROJECT_ROOT / "Makefile").read_text(), re.M).group(1)
    pytest_line = next(line for line in recipe.splitlines() if "pytest" in line)
    assert "-m slow" in pytest_line and "||" not in pytest_line and "-eq 5" not in recipe
