"""`make run` regenerates dvc.yaml's code deps, and skips the import walk only when nothing it reads changed."""

from __future__ import annotations

import pytest

from oekaki.pipeline import code_deps
from tests.conftest import copy_project


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "repo").root


def test_write_restores_a_missing_dep_then_skips_the_walk_until_a_module_changes(project, monkeypatch):
    dvc_yaml = project / "dvc.yaml"
    text = dvc_yaml.read_text()
    dvc_yaml.write_text(text.replace("      - oekaki/models/diffusion.py\n", "", 1))
    assert code_deps.write(project)  # the diffusion stage's dep comes back
    assert code_deps.differences(project) == []
    assert (project / code_deps.CHECKED).read_text().strip() == code_deps.inputs_digest(project)

    walks = []
    real = code_deps.differences
    monkeypatch.setattr(code_deps, "differences", lambda root: walks.append(root) or real(root))
    assert code_deps.write(project) == [] and walks == []  # nothing changed: no walk

    module = project / "oekaki" / "core" / "plots.py"
    module.write_text(module.read_text() + "\n# a comment\n")
    assert code_deps.write(project) == [] and len(walks) == 1  # a changed module: walked, deps still right

    module.write_text(module.read_text() + "from oekaki.models import scoreboard  # noqa: F401\n")
    changes = code_deps.write(project)  # a new import: the stages that import plots now list scoreboard.py
    assert len(walks) == 2 and any("runs oekaki/models/scoreboard.py but does not list it" in line for line in changes)
    assert code_deps.differences(project) == []
