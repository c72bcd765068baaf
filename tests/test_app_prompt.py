"""The app's prompt box (issue 38): POST /api/paint-prompt paints four digits for a sentence in English or Japanese with
the text painter (oekaki/models/text_painter.py), says which tokens it read, and refuses bad prompts with a clear 422.

The painter is a tiny untrained one (random weights, the checkpoint format of the text_painter stage: the autoencoder's
checkpoint inside it, the bins, the data's digest): the reading, the answers and the loading are under test, not the
drawing, and nothing trains. It is the DVC-tracked models/text_painter/model.pt of a project folder with no registry,
or versions of `text-painter` in a fresh MLflow store for the hot reload. The browser check types prompts in chromium.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from oekaki.app.api import create_app, to_array
from oekaki.app.prompts import IMAGES as PROMPT_IMAGES
from oekaki.app.prompts import MAX_CHARS as MAX_PROMPT_CHARS
from oekaki.app.service import Models
from oekaki.core.checkpoints import load_checkpoint, save_checkpoint
from oekaki.core.locales import LANGUAGES
from oekaki.core.paths import PROJECT_ROOT, Paths
from oekaki.data.attributes import ATTRIBUTES, Bins
from oekaki.models import autoencoder, captions, text_painter
from oekaki.models.text_painter import TextPainterArgs

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
NAME = "text-painter"
MAX_TOKENS = 16
SMALL = {"text_width": 16, "text_layers": 1, "text_heads": 2, "channels": 16, "blocks": 1, "embed_size": 16, "sampler": "euler",
         "sample_steps": 2, "guidance": 2.0, "guidance_from": 0.0, "guidance_until": 1.0}  # fmt: skip


def checkpoint(seed: int = 0) -> dict:
    """A tiny untrained text painter in the text_painter stage's checkpoint format (its `payload`)."""
    torch.manual_seed(seed)
    ae = autoencoder.build({"channels": [8, 8], "latent_channels": 4})
    args = TextPainterArgs(vocab=captions.Tokenizer().tokens, max_tokens=MAX_TOKENS, latent_channels=4, latent_mean=(0.1,) * 4,
                           latent_std=(1.5,) * 4, **SMALL)  # fmt: skip
    denoiser = text_painter.build(args.as_dict())
    bins = Bins(np.tile(np.array([1.0, 2.0]), (10, len(ATTRIBUTES), 1)))
    return {
        "kind": "text_painter",
        "model_args": args.as_dict(),
        "model": denoiser.state_dict(),
        "autoencoder": {"kind": "autoencoder", "model_args": ae.args.as_dict(), "model": ae.state_dict()},
        "bins": bins.as_dict(),
        "data_sha256": "0" * 64,
    }


def project(root: Path, painter: bool = True) -> Paths:
    """A project folder whose only model is (or is not) a tiny text painter at models/text_painter/model.pt."""
    paths = Paths(root)
    if painter:
        save_checkpoint(paths.final_model("text_painter"), checkpoint())
    return paths


