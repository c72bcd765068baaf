"""dvc.yaml names paths and params literally; keep it in step with oekaki/paths.py and the config."""

from __future__ import annotations

import dataclasses

from oekaki import fingerprint, runner
from oekaki.config import SECTIONS
from oekaki.paths import project_paths

paths = project_paths()


def rel(p):
    return str(p.relative_to(paths.root))


def test_stages_match_the_pipeline():
    stages = fingerprint._dvc_stages(paths.dvc_yaml, paths.dvc_yaml.stat().st_mtime_ns)
    assert list(stages) == list(runner.PIPELINE)
    for name, spec in stages.items():
        assert spec["cmd"] == f"python -m oekaki stage {name}"


def test_outputs_match_paths_py():
    expected = {
        "source": {rel(paths.source_fingerprint)},
        "download": {rel(paths.raw_dir), rel(paths.prepared), rel(paths.figures("download")), rel(paths.metrics("download"))},
        "gmm": {rel(paths.gmm_dir), rel(paths.figures("gmm")), rel(paths.metrics("gmm")), rel(paths.plots_dir / "gmm_bic.json")},
        "cnn": {
            rel(paths.cnn_model),
            rel(paths.checkpoint("cnn").parent),
            rel(paths.figures("cnn")),
            rel(paths.metrics("cnn")),
            rel(paths.plots_dir / "cnn_history.json"),
        },
        "vae": {
            rel(paths.final_model("vae")),
            rel(paths.checkpoint("vae").parent),
            rel(paths.figures("vae")),
            rel(paths.metrics("vae")),
            rel(paths.plots_dir / "vae_history.json"),
        },
        "gan": {
            rel(paths.final_model("gan")),
            rel(paths.checkpoint("gan").parent),
            rel(paths.figures("gan")),
            rel(paths.metrics("gan")),
            rel(paths.plots_dir / "gan_history.json"),
        },
        "evaluate": {rel(paths.figures("evaluate")), rel(paths.metrics("evaluate"))},
        "report": {rel(paths.report_page("en")), rel(paths.report_page("ja")), rel(paths.report_summary), rel(paths.metrics("report"))},
    }
    for stage, outs in expected.items():
        declared = set(fingerprint.output_paths(paths, stage))
        if stage != "source":
            outs |= {rel(paths.provenance(stage))}
        assert declared == outs, stage


def test_declared_params_exist_and_cover_what_the_stage_logs():
    for stage in runner.PIPELINE:
        for key in fingerprint.dvc_stage(paths, stage).get("params", []):
            section, _, name = key.partition(".")
            assert section in SECTIONS, key
            if name:
                assert name in {f.name for f in dataclasses.fields(SECTIONS[section])}, key
    for stage, sections in runner.STAGE_SECTIONS.items():
        declared = fingerprint.dvc_stage(paths, stage)["params"]
        for section in sections:
            assert any(p == section or p.startswith(section + ".") for p in declared), (stage, section)


def test_stage_graph_comes_from_dvc_yaml():
    assert fingerprint.upstream_stages(paths, "source") == []
    assert fingerprint.upstream_stages(paths, "download") == ["source"]
    assert fingerprint.upstream_stages(paths, "report") == ["download", "gmm", "cnn", "vae", "gan", "evaluate", "promote"]
    assert fingerprint.upstream_stages(paths, "promote") == ["download", "cnn", "vae", "gan"]
    assert fingerprint.upstream_stages(paths, "vae") == fingerprint.upstream_stages(paths, "gan") == ["download", "cnn"]
    assert runner.with_upstream(paths, ["gmm"]) == ["source", "download", "gmm"]
    assert runner.with_upstream(paths, ["cnn", "gmm"]) == ["source", "download", "gmm", "cnn"]
    assert runner.with_upstream(paths, ["report"]) == list(runner.PIPELINE)
