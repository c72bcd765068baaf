"""Shared fixtures. Tests never touch the user's stores: MLflow, Prefect and DVC state live
in a temporary directory per test (or per module for the end-to-end run)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from oekaki.core.paths import PROJECT_ROOT, Paths

VENV_BIN = str(Path(sys.executable).parent)


def need(what: str, available: bool, how: str) -> None:
    """The one skip-or-fail decision: a test whose set-up could not provide `what` skips, saying
    `how` to get it, except under CI=true, where a missing tool is a failure (CI must not pass by skipping)."""
    if available:
        return
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"CI=true but {what} is missing ({how})", pytrace=False)
    pytest.skip(f"no {what} ({how})")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (scripts/ensure-chromium.sh): skipped without it, a failure under CI=true."""
    from tests.browser import find_chromium

    path = find_chromium()
    need("chromium", path is not None, "run scripts/ensure-chromium.sh as root")
    return path


def copy_project(dest: Path) -> Paths:
    """A temporary copy of the repository's tracked and unignored files, as a fresh git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        src = PROJECT_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return Paths(dest)


def shrink_params(paths: Paths, **sections: dict) -> None:
    """Edit the copy's real params.yaml (never a second hand-written config)."""
    raw = yaml.safe_load(paths.params.read_text())
    for section, values in sections.items():
        raw[section].update(values)
    paths.params.write_text(yaml.safe_dump(raw, sort_keys=False))