@pytest.fixture
def no_registry(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # no MLflow store: the DVC-tracked checkpoint answers


@pytest.fixture
def app(tmp_path, no_registry):
    paths = project(tmp_path / "project")
    models = Models(paths, "")
    return TestClient(create_app(models, "")), models, paths


def expected(paths: Paths, prompt: str, seed: int) -> np.ndarray:
    """What the pipeline's own painter draws for `prompt` (PROMPT_IMAGES copies of it) from `seed`."""
    painter = text_painter.from_checkpoint(load_checkpoint(paths.final_model("text_painter")))
    ids, _ = painter.tokens([prompt] * PROMPT_IMAGES)
    return painter.paint(ids, seed)


# ------------------------------------------------------------------ the answer
def test_a_prompt_paints_four_digits_and_names_the_tokens_it_read(app):
    client, _, paths = app
    r = client.post("/api/paint-prompt", json={"prompt": "a thick 7", "seed": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    images = to_array(body["images"])
    assert images.shape == (PROMPT_IMAGES, 28, 28) == (4, 28, 28)
    assert np.array_equal(images, expected(paths, "a thick 7", 3))  # the painter's own drawing, seed for seed
    assert len({im.tobytes() for im in images}) == 4  # four noises, four drawings
    assert body["tokens"] == ["a", "thick", "7"] and body["unknown"] == [] and "warning" not in body
    tok = captions.Tokenizer()
    assert body["ids"] == tok.encode("a thick 7", MAX_TOKENS)[0] and body["ids"][0] == captions.BOS
    assert (body["prompt"], body["seed"], body["max_tokens"]) == ("a thick 7", 3, MAX_TOKENS) and body["ms"] > 0
    source = body["source"]
    assert (source["kind"], source["path"], source["version"]) == ("text_painter", "models/text_painter/model.pt", None)
    assert source["text"] == "DVC checkpoint models/text_painter/model.pt"


def test_japanese_and_full_width_prompts_are_read_as_the_painter_reads_them(app):
    client, _, paths = app
    ja = client.post("/api/paint-prompt", json={"prompt": "右に傾いた3", "seed": 1}).json()
    assert ja["tokens"] == ["右に傾いた", "3"] and ja["unknown"] == []
    assert np.array_equal(to_array(ja["images"]), expected(paths, "右に傾いた3", 1))
    chained = client.post("/api/paint-prompt", json={"prompt": "太くて右に傾いた7", "seed": 1}).json()
    assert chained["tokens"] == ["太くて", "右に傾いた", "7"]
    wide = client.post("/api/paint-prompt", json={"prompt": "Ａ　ＴＨＩＣＫ　７", "seed": 1}).json()  # NFKC, lower case
    plain = client.post("/api/paint-prompt", json={"prompt": "a thick 7", "seed": 1}).json()
    assert wide["tokens"] == ["a", "thick", "7"] and wide["images"] == plain["images"]


def test_the_same_seed_paints_the_same_digits_and_another_seed_others(app):
    client, _, _ = app
    ask = lambda **kw: client.post("/api/paint-prompt", json={"prompt": "a narrow 8", **kw}).json()  # noqa: E731
    first, again, other, default = ask(seed=11), ask(seed=11), ask(seed=12), ask()
    assert first["images"] == again["images"]
    assert first["images"] != other["images"]
    assert default["seed"] == 0 and default["images"] == ask(seed=0)["images"]  # no seed: seed 0, as /api/paint


def test_unknown_words_are_left_out_and_named_and_the_rest_is_painted(app):
    client, _, _ = app
    r = client.post("/api/paint-prompt", json={"prompt": "a thick 7 please, thanks", "seed": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unknown"] == ["please", "thanks"] and body["tokens"] == ["a", "thick", "7", ","]
    assert body["warning"] == "not understood, so left out: \u201cplease\u201d, \u201cthanks\u201d"
    ja = client.post("/api/paint-prompt", json={"prompt": "かわいい3、かわいい", "seed": 4}).json()
    assert ja["unknown"] == ["かわいい"] and ja["tokens"] == ["3", "、"]  # an unknown run whole, and once
    left_out = client.post("/api/paint-prompt", json={"prompt": "a thick 7 please", "seed": 4}).json()
    plain = client.post("/api/paint-prompt", json={"prompt": "a thick 7", "seed": 4}).json()
    assert left_out["images"] == plain["images"]  # the unknown word changes nothing: it is not read


@pytest.mark.parametrize(
    "body, message",
    [
        ({"prompt": ""}, "prompt: empty"),
        ({"prompt": "   \u3000 "}, "prompt: empty"),  # white space only, full-width too
        ({"prompt": "thick " * 20 + "7"}, f"prompt: too long: 21 tokens; the painter reads at most {MAX_TOKENS - 1}"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, f"prompt: String should have at most {MAX_PROMPT_CHARS} characters"),
        ({"prompt": 7}, "prompt: Input should be a valid string"),
        ({}, "prompt: Field required"),
        ({"prompt": "a 7", "seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"prompt": "a 7", "seed": "1"}, "seed: Input should be a valid integer"),
        ({"prompt": "a 7", "n": 9}, "n: Extra inputs are not permitted"),
    ],
)
def test_bad_prompts_get_a_clear_422_and_nothing_else(app, body, message):
    client, _, _ = app
    r = client.post("/api/paint-prompt", json=body)
    assert r.status_code == 422 and message in r.json()["error"], r.text
    assert set(r.json()) == {"error"}


def test_a_prompt_with_no_word_the_painter_knows_is_refused_naming_them(app):
    """Painting it would paint the empty prompt (any digit): not what was asked, so a 422 that names the words."""
    client, _, _ = app
    r = client.post("/api/paint-prompt", json={"prompt": "Hello world, かわいい猫"})
    assert r.status_code == 422, r.text
    assert r.json()["unknown"] == ["hello", "world", "かわいい猫"]  # "," is known: it alone paints nothing
    assert "no word the painter knows" in r.json()["error"] and "\u201chello\u201d" in r.json()["error"]
    assert client.post("/api/paint-prompt", json={"prompt": "zzz"}).json() == {
        "error": "prompt: no word the painter knows (not understood: \u201czzz\u201d); try e.g. \u201ca thick 7\u201d",
        "unknown": ["zzz"],
    }


def test_info_tells_the_page_about_the_prompt_box_and_its_examples_paint(app):
    client, _, _ = app
    info = client.get("/api/info").json()
    prompt = info["prompt"]
    assert prompt["available"] and prompt["n"] == 4 and prompt["max_tokens"] == MAX_TOKENS
    assert {"a thick 7", "右に傾いた3"} <= set(prompt["examples"]) and any(JAPANESE.search(e) for e in prompt["examples"])
    assert info["limits"]["max_prompt_chars"] == MAX_PROMPT_CHARS
    assert info["sources"]["text_painter"]["path"] == "models/text_painter/model.pt" and "text_painter" not in info["missing"]
    for example in prompt["examples"]:  # written by the captions' templates: every word read
        body = client.post("/api/paint-prompt", json={"prompt": example}).json()
        assert body["unknown"] == [] and len(body["images"]) == 4, example


def test_without_a_text_painter_the_prompt_answers_503_saying_which_stage_makes_it(tmp_path, no_registry):
    models = Models(project(tmp_path / "project", painter=False), "")
    client = TestClient(create_app(models, ""))
    r = client.post("/api/paint-prompt", json={"prompt": "a thick 7"})
    assert r.status_code == 503 and set(r.json()) == {"error"}
    error = r.json()["error"]
    assert error.startswith("the text_painter model is not available: model 'text-painter'")
    assert "models/text_painter/model.pt is missing" in error and "`dvc repro text_painter`" in error and "`autoencoder`" in error
    assert client.post("/api/paint-prompt", json={"prompt": " "}).status_code == 422  # a bad prompt is bad without a model too
    info = client.get("/api/info").json()
    assert info["prompt"]["available"] is False and info["prompt"]["examples"]
    assert "dvc repro text_painter" in info["missing"]["text_painter"]  # the page's notice says it too


# ------------------------------------------------------------------ hot reload
def test_a_text_painter_champion_set_or_moved_is_served_without_a_restart(tmp_path, monkeypatch):
    """Models.check (what the watcher runs each poll), as for the judges: none at start (503), a champion set later is
    loaded, a champion moved is swapped in, and the answers say which version painted."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    store = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.create_experiment("oekaki", artifact_location=(tmp_path / "artifacts").as_uri())

    def register(seed: int) -> str:
        run = store.create_run(experiment).info.run_id
        ckpt = tmp_path / f"ckpt-{seed}" / "model.pt"
        save_checkpoint(ckpt, checkpoint(seed))
        store.log_artifact(run, str(ckpt), artifact_path="checkpoint")  # as Registry.log_model logs it
        if not store.search_registered_models(f"name='{NAME}'"):
            store.create_registered_model(NAME)
        return str(store.create_model_version(NAME, f"runs:/{run}/checkpoint", run_id=run).version)

    models = Models(Paths(tmp_path / "project"), "http://127.0.0.1:5000")  # nothing trained here
    client = TestClient(create_app(models, ""))
    ask = lambda: client.post("/api/paint-prompt", json={"prompt": "a thick 7", "seed": 2})  # noqa: E731
    assert ask().status_code == 503 and client.get("/api/info").json()["prompt"]["available"] is False
    first = register(1)
    assert models.check() == []  # registered is not promoted
    store.set_registered_model_alias(NAME, "champion", first)
    assert models.check() == ["text_painter"] and "text_painter" not in models.missing
    r = ask()
    assert r.status_code == 200 and (r.json()["source"]["version"], r.json()["source"]["alias"]) == (first, "champion")
    assert r.json()["source"]["run_url"].startswith("http://127.0.0.1:5000/#/experiments/")
    assert client.get("/api/info").json()["prompt"]["available"] is True
    second = register(2)
    store.set_registered_model_alias(NAME, "champion", second)
    assert models.check() == ["text_painter"]
    moved = ask().json()
    assert moved["source"]["version"] == second and moved["images"] != r.json()["images"]  # other weights paint
    assert [(s["kind"], s["from"], s["to"]) for s in models.swaps] == [("text_painter", None, first), ("text_painter", first, second)]
    assert models.check() == []


# ------------------------------------------------------------------ the page in chromium
def test_type_a_prompt_in_chromium_and_see_four_digits_and_the_tokens_read(chromium, tmp_path, no_registry):
    """Typed with the keyboard's text input (Input.insertText, what an IME commits), in English, then Japanese with a
    word the painter does not know; an example clicked; an empty prompt; the page in Japanese."""
    from tests.browser import Browser
    from tests.test_contribute_api import served

    models = Models(project(tmp_path / "project"), "")
    outcome = "document.querySelector('#prompt-status').dataset.outcome"
    with served(create_app(models, "")) as url, Browser(1280, 1000) as b:

        def paint(prompt: str) -> str:
            b.evaluate("document.querySelector('#prompt-text').value = ''; delete document.querySelector('#prompt-status').dataset.outcome")
            b.click(*b.centre_of("#prompt-text"))
            b.cdp.call("Input.insertText", text=prompt)
            b.click(*b.centre_of("#prompt-button"))
            return b.wait_until(outcome)

        b.open(url)
        b.wait_until("document.body.dataset.ready === 'true'")
        assert paint("a thick 7") == "painted"
        assert b.evaluate("document.querySelectorAll('#prompt-grid canvas').length") == 4
        assert b.evaluate("JSON.parse(document.querySelector('#prompt-tokens').dataset.tokens)") == ["a", "thick", "7"]
        chips = b.evaluate("[...document.querySelectorAll('#prompt-tokens .token')].map(e => e.textContent)")
        assert chips == ["a", "thick", "7"]
        assert b.evaluate("document.querySelector('#prompt-warning').hidden")
        assert "models/text_painter/model.pt" in b.evaluate("document.querySelector('#prompt-source').textContent")
        assert "4 digits" in b.evaluate("document.querySelector('#prompt-status').textContent")
        b.screenshot(ARTIFACTS / "app-prompt.png", full_page=True)

        assert paint("かわいい右に傾いた3") == "painted-unknown"
        assert b.evaluate("document.querySelectorAll('#prompt-grid canvas').length") == 4
        assert b.evaluate("JSON.parse(document.querySelector('#prompt-tokens').dataset.tokens)") == ["右に傾いた", "3"]
        warning = b.evaluate("document.querySelector('#prompt-warning').textContent")
        assert not b.evaluate("document.querySelector('#prompt-warning').hidden") and "かわいい" in warning, warning

        assert paint("") == "empty"
        assert b.evaluate("document.querySelectorAll('#prompt-grid canvas').length") == 0
        assert b.evaluate("document.querySelector('#prompt-status').classList.contains('error')")

        assert paint("hello") == "none"
        assert "hello" in b.evaluate("document.querySelector('#prompt-status').textContent")

        examples = b.evaluate("[...document.querySelectorAll('#prompt-examples button')].map(e => e.textContent)")
        assert {"a thick 7", "右に傾いた3"} <= set(examples)
        b.evaluate("delete document.querySelector('#prompt-status').dataset.outcome")
        b.click(*b.centre_of(f"#prompt-examples button:nth-child({examples.index('右に傾いた3') + 1})"))
        assert b.wait_until(outcome) == "painted"
        assert b.evaluate("document.querySelector('#prompt-text').value") == "右に傾いた3"
        assert b.evaluate("document.querySelectorAll('#prompt-grid canvas').length") == 4

        b.click(*b.centre_of("#lang-switch"))
        assert b.wait_until("document.documentElement.lang") == "ja"
        for selector in ("#prompt h2", "#prompt-button", "#prompt-status", "#prompt-tokens"):
            assert JAPANESE.search(b.evaluate(f"document.querySelector('{selector}').textContent")), selector
        assert JAPANESE.search(b.evaluate("document.querySelector('#prompt-text').placeholder"))
        b.screenshot(ARTIFACTS / "app-prompt-ja.png", full_page=True)
        seen = b.problems()
    # the page's other parts ask nothing until a drawing; the prompts' 422 ("hello") is an answer the page shows
    assert [e for e in seen.console_errors if "Failed to load resource" not in e] == []
    assert [u for u in seen.requests if not u.startswith(url)] == []


def test_the_prompt_words_exist_in_every_language():
    from oekaki.app.words import page_words

    words = page_words()
    for lang in LANGUAGES:
        assert {"app_h_prompt", "app_prompt_unknown", "app_prompt_missing"} <= set(words[lang])
        assert "{words}" in words[lang]["app_prompt_unknown"] and "{reason}" in words[lang]["app_prompt_missing"]
