"""The Prefect cache key is the stage's DVC fingerprint: content change -> miss, no change -> hit,
deleted or altered output -> the outputs digest no longer matches (the flow re-runs the stage)."""

from __future__ import annotations

import os

import pytest

from oekaki.core.config import load_config
from oekaki.pipeline import fingerprint
from tests.conftest import copy_project


@pytest.fixture
def project(tmp_path):
    paths = copy_project(tmp_path)
    paths.prepared.parent.mkdir(parents=True, exist_ok=True)
    paths.prepared.write_bytes(b"images v1")
    return paths


def test_same_content_same_key(project):
    cfg = load_config(project.params)
    key = fingerprint.stage_key(project, "gmm", cfg)
    os.utime(project.prepared, (1, 1))  # a new mtime alone is not a change
    assert fingerprint.stage_key(project, "gmm", cfg) == key
    assert key.startswith("gmm-")


def test_changed_data_or_code_changes_the_key(project):
    cfg = load_config(project.params)
    key = fingerprint.stage_key(project, "gmm", cfg)
    project.prepared.write_bytes(b"images v2")
    assert fingerprint.stage_key(project, "gmm", cfg) != key
    key2 = fingerprint.stage_key(project, "gmm", cfg)
    (project.root / "oekaki" / "stages" / "gmm" / "stage.py").write_text("# changed\n", encoding="utf-8")
    assert fingerprint.stage_key(project, "gmm", cfg) != key2


def test_only_the_stages_own_params_matter(project):
    base = load_config(project.params)
    key = fingerprint.stage_key(project, "gmm", base)
    assert fingerprint.stage_key(project, "gmm", load_config(project.params, ["data.limit=50"])) == key
    assert fingerprint.stage_key(project, "gmm", load_config(project.params, ["gmm.n_artworks=500"])) != key


def test_deleted_or_altered_output_changes_the_outputs_digest(project):
    for rel in fingerprint.output_paths(project, "gmm"):
        target = project.root / rel
        if target.suffix:  # a file output
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x")
        else:
            target.mkdir(parents=True, exist_ok=True)
            (target / "a.png").write_bytes(b"png")
    digest = fingerprint.outs_digest(project, "gmm")
    assert None not in digest.values() and fingerprint.outs_digest(project, "gmm") == digest
    (project.figure_data("gmm") / "a.png").write_bytes(b"other")
    altered = fingerprint.outs_digest(project, "gmm")
    assert altered != digest
    (project.figure_data("gmm") / "a.png").unlink()
    (project.metrics("gmm")).unlink()
    assert fingerprint.outs_digest(project, "gmm")["metrics/gmm.json"] is None
