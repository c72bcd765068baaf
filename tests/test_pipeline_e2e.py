"""End to end, on tiny settings, in a temporary copy of the repository: the pipeline through
`dvc repro` and through the Prefect flow (against a real `prefect server` on 127.0.0.1),
checked through DVC's own commands and MLflow's client against a temporary store."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time
import urllib.request

import pytest
from mlflow.tracking import MlflowClient

from oekaki.core.contract import stage_results
from oekaki.pipeline import fingerprint
from oekaki.pipeline.servers import PrefectServer
from tests.conftest import VENV_BIN, tiny_project, tool_env

pytestmark = pytest.mark.slow  # multi-stage: dvc repro and the flow on a real Prefect server (make test-slow, CI's second step)

STAGES = {"download", "gmm", "cnn", "vit", "vae", "gan", "diffusion", "autoencoder", "text_painter", "evaluate", "promote", "report"}
ALL_CACHED = {"contributions": "Completed", "source": "Completed", **{s: "Cached" for s in STAGES}}  # the checks always run


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory):
    """A real Prefect server on 127.0.0.1 for this module, stopped afterwards."""
    home = tmp_path_factory.mktemp("prefect-server")
    server = PrefectServer(home, tool_env(home))
    try:
        yield server.wait_healthy()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory, prefect_api):
    tmp = tmp_path_factory.mktemp("e2e")
    paths = tiny_project(tmp)
    env = tool_env(tmp, PREFECT_API_URL=prefect_api)
    return paths, env, tmp


def sh(project, *args, expect=0) -> str:
    paths, env, _ = project
    proc = subprocess.run(list(args), cwd=paths.root, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == expect, out
    return out


def flow(project, *args) -> dict[str, str]:
    out = sh(project, f"{VENV_BIN}/python", "-m", "flows.pipeline", *args)
    line = next(ln for ln in out.splitlines() if ln.startswith("stages: "))
    return dict(item.split("=") for item in line.removeprefix("stages: ").split(", "))


def ran_stages(repro_output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in repro_output}


def dvc_clean(project) -> None:
    status = json.loads(sh(project, "dvc", "status", "--json"))
    assert status == {"contributions": ["always changed"], "source": ["always changed"]}, (
        status
    )  # the freshness check is always re-run, by design


def stale_after_edit(project, rel: str) -> tuple[set[str], set[str]]:
    """Append a comment to `rel`: (stages DVC's status calls changed, stages `dvc repro` then runs).

    Checks that the flow's cache keys change for exactly the stages DVC calls changed. Restores
    the file and brings the pipeline up to date again.
    """
    from oekaki.core.config import load_config

    paths = project[0]
    cfg = load_config(paths.params)
    stages = [s for s in fingerprint.stage_names(paths) if s not in ("source", "contributions")]
    keys = {s: fingerprint.stage_key(paths, s, cfg) for s in stages}
    path = paths.root / rel
    original = path.read_text()
    path.write_text(original + "# an edit that changes no behaviour\n")
    try:
        status = set(json.loads(sh(project, "dvc", "status", "--json"))) - {"source", "contributions"}
        rekeyed = {s for s in stages if fingerprint.stage_key(paths, s, cfg) != keys[s]}
        assert rekeyed == status, (rekeyed, status)  # the Prefect task cache refreshes exactly what DVC reruns
        ran = ran_stages(sh(project, "dvc", "repro"))
    finally:
        path.write_text(original)
    assert ran_stages(sh(project, "dvc", "repro")) == ran
    return status, ran


def mlflow_client(project) -> MlflowClient:
    return MlflowClient(tracking_uri=project[1]["MLFLOW_TRACKING_URI"])


def stage_runs(client: MlflowClient, where: str = ""):
    exp = client.get_experiment_by_name("oekaki")
    query = "tags.`oekaki.kind` = 'stage'" + (f" and {where}" if where else "")
    return client.search_runs([exp.experiment_id], filter_string=query)


@pytest.fixture(scope="module")
def reproduced(project) -> tuple[str, set[str]]:
    """`dvc repro` of the whole tiny pipeline, once for the module: (its output, the ids of the MLflow stage runs it logged).

    The scenarios below share this workspace. Each starts from it up to date and leaves it up to date, except the last
    two (an experiment applied, an import added), which pytest runs after the others, in the file's order.
    """
    out = sh(project, "dvc", "repro")
    return out, {r.info.run_id for r in stage_runs(mlflow_client(project))}


def test_dvc_repro_runs_every_stage_and_dvc_reads_the_metrics(project, reproduced):
    """`dvc repro` runs every stage, and DVC reads the metrics."""
    paths = project[0]
    out = reproduced[0]
    assert ran_stages(out) == STAGES
    metrics = next(iter(json.loads(sh(project, "dvc", "metrics", "show", "--json")).values()))["data"]
    assert list(metrics) == ["metrics/scoreboard.json"]  # the headline only (tests/test_dvc_metrics.py)
    decisions = json.loads(paths.promote_decision.read_text())["models"].values()
    assert metrics["metrics/scoreboard.json"]["data"]["promoted"] == sum(r["promote"] for r in decisions)
    gmm = json.loads(paths.metrics("gmm").read_text())
    assert gmm["true_k"] == 3 and 1 <= gmm["chosen_k"] <= 4
    download = stage_results(paths, "download")  # metrics/download.json's numbers and its provenance facts (source, sha256)
    assert download["source"] == "bundled" and download["n_train"] == 400 and len(download["sha256"]) == 64
    html = paths.report_html.read_text()
    assert "data:image/png;base64" in html and "<script" not in html
    assert not re.search(r'(src|href)="https?://(?!127\.0\.0\.1)', html)  # only links to the local MLflow UI


def test_repro_logs_one_parent_run_and_a_nested_run_per_stage(project, reproduced):
    """One MLflow parent for the repro, one nested run per stage, with steps and artifacts."""
    client = mlflow_client(project)
    runs = [r for r in stage_runs(client) if r.info.run_id in reproduced[1]]
    assert sorted(r.info.run_name for r in runs) == sorted(STAGES)
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 1
    assert len({r.data.tags["oekaki.pipeline_run_id"] for r in runs}) == 1
    gmm_run = next(r for r in runs if r.info.run_name == "gmm")
    assert gmm_run.data.tags["oekaki.dvc_stage"] == "gmm" and gmm_run.data.tags["entry_point"] == "dvc"
    assert len(gmm_run.data.tags["git_commit"]) == 40
    assert gmm_run.data.params["gmm.n_artworks"] == "300"
    assert [m.step for m in client.get_metric_history(gmm_run.info.run_id, "gmm_bic/bic")] == [1, 2, 3, 4]
    saved = {a.path for a in client.list_artifacts(gmm_run.info.run_id, "reports/figure_data/gmm")}  # what its figures show
    assert "reports/figure_data/gmm/contest.npz" in saved
    report_run = next(r for r in runs if r.info.run_name == "report")  # the figures are drawn, in each language, by the report
    drawn = {a.path for a in client.list_artifacts(report_run.info.run_id, "reports/figures/gmm")}
    assert drawn >= {"reports/figures/gmm/contest.en.png", "reports/figures/gmm/contest.ja.png", "reports/figures/gmm/digits.png"}
    cnn_run = next(r for r in runs if r.info.run_name == "cnn")
    assert [m.step for m in client.get_metric_history(cnn_run.info.run_id, "cnn_history/test_accuracy")] == [1]
    version = client.search_model_versions("name='cnn-classifier'")[0]
    assert version.run_id == cnn_run.info.run_id


def test_the_flow_after_repro_finds_every_task_cached(project, reproduced):
    """The flow after repro: nothing re-runs, every stage task ends Cached."""
    assert flow(project) == ALL_CACHED
    dvc_clean(project)


def test_a_deleted_output_reruns_its_stage_and_repro_then_has_nothing_to_do(project, reproduced):
    """A deleted output is not trusted: that stage (and what depends on it) runs again."""
    paths = project[0]
    # (evaluate reads gmm's digit model; the refit equals the first one only up to BLAS
    # rounding, so evaluate may run again too: it is downstream, never upstream)
    (paths.figure_data("gmm") / "bic.npz").unlink()
    since = int(time.time() * 1000)
    states = flow(project)
    evaluate = states.pop("evaluate")
    expected = {**ALL_CACHED, "gmm": "Completed", "report": "Completed"}
    del expected["evaluate"]
    assert states == expected and evaluate in ("Cached", "Completed")
    assert (paths.figure_data("gmm") / "bic.npz").is_file() and (paths.figures("gmm") / "bic.ja.png").is_file()
    flow_gmm = stage_runs(mlflow_client(project), f"tags.entry_point = 'prefect' and attributes.start_time >= {since}")
    assert sorted(r.info.run_name for r in flow_gmm) == sorted(["gmm", "report"] + (["evaluate"] if evaluate == "Completed" else []))
    assert all(r.data.tags.get("prefect_flow_run_id") for r in flow_gmm)

    # repro after the flow: nothing to do
    dvc_clean(project)
    assert ran_stages(sh(project, "dvc", "repro")) == set()


def test_a_code_edit_invalidates_exactly_the_stages_that_import_the_file(project, reproduced):
    """A code edit invalidates exactly the stages that import the file (DVC's status and the flow's cache keys
    agree), and repro then reruns those and their downstream; an unimported file changes nothing."""
    assert stale_after_edit(project, "oekaki/stages/gan/figures.py") == ({"gan"}, {"gan", "evaluate", "promote", "report"})
    assert stale_after_edit(project, "oekaki/pipeline/alerts.py") == (set(), set())
    dvc_clean(project)


def test_an_override_runs_in_an_isolated_copy_and_becomes_a_dvc_experiment(project, reproduced):
    """An override runs in an isolated copy and becomes a DVC experiment; the workspace is untouched."""
    paths = project[0]
    params_before = paths.params.read_text()
    assert flow(project, "--set", "gmm.n_artworks=120")["gmm"] == "Completed"
    assert paths.params.read_text() == params_before
    assert json.loads(paths.metrics("gmm").read_text())["n_artworks"] == 300
    dvc_clean(project)
    rows = list(csv.DictReader(io.StringIO(sh(project, "dvc", "exp", "show", "--csv"))))
    exp = [r for r in rows if r["Experiment"].startswith("prefect-")]
    assert len(exp) == 1 and exp[0]["gmm.n_artworks"] == "120"
    assert json.loads(sh(project, "git", "show", f"{exp[0]['rev']}:metrics/gmm.json"))["n_artworks"] == 120  # its results, committed
    assert stage_runs(mlflow_client(project), "tags.overrides = 'gmm.n_artworks=120'")


def test_dvc_exp_run_set_runs_the_stages_that_read_the_param(project, reproduced):
    """`dvc exp run -S` works on the same stages.

    Leaves gmm.n_artworks=150 applied in the workspace (as `dvc exp run` does): it runs after the tests that need the defaults.
    """
    paths = project[0]
    out = sh(project, "dvc", "exp", "run", "-S", "gmm.n_artworks=150")
    assert ran_stages(out) - {"evaluate"} == {"gmm", "report"}  # cnn, vae, gan, diffusion do not read gmm params
    assert json.loads(paths.metrics("gmm").read_text())["n_artworks"] == 150


def test_a_new_import_reruns_the_stage_when_the_imported_file_changes(project, reproduced):
    """A new import: the flow regenerates dvc.yaml's code deps before it keys its tasks, so an edit of the
    newly imported file reruns the stage (with the deps kept by hand it would stay Cached).

    Leaves the import in place: it runs after the tests that need an unchanged gmm stage.
    """
    paths = project[0]
    (paths.root / "oekaki/core/scratch_for_test.py").write_text("FACTOR = 1\n")
    stage_py = paths.root / "oekaki/stages/gmm/stage.py"
    stage_py.write_text(stage_py.read_text() + "\nfrom oekaki.core import scratch_for_test  # noqa: E402, F401\n")
    assert flow(project)["gmm"] == "Completed"
    assert "oekaki/core/scratch_for_test.py" in fingerprint.dep_paths(paths, "gmm")
    with open(paths.root / "oekaki/core/scratch_for_test.py", "a") as f:
        f.write("# an edit that changes no behaviour\n")
    assert flow(project)["gmm"] == "Completed"


def test_a_failed_run_restores_params_and_marks_the_mlflow_run_failed(project):
    paths = project[0]
    params_before = paths.params.read_text()
    out = sh(
        project,
        f"{VENV_BIN}/python",
        "-m",
        "flows.pipeline",
        "--set",
        "data.source=local",
        "--set",
        "data.local_dir=/nonexistent",
        expect=2,
    )
    assert "error: no usable source" in out and "data.local_dir = '/nonexistent': not a folder" in out
    assert paths.params.read_text() == params_before
    client = mlflow_client(project)
    exp = client.get_experiment_by_name("oekaki")
    failed = client.search_runs([exp.experiment_id], filter_string="tags.`oekaki.kind` = 'pipeline' and attributes.status = 'FAILED'")
    assert len(failed) == 1 and failed[0].data.tags["entry_point"] == "prefect"


def test_prefect_server_shows_cached_task_runs(project, prefect_api):
    req = urllib.request.Request(f"{prefect_api}/task_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        runs = json.load(resp)
    names = {(r["name"], r["state"]["name"]) for r in runs}
    assert {("download", "Cached"), ("gmm", "Cached"), ("cnn", "Cached"), ("report", "Cached"), ("gmm", "Completed")} <= names


def test_dask_task_runner_runs_vae_and_gan_in_parallel_processes(project, prefect_api):
    """orchestration.task_runner: dask, a configuration switch (docs/deployments.md, "Scaling out").

    Checked by outcome, not by timing: VAE and GAN are submitted in one wave (whether their runs then overlap
    depends on the machine's speed), every stage completes on the Dask workers, and the result is recorded
    exactly as a sequential run's.
    """
    from flows.pipeline import waves
    from oekaki.pipeline import runner

    paths = project[0]
    assert any({"vae", "gan"} <= set(wave) for wave in waves(paths, runner.stage_names(paths)))
    original = paths.params.read_text()
    paths.params.write_text(original.replace("task_runner: sequential", "task_runner: dask"))
    try:
        states = flow(project, "--force")
        assert set(states.values()) == {"Completed"} and set(states) == {"contributions", "source", *STAGES}
        dvc_clean(project)  # recorded like a sequential run
        req = urllib.request.Request(
            f"{prefect_api}/task_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            completed = {r["name"] for r in json.load(resp) if r["state"]["name"] == "Completed"}
        assert {"vae", "gan"} <= completed
        assert flow(project) == ALL_CACHED
    finally:
        paths.params.write_text(original)
