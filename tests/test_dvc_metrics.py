"""DVC shows the headline numbers only: `dvc metrics show` is one short line, and `dvc exp show` after
an experiment fits a 160-column terminal (issue 35: every key of every stage's file used to be a metric,
128 columns in a 3,515-character line, and `dvc exp show` collapsed to rows of "…")."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from oekaki.core.contract import flat_metrics, is_number
from oekaki.core.errors import MissingInputError
from oekaki.core.io import read_json, write_json
from oekaki.core.paths import PROJECT_ROOT, Paths, project_paths
from oekaki.stages.promote.stage import headline
from tests.conftest import VENV_BIN, tiny_project, tool_env

WIDTH = 160  # the terminal the issue asks for
# The comparison docs/pipeline.md and README.md give: the changed columns, without the dependency
# columns (file paths: DVC adds one per changed intermediate file, about two dozen after a judge change).
EXP_SHOW = ["dvc", "exp", "show", "--only-changed", "--drop", ".*/", "--no-pager"]
HEADLINE_COLUMNS = ["cnn.accuracy", "vae.fid", "gan.fid", "diffusion.fid", "train_seconds"]


def declared_metrics(dvc_yaml: dict) -> list[str]:
    """Every path dvc.yaml declares under a stage's `metrics:`."""
    found = []
    for stage in dvc_yaml["stages"].values():
        for entry in stage.get("metrics", []):
            found.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return found


def widest(text: str) -> int:
    return max((len(line.rstrip()) for line in text.splitlines()), default=0)


def test_only_the_headline_file_is_a_dvc_metric():
    """The stages' own metrics/<stage>.json stay outputs kept in git (cache: false), not metrics."""
    paths = project_paths()
    spec = yaml.safe_load(paths.dvc_yaml.read_text())
    assert declared_metrics(spec) == [str(paths.headline_metrics.relative_to(paths.root))]
    assert "metrics" not in spec  # no top-level metrics list either
    for name, stage in spec["stages"].items():
        if name in ("source", "contributions"):  # the checks: no metrics (oekaki/pipeline/runner.py CHECK_STAGES)
            continue
        outs = {next(iter(e)): e[next(iter(e))] for e in stage.get("outs", []) if isinstance(e, dict)}
        rel = str(paths.metrics(name).relative_to(paths.root))
        assert outs.get(rel) == {"cache": False}, (name, outs)


def test_dvc_metrics_show_is_one_short_line():
    """On the committed files: one row, the headline's few columns, within the terminal."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    out = subprocess.run([f"{VENV_BIN}/dvc", "metrics", "show"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True)
    header, *rows = out.stdout.strip().splitlines()
    assert header.split() == ["Path", "cnn.accuracy", "diffusion.fid", "gan.fid", "promoted", "train_seconds", "vae.fid"]
    assert [r.split()[0] for r in rows] == ["metrics/scoreboard.json"]
    assert widest(out.stdout) <= WIDTH, out.stdout


def write_stage_metrics(paths: Paths) -> None:
    write_json(paths.metrics("cnn"), {"test_accuracy": 0.97, "test_loss": 0.1, "train_seconds": 10.0})
    for i, painter in enumerate(("vae", "gan", "diffusion"), start=1):
        write_json(paths.metrics(painter), {"fid": 10.0 * i, "conditional_accuracy": 0.9, "train_seconds": 20.0 * i})


def test_headline_takes_the_stages_numbers_and_counts_the_gates_promotions(tmp_path):
    paths = Paths(tmp_path)
    write_stage_metrics(paths)
    rows = {"cnn": {"promote": True}, "vae": {"promote": False}, "gan": {"promote": True}, "diffusion": {"promote": False}}
    numbers = headline(paths, rows)
    assert numbers == {
        "cnn": {"accuracy": 0.97},
        "vae": {"fid": 10.0},
        "gan": {"fid": 20.0},
        "diffusion": {"fid": 30.0},
        "train_seconds": 130.0,
        "promoted": 2,
    }
    assert all(is_number(v) for v in flat_metrics(numbers).values())  # what `dvc metrics diff` compares


def test_headline_names_the_file_and_the_stage_when_a_number_is_missing(tmp_path):
    paths = Paths(tmp_path)
    write_stage_metrics(paths)
    gan = read_json(paths.metrics("gan"))
    del gan["fid"]
    write_json(paths.metrics("gan"), gan)
    with pytest.raises(MissingInputError, match=r"gan\.json lacks fid: rerun stage 'gan'"):
        headline(paths, {"cnn": {"promote": True}})


def test_the_docs_give_the_comparison_the_test_runs():
    command = "dvc exp show --only-changed --drop '.*/'"
    for doc in ("docs/pipeline.md", "README.md"):
        assert command in (PROJECT_ROOT / doc).read_text(), doc


@pytest.mark.slow  # the tiny pipeline through `dvc repro`, then an experiment that retrains the judge and everything after it
def test_exp_show_after_a_judge_experiment_fits_160_columns(tmp_path):
    paths = tiny_project(tmp_path)
    env = tool_env(tmp_path, COLUMNS=str(WIDTH))

    def sh(*args: str) -> str:
        proc = subprocess.run(list(args), cwd=paths.root, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    sh("dvc", "repro")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "the tiny pipeline's results: the experiment's baseline")
    sh("dvc", "exp", "run", "-S", "cnn.epochs=2")
    shown = sh(*EXP_SHOW)
    assert widest(shown) <= WIDTH and "…" not in shown, shown
    header = next(line for line in shown.splitlines() if "Experiment" in line).split()
    assert set(HEADLINE_COLUMNS) <= set(header) and "cnn.epochs" in header, header  # every headline number changed, shown
    assert not [h for h in header if "/" in h], header
