"""dvc.yaml names paths and params literally; keep it in step with oekaki/core/paths.py and the config."""

from __future__ import annotations

from oekaki.core import contract
from oekaki.core.config import SECTIONS, load_config
from oekaki.core.paths import project_paths
from oekaki.pipeline import fingerprint, gate, runner

paths = project_paths()


def rel(p):
    return str(p.relative_to(paths.root))


def test_stages_match_the_pipeline():
    stages = fingerprint._dvc_stages(paths.dvc_yaml, paths.dvc_yaml.stat().st_mtime_ns)
    assert list(stages) == runner.stage_names(paths) == [
        "contributions", "source", "download", "gmm", "cnn", "vit", "vae", "gan", "diffusion", "autoencoder", "text_painter", "evaluate",
        "promote", "report",
    ]  # fmt: skip
    for name, spec in stages.items():
        assert spec["cmd"] == f"python -m oekaki stage {name}"


def painter_outs(stage: str) -> set[str]:
    """What a network painter's stage writes: model, scoreboard samples, checkpoints, figure data, metrics, history."""
    return {
        rel(paths.final_model(stage)),
        rel(paths.scoreboard_samples(stage)),
        rel(paths.checkpoint(stage).parent),
        rel(paths.figure_data(stage)),
        rel(paths.metrics(stage)),
        rel(paths.plots_dir / f"{stage}_history.json"),
    }


def test_outputs_match_paths_py():
    expected = {
        "contributions": {rel(paths.contributions_snapshot), rel(paths.contributions_manifest)},
        "source": {rel(paths.source_fingerprint), rel(gate.registry_state_file(paths))},
        "download": {rel(paths.raw_dir), rel(paths.prepared), rel(paths.figure_data("download")), rel(paths.metrics("download"))},
        "gmm": {rel(paths.gmm_dir), rel(paths.figure_data("gmm")), rel(paths.metrics("gmm")), rel(paths.plots_dir / "gmm_bic.json")},
        "cnn": {
            rel(paths.cnn_model),
            rel(paths.checkpoint("cnn").parent),
            rel(paths.figure_data("cnn")),
            rel(paths.metrics("cnn")),
            rel(paths.plots_dir / "cnn_history.json"),
        },
        "vae": painter_outs("vae"),
        "gan": painter_outs("gan"),
        "diffusion": painter_outs("diffusion"),
        "autoencoder": {
            rel(paths.final_model("autoencoder")),
            rel(paths.checkpoint("autoencoder").parent),
            rel(paths.figure_data("autoencoder")),
            rel(paths.metrics("autoencoder")),
            rel(paths.plots_dir / "autoencoder_history.json"),
        },
        "text_painter": painter_outs("text_painter"),
        "evaluate": {rel(paths.figure_data("evaluate")), rel(paths.metrics("evaluate"))},
        "promote": {rel(paths.promote_decision), rel(paths.metrics("promote")), rel(paths.headline_metrics)},
        "report": {
            rel(paths.figures_dir),
            rel(paths.report_page("en")),
            rel(paths.report_page("ja")),
            rel(paths.report_summary),
            rel(paths.metrics("report")),
        },
    }
    for stage, outs in expected.items():
        declared = set(fingerprint.output_paths(paths, stage))
        if stage not in runner.CHECK_STAGES:
            outs |= {rel(paths.provenance(stage))}
        assert declared == outs, stage


def test_declared_params_exist_and_cover_what_the_stage_logs():
    for stage in runner.stage_names(paths):
        for key in fingerprint.dvc_stage(paths, stage).get("params", []):
            section, _, name = key.partition(".")
            assert section in SECTIONS, key
            if name:
                assert name in SECTIONS[section].model_fields, key
    cfg = load_config(paths.params)
    for stage in runner.stage_names(paths):
        declared = fingerprint.dvc_stage(paths, stage).get("params", [])
        logged = runner.stage_params(cfg, paths, stage)  # what the stage's MLflow run records
        assert {k for k in logged if k in declared or k.split(".")[0] in declared} == set(logged), stage
        assert all(k in logged or any(name.startswith(k + ".") for name in logged) for k in declared), stage


def test_stage_graph_comes_from_dvc_yaml():
    assert fingerprint.upstream_stages(paths, "source") == []
    assert fingerprint.upstream_stages(paths, "download") == ["source"]
    assert fingerprint.upstream_stages(paths, "report") == [
        "contributions",
        "download",
        "gmm",
        "cnn",
        "vit",
        "vae",
        "gan",
        "diffusion",
        "autoencoder",
        "text_painter",
        "evaluate",
        "promote",
    ]
    assert fingerprint.upstream_stages(paths, "contributions") == []
    assert fingerprint.upstream_stages(paths, "promote") == [
        "contributions", "source", "download", "cnn", "vit", "vae", "gan", "diffusion", "text_painter",
    ]  # fmt: skip
    assert fingerprint.upstream_stages(paths, "text_painter") == ["contributions", "download", "cnn", "autoencoder"]
    assert fingerprint.upstream_stages(paths, "vit") == ["contributions", "download", "cnn"]
    assert fingerprint.upstream_stages(paths, "vae") == fingerprint.upstream_stages(paths, "gan") == ["contributions", "download", "cnn"]
    assert fingerprint.upstream_stages(paths, "diffusion") == ["contributions", "download", "cnn"]
    assert fingerprint.upstream_stages(paths, "cnn") == ["contributions", "download"]
    assert runner.with_upstream(paths, ["gmm"]) == ["source", "download", "gmm"]
    assert runner.with_upstream(paths, ["cnn", "gmm"]) == ["contributions", "source", "download", "gmm", "cnn"]
    assert runner.with_upstream(paths, ["report"]) == runner.stage_names(paths)


def test_history_with_unscored_epochs_renders_as_dvc_plots(tmp_path):
    """gan/vae score every eval_every-th epoch only: the plot file must still be one DVC data set."""
    import json
    import subprocess
    import sys

    rows = [{"step": e, "loss_d": 1.0 / e, **({"fid": 50.0 / e} if e % 2 == 0 else {})} for e in range(1, 6)]
    (tmp_path / "h.json").write_text(json.dumps(contract.plot_rows(rows)))
    (tmp_path / "dvc.yaml").write_text("plots:\n  - p:\n      x: step\n      y:\n        h.json: [loss_d, fid]\n")
    run = dict(cwd=tmp_path, capture_output=True, text=True, check=True)
    subprocess.run(["git", "init", "-q"], **run)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], **run)
    shown = json.loads(subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--json"], **run).stdout)
    values = shown["data"]["p"][0]["content"]["data"]["values"]
    fid = [v["dvc_inferred_y_value"] for v in values if v["field"] == "fid"]
    assert [v["dvc_inferred_y_value"] for v in values if v["field"] == "loss_d"] == [1.0 / e for e in range(1, 6)]
    assert fid == [None, 25.0, None, 12.5, None]  # unscored epochs are gaps, not a dropped file
    assert contract.plot_rows(rows)[0] == {"step": 1, "loss_d": 1.0, "fid": None}
