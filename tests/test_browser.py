"""The report in a real browser: Debian's chromium, headless, driven over the DevTools protocol.

`make test` installs chromium first (scripts/ensure-chromium.sh); without it this test skips
and says why, except under CI=true, where it fails (tests/conftest.py `need`). The screenshot
of the top of the page is kept under test-artifacts/ and logged to MLflow with the tiny
pipeline's run.
"""

from __future__ import annotations

import re
import shutil

import pytest

from oekaki.core.paths import PROJECT_ROOT
from tests.browser import check_page

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
SECTIONS = ["images-are-numbers", "painting-contest", "classification", "generation", "scoreboard", "model-registry", "provenance"]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_renders_offline_with_every_image_section_and_row(chromium, tiny_pipeline, tmp_path, lang):
    paths, uri, pipeline_run_id = tiny_pipeline
    shot = tmp_path / f"report-{lang}.png"
    page = check_page(paths.report_page(lang), screenshot=shot)
    assert page.console_errors == []
    assert page.requests == []  # everything is embedded: no network request at all
    assert page.lang == lang
    assert len(page.images) >= 25
    for image in page.images:
        assert image["complete"] and image["w"] > 0 and image["h"] > 0, image
    assert page.sections == SECTIONS
    assert page.rows == ["real", "untrained", "gmm", "vae", "gan", "diffusion"]
    if lang == "ja":
        assert all(JAPANESE.search(h) for h in page.headings), page.headings
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy2(shot, ARTIFACTS / shot.name)  # kept after the run

    from mlflow.tracking import MlflowClient

    from oekaki.pipeline.tracking import EXPERIMENT, PIPELINE_TAG

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    parent = client.search_runs([exp.experiment_id], f"tags.`{PIPELINE_TAG}` = '{pipeline_run_id}' and tags.`oekaki.kind` = 'pipeline'")[0]
    client.log_artifact(parent.info.run_id, str(shot), artifact_path="report-screenshots")
    assert shot.name in [a.path.split("/")[-1] for a in client.list_artifacts(parent.info.run_id, "report-screenshots")]