def tool_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL", "OEKAKI_PIPELINE_RUN_ID"):
        env.pop(key, None)
    env.update(
        PATH=VENV_BIN + os.pathsep + env.get("PATH", ""),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
        PREFECT_HOME=str(tmp / "prefect"),
        DVC_NO_ANALYTICS="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    env.update(extra)
    return env


# The end-to-end profile: every stage in seconds (test_pipeline_e2e, test_deployments). Networks trained
# for seconds barely leave their initialisation (measured: VAE loss 482 vs 486 untrained, the GAN's FID
# no better than an untrained GAN's), so the promotion gate's sanity floor is off here and the deployment
# tests still see a first promotion; tests/test_promote*.py test the floor itself.
E2E_TINY = {
    "data": {"limit": 400, "validation_size": 200},
    "promote": {"cnn_min_accuracy": 0.2, "vae_max_loss_fraction": 2.0, "painter_max_fid_fraction": 2.0, "adherence_per_prompt": 1},
    "gmm": {"n_init": 1, "max_components": 4, "digits_pca_components": 16, "digits_components_per_class": 2, "digits_n_samples": 100},
    "cnn": {"channels": [8, 16], "hidden": 32, "epochs": 1, "min_steps": 0, "batch_size": 64},
    # the ViT: 210 steps in ~2 s, 41 % validation on 200 digits, above this profile's 0.2 floor (3 epochs at batch 64: 18 %)
    "vit": {"width": 16, "depth": 1, "heads": 2, "stem": 8, "epochs": 30, "min_steps": 0, "batch_size": 32, "lr": 0.005, "eval_every": 10},
    "vae": {"latent_size": 4, "channels": [8, 16], "hidden": 32, "epochs": 1, "min_steps": 0, "batch_size": 64},
    "gan": {"noise_size": 16, "g_channels": [16, 8], "d_channels": [8, 16], "epochs": 1, "min_steps": 0, "epoch_eval_samples": 100},
    "diffusion": {
        "channels": [8, 8, 8],
        "embed_size": 16,
        "epochs": 1,
        "min_steps": 0,
        "sample_steps": 2,
        "sweep_samples": 100,
        "sweep_steps": [1, 2],
        "sweep_guidance": [0, 2],
    },  # fmt: skip
    "autoencoder": {"channels": [8, 8], "epochs": 1, "min_steps": 0, "batch_size": 64},
    "text_painter": {
        **{"text_width": 16, "text_layers": 1, "text_heads": 2, "channels": 16, "blocks": 1, "embed_size": 16},
        "epochs": 1,
        "min_steps": 0,
        "batch_size": 64,
        "captions_per_image": 2,
        "sample_steps": 2,
        "eval_per_prompt": 1,
        "sweep_guidance": [1, 2],
    },  # fmt: skip
    "evaluate": {"n_samples": 100},
}


def tiny_project(tmp: Path) -> Paths:
    """A copy of the repository at tmp/repo on the E2E_TINY profile, committed (DVC experiments need it)."""
    paths = copy_project(tmp / "repo")
    shrink_params(paths, **E2E_TINY)
    subprocess.run(["git", "commit", "-qam", "tiny params"], cwd=paths.root, check=True, env=tool_env(tmp))
    return paths


TINY_JUDGE = ["data.source=bundled", "data.limit=1500", "cnn.epochs=3", "cnn.min_steps=0", "cnn.batch_size=64"]


@pytest.fixture(scope="session")
def tiny_judge(tiny_pipeline) -> Paths:
    """The small judge the tiny pipeline's cnn stage trained on 1,500 bundled digits (TINY's data and cnn
    sections are TINY_JUDGE's): its workspace holds data/prepared.npz, the judge and metrics/cnn.json,
    everything the generator stages need upstream. Tests copy what they change (workspace_with_judge).
    """
    from oekaki.core.config import load_config
    from oekaki.core.paths import project_paths

    paths = tiny_pipeline[0]
    judge_cfg, pipeline_cfg = load_config(project_paths().params, TINY_JUDGE), load_config(paths.params)
    assert (judge_cfg.data, judge_cfg.cnn) == (pipeline_cfg.data, pipeline_cfg.cnn), "TINY and TINY_JUDGE disagree"
    return paths


@pytest.fixture(scope="session")
def tiny_stage_runs(tiny_pipeline) -> dict:
    """stage -> its MLflow run in the tiny pipeline's store (fetched one by one: get_run carries the dataset inputs)."""
    from mlflow.tracking import MlflowClient

    from oekaki.pipeline.tracking import EXPERIMENT, KIND_TAG, PIPELINE_TAG

    _, uri, pipeline_run_id = tiny_pipeline
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    found = client.search_runs([exp.experiment_id], f"tags.`{PIPELINE_TAG}` = '{pipeline_run_id}' and tags.`{KIND_TAG}` = 'stage'")
    return {r.info.run_name: client.get_run(r.info.run_id) for r in found}


@pytest.fixture(scope="session")
def tiny_stage(tiny_pipeline, tiny_stage_runs):
    """(stage, its test module's profile section) -> (workspace, MLflow tracking URI, the stage's MLflow run id).

    The painters' test modules read the tiny pipeline's own run of their stage instead of training
    it a second time; the profile they test must still be TINY's section for that stage. They only
    read (a test that changes files or the store copies them: workspace_with_judge, pipeline_store).
    The run id comes from MLflow, not from the stage's provenance, so tests can check the two agree.
    """
    from oekaki.core.config import load_config

    paths, uri, _ = tiny_pipeline
    cfg = load_config(paths.params)

    def stage(name: str, profile) -> tuple[Paths, str, str]:
        assert profile == getattr(cfg, name), f"tests/conftest.py TINY and the {name} tests' profile disagree"
        return paths, uri, tiny_stage_runs[name].info.run_id

    return stage


TINY = {
    "data": {"source": "bundled", "limit": 1500},
    "cnn": {"epochs": 3, "min_steps": 0, "batch_size": 64},
    "vit": {"epochs": 24, "min_steps": 0, "batch_size": 64},  # 384 steps (~16 s quiet): ~89 % validation, above the gate's 0.8 floor
    "vae": {"latent_size": 8, "channels": [16, 32], "hidden": 128, "epochs": 15, "min_steps": 0, "batch_size": 64},
    "gan": {"noise_size": 32, "g_channels": [64, 32], "d_channels": [32, 64], "epochs": 6, "min_steps": 0, "epoch_eval_samples": 200},
    "diffusion": {
        "channels": [8, 16, 16],
        "embed_size": 32,
        "epochs": 5,
        "min_steps": 0,
        "lr": 0.004,
        "sample_steps": 4,
        "sweep_samples": 100,
        "sweep_steps": [1, 4],
        "sweep_guidance": [0, 1, 3],
    },  # fmt: skip
    # the text painter's two stages in seconds (tests/test_text_painter.py), trained enough to pass the gate's FID floor:
    # with 32 autoencoder steps and an EMA still at its initialisation the painter scored FID 257.6, untrained 257.8
    "autoencoder": {"channels": [8, 16], "epochs": 1, "min_steps": 600, "batch_size": 64},
    "text_painter": {
        **{"text_width": 16, "text_layers": 1, "text_heads": 2, "channels": 32, "blocks": 2, "embed_size": 16},
        "epochs": 1,
        "min_steps": 600,
        "batch_size": 64,
        "lr": 0.004,
        "ema_decay": 0.0,
        "captions_per_image": 2,
        "sample_steps": 4,
        "eval_per_prompt": 1,
        "sweep_guidance": [1, 2],
    },  # fmt: skip
    "promote": {"adherence_per_prompt": 1},
    "evaluate": {"n_samples": 10000},
}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """Every stage of the real pipeline, in order, on the tiny profile, in a temporary copy.

    Runs through oekaki.pipeline.runner (what `dvc repro` and the Prefect tasks call), with an MLflow
    store of its own. Returns (paths, mlflow tracking URI, pipeline run id).
    """
    from oekaki.core.config import load_config
    from oekaki.pipeline import runner

    root = tmp_path_factory.mktemp("tiny-pipeline")
    paths = copy_project(root / "project")
    shrink_params(paths, **TINY)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        experiment_in(uri, root / "mlartifacts")
        cfg = load_config(paths.params)
        runner.run_contributions(cfg, paths)
        runner.run_source(cfg, paths, mint_pipeline_run=True)
        ctx = runner.RunContext(runner.current_pipeline_run_id(paths))
        for stage in runner.stage_names(paths):
            if stage not in runner.CHECK_STAGES:
                runner.run_stage(stage, cfg, paths, ctx)
    return paths, uri, ctx.pipeline_run_id


def experiment_in(uri: str, artifacts: Path) -> None:
    """Create the experiment with its artifacts under `artifacts` (MLflow's default with a
    MLFLOW_TRACKING_URI set would be ./mlruns in the current folder, i.e. the repository)."""
    from mlflow.tracking import MlflowClient

    from oekaki.pipeline.tracking import EXPERIMENT

    client = MlflowClient(uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())


@pytest.fixture
def pipeline_store(tiny_pipeline, tmp_path, monkeypatch):
    """The tiny pipeline's MLflow store, copied for this test alone: aliases it moves and versions it
    registers stay in the copy, so tests pass in any order and alone. Returns (paths, uri, pipeline run id).

    The copy is of the SQLite file (the runs, the registry and its aliases). The artifact folder
    stays shared: it is append-only, each new run and logged model writing under its own new id.
    """
    paths, uri, pipeline_run_id = tiny_pipeline
    db = tmp_path / "mlflow.db"
    src, dst = sqlite3.connect(uri.removeprefix("sqlite:///")), sqlite3.connect(db)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    copy = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", copy)
    return paths, copy, pipeline_run_id


def workspace_with_judge(dest: Path, judge_paths: Paths) -> Paths:
    """A fresh workspace holding the tiny judge's data, contributions snapshot, model and metrics (copies, not links)."""
    paths = Paths(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_ROOT / "dvc.yaml", dest / "dvc.yaml")  # the stage graph check_inputs reads
    for src in (judge_paths.prepared, judge_paths.contributions_snapshot, judge_paths.cnn_model, judge_paths.metrics("cnn")):
        if not src.is_file():
            continue
        target = dest / src.relative_to(judge_paths.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return paths


@pytest.fixture
def isolated_stores(tmp_path, monkeypatch):
    """MLflow store of this test only (for tests that call the runner in-process)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("OEKAKI_PIPELINE_RUN_ID", raising=False)
    return tmp_path
