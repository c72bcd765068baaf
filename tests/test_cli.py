"""Bad input through the real command lines: exit status 2, one clear line, nothing written."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import VENV_BIN, copy_project, tool_env


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "repo"), tool_env(tmp_path)


def run(project, *args):
    paths, env = project
    return subprocess.run([f"{VENV_BIN}/python", *args], cwd=paths.root, env=env, capture_output=True, text=True, timeout=120)


def test_stage_with_impossible_param_exits_2_and_writes_nothing(project):
    paths, _ = project
    paths.params.write_text(paths.params.read_text().replace("n_artworks: 300", "n_artworks: -4"))
    before = sorted(p for p in paths.root.rglob("*") if ".git" not in p.parts)
    proc = run(project, "-m", "oekaki", "stage", "source")
    assert proc.returncode == 2
    assert "params.yaml: gmm.n_artworks = -4 is impossible; expected an integer >= 10" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p for p in paths.root.rglob("*") if ".git" not in p.parts) == before


def test_flow_with_bad_override_exits_2_before_prefect_starts(project):
    proc = run(project, "-m", "flows.pipeline", "--set", "gmm.true_weights=[0.5, 0.9, 0.1]")
    assert proc.returncode == 2
    assert "gmm.true_weights" in proc.stderr and "sum to 1" in proc.stderr
    assert "Starting temporary server" not in proc.stdout + proc.stderr


def test_stage_without_upstream_output_says_what_is_missing(project):
    proc = run(project, "-m", "oekaki", "stage", "gmm")
    assert proc.returncode == 2
    assert "data/prepared.npz is missing: stage 'gmm' needs the output of stage 'download'" in proc.stderr


def test_repro_passes_every_option_on_to_dvc(project):
    """`python -m oekaki repro ARGS` is `dvc repro ARGS` under the project lock, options included."""
    proc = run(project, "-m", "oekaki", "repro", "--dry", "--force", "--single-item", "gmm")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "Running stage 'gmm'" in out and "Running stage 'download'" not in out  # --single-item: gmm alone
    # --force must reach DVC: a stage that is up to date runs again only with it
    assert run(project, "-m", "oekaki", "repro", "download").returncode == 0
    dry = run(project, "-m", "oekaki", "repro", "--dry", "--single-item", "download")
    assert dry.returncode == 0 and "Running stage 'download'" not in dry.stdout + dry.stderr
    forced = run(project, "-m", "oekaki", "repro", "--dry", "--force", "--single-item", "download")
    assert forced.returncode == 0 and "Running stage 'download'" in forced.stdout + forced.stderr
    proc = run(project, "-m", "oekaki", "repro", "--no-such-option")
    assert proc.returncode != 0 and "--no-such-option" in proc.stderr  # dvc's own refusal, not argparse's
