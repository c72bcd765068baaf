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
SECTIONS = [
    "images-are-numbers",
    "painting-contest",
    "classification",
    "vit",
    "generation",
    "text-painter",
    "scoreboard",
    "model-registry",
    "contributions",
    "provenance",
]


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


def test_draw_correct_the_label_teach_and_the_same_drawing_again_is_a_duplicate(chromium, tmp_path, monkeypatch):
    """The app's teach (issue 36): draw, the judge's reading is pre-set, the person corrects it and presses teach; the page
    confirms with the store's id, the same drawing taught again is refused as a duplicate, and "forget" erases it.

    The app runs over an untrained judge and a SQLite store in tmp_path (tests/test_contribute_api.py): no training.
    It has no ViT either: the page says, in the catalog's words, that the ViT is not trained yet, and the CNN reads alone.
    """
    from tests.browser import Browser
    from tests.test_contribute_api import served, teach_app

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    app, store, _ = teach_app(tmp_path)
    teach_status = "document.querySelector('#teach-status')"
    with served(app) as url, Browser(1280, 1000) as b:
        b.open(url)
        b.wait_until("document.body.dataset.ready === 'true'")
        assert b.evaluate("document.querySelector('#teach').hidden")  # nothing drawn, nothing to teach
        x, y = b.centre_of("#pad")
        b.drag([(x + 2, y - 100 + 8 * i) for i in range(26)])
        read = int(b.wait_until("document.querySelector('#judge-answer').dataset.label"))
        vit_status = "document.querySelector('#vit-status')"
        assert b.wait_until(f"{vit_status}.dataset.t") == "app_vit_missing"  # the 503 said in words, not as an error
        missing = b.evaluate(f"{vit_status}.textContent")
        assert missing.startswith("The Vision Transformer is not trained yet") and "run `make run` first" in missing
        assert b.evaluate(f"!{vit_status}.classList.contains('error') && document.querySelector('#vit-answer').hidden")
        assert b.evaluate("document.querySelector('#teach-labels [aria-pressed=true]').textContent") == str(read)  # pre-set
        label = (read + 1) % 10  # the person corrects the judge
        b.click(*b.centre_of(f"#teach-labels button[data-digit='{label}']"))
        assert b.evaluate("[...document.querySelectorAll('#teach-labels [aria-pressed=true]')].map(e => e.textContent)") == [str(label)]
        b.click(*b.centre_of("#teach-button"))
        assert b.wait_until(f"{teach_status}.dataset.outcome") == "stored"
        token = b.evaluate("localStorage.getItem('oekaki-contributor-token')")
        rows = store.list(token)
        assert [(r["label"], r["judge_label"], r["model_version"]) for r in rows] == [(label, read, "dvc:models/cnn/model.pt")]
        assert f"#{rows[0]['id']}" in b.evaluate(f"{teach_status}.textContent")
        assert b.wait_until("document.querySelector('#teach-count').textContent").endswith("1.")
        b.screenshot(ARTIFACTS / "app-teach.png", full_page=True)

        b.wait_until("!document.querySelector('#teach-button').disabled")
        b.click(*b.centre_of("#teach-button"))  # the very same drawing again
        assert b.wait_until(f"{teach_status}.dataset.outcome !== 'stored' && {teach_status}.dataset.outcome") == "duplicate"
        assert "Already taught" in b.evaluate(f"{teach_status}.textContent") and store.count() == 1

        seven = "{kind: 'cnn', name: 'cnn-classifier', version: '7', alias: 'champion', contributed_digits: 1234}"  # a registry version
        b.evaluate(f"showSource(document.querySelector('#judge-source'), {seven})")
        source = b.evaluate("document.querySelector('#judge-source').textContent")
        assert "cnn-classifier version 7 (@champion) · trained on 1,234 contributed digits" in source

        b.click(*b.centre_of("#lang-switch"))
        assert b.wait_until("document.documentElement.lang") == "ja"
        assert b.evaluate("document.querySelector('#teach-button').textContent") == "教える"
        assert JAPANESE.search(b.evaluate(f"{vit_status}.textContent"))
        assert JAPANESE.search(b.evaluate(f"{teach_status}.textContent"))
        b.click(*b.centre_of("#forget-button"))
        assert b.wait_until(f"{teach_status}.dataset.outcome === 'erased'")
        assert store.count() == 0 and JAPANESE.search(b.evaluate(f"{teach_status}.textContent"))
        b.screenshot(ARTIFACTS / "app-teach-ja.png", full_page=True)
        seen = b.problems()
    # the missing painters' 503s and the duplicate's 409 are answers the page shows, not faults
    assert [e for e in seen.console_errors if "Failed to load resource" not in e] == []
    assert [u for u in seen.requests if not u.startswith(url)] == []
