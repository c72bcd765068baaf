"""The draw-it-yourself app (oekaki/app): preprocessing, the API on the tiny pipeline's models, the page in chromium.

The API tests use FastAPI's TestClient; the browser test starts the app with uvicorn on a free
127.0.0.1 port, draws a "1" with mouse events on the canvas (read by the CNN and by the ViT, whose
attention is drawn over it) and asks the GAN for sevens. The trained ViT is the tiny pipeline's own
(its `vit` stage on tests/conftest.py's TINY profile), as the CNN is.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from oekaki.app import drawing
from oekaki.app.api import MAX_BODY, MAX_SAMPLES, STATIC, create_app, to_array
from oekaki.app.serve import bind, mlflow_ui_url, server, url_of
from oekaki.app.service import Models, painter_names
from oekaki.app.words import APP_PREFIX, page_words
from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.constants import NETWORK_PAINTERS, PAINTERS
from oekaki.core.contract import stage_results
from oekaki.core.io import read_json
from oekaki.core.locales import LANGUAGES, catalog
from oekaki.core.paths import PROJECT_ROOT, Paths
from oekaki.models import vit
from oekaki.models.judge import Judge
from oekaki.models.loading import NETWORKS, load_network
from oekaki.pipeline.champions import REGISTERED
from oekaki.pipeline.tracking import Registry
from tests.browser import Browser

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
UI = "http://127.0.0.1:5000"


def canvas(draw) -> np.ndarray:
    """Ink (280, 280) drawn by `draw(ImageDraw)` in white on black (paper 0)."""
    img = Image.new("L", (drawing.CANVAS, drawing.CANVAS), 0)
    draw(ImageDraw.Draw(img))
    return np.asarray(img)


def one() -> str:
    return drawing.encode_canvas(canvas(lambda d: d.line([(140, 40), (140, 240)], fill=255, width=22)))


def seven() -> str:
    return drawing.encode_canvas(canvas(lambda d: d.line([(70, 50), (210, 50), (120, 240)], fill=255, width=20, joint="curve")))


# ------------------------------------------------------------------ preprocessing (no models)
def test_a_small_off_centre_digit_is_scaled_to_20_pixels_and_mass_centred():
    ink = canvas(lambda d: d.line([(20, 20), (60, 20), (35, 75)], fill=255, width=8))  # a small 7 in the top-left corner
    digit = drawing.read_drawing(drawing.encode_canvas(ink))
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    top, bottom, left, right = drawing.bounding_box(digit)
    assert max(bottom - top, right - left) == 20  # the longer side fills MNIST's 20-pixel box
    h, w = np.ptp(np.nonzero(ink)[0]) + 1, np.ptp(np.nonzero(ink)[1]) + 1
    assert (right - left) / (bottom - top) == pytest.approx(w / h, abs=0.1)  # the aspect ratio is kept
    cy, cx = drawing.centre_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # centred by centre of mass, as MNIST
    assert digit.max() >= 200


def test_a_vertical_stroke_keeps_its_aspect_and_a_wide_one_too():
    tall = drawing.read_drawing(one())
    top, bottom, left, right = drawing.bounding_box(tall)
    assert bottom - top == 20 and right - left <= 4
    wide = drawing.read_drawing(drawing.encode_canvas(canvas(lambda d: d.line([(30, 200), (250, 200)], fill=255, width=22))))
    top, bottom, left, right = drawing.bounding_box(wide)
    assert right - left == 20 and bottom - top <= 4


def test_the_canvas_reads_dark_ink_on_light_paper_and_transparent_paper():
    ink = canvas(lambda d: d.ellipse([100, 100, 180, 200], outline=255, width=16))
    light = drawing.decode_canvas(drawing.encode_canvas(ink))
    assert np.array_equal(light, ink)
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = ink  # black ink on a transparent canvas
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    assert np.array_equal(drawing.decode_canvas(drawing.PNG_PREFIX + base64.b64encode(buf.getvalue()).decode()), ink)


def _data_url(img: Image.Image, fmt: str, prefix: str = drawing.PNG_PREFIX) -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return prefix + base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(
    "data_url, message",
    [
        (drawing.encode_canvas(np.zeros((280, 280), np.uint8)), "the canvas is empty"),
        (drawing.encode_canvas(np.full((28, 28), 255, np.uint8)), "28x28 pixels; the canvas is 280x280"),
        (_data_url(Image.new("L", (280, 280), 255), "JPEG", "data:image/jpeg;base64,"), "expected a PNG data URL"),
        (_data_url(Image.new("L", (280, 280), 255), "GIF"), "not a PNG file"),
        (drawing.PNG_PREFIX + "not base64!", "not valid base64"),
        (drawing.PNG_PREFIX + "iVBORw0KGgoAAAANSUhEUgAA", "not a readable PNG"),  # a truncated PNG
    ],
)
def test_bad_drawings_are_named(data_url, message):
    with pytest.raises(drawing.BadDrawing, match=message):
        drawing.read_drawing(data_url)


def test_the_page_gets_exactly_the_words_it_names_in_every_language():
    """The words /api/info hands the page are the keys index.html and app.js name (and a name per painter), no more."""
    named = set(re.findall(r'data-t="(\w+)"', (STATIC / "index.html").read_text()))
    named |= set(re.findall(r'"((?:app|col|row)_\w+)"', (STATIC / "app.js").read_text()))
    named |= {f"row_{name}" for name in painter_names()}  # app.js: painterName, `row_${name}`
    words = page_words()
    assert set(words) == set(LANGUAGES)
    for lang, table in words.items():
        assert set(table) == named, (lang, set(table) ^ named)
        assert table == {k: catalog(lang)[k] for k in named}, lang
    assert {k for k in catalog("en") if k.startswith(APP_PREFIX)} <= named  # every app_ word is on the page


def test_the_page_loads_nothing_from_elsewhere():
    for name in ("index.html", "app.js", "app.css"):
        text = (STATIC / name).read_text()
        assert not re.search(r"https?://|//cdn|@import", text), name


def test_the_painters_are_the_scoreboards_that_have_a_model():
    assert painter_names() == tuple(p for p in PAINTERS if p == "gmm" or (p in NETWORK_PAINTERS and p in NETWORKS))
    assert {"gmm", "vae", "gan"} <= set(painter_names()) and "untrained" not in painter_names()


# ------------------------------------------------------------------ the API on the tiny pipeline
def _client(paths: Paths) -> tuple[TestClient, Models]:
    models = Models(paths, mlflow_ui_url(paths))
    return TestClient(create_app(models, UI)), models


@pytest.fixture(scope="module")
def champion(tiny_pipeline, tmp_path_factory):
    """The app over a copy of the tiny pipeline's registry, every model with a `champion` (its candidate).

    A copy: aliases moved here must not reach other modules' tests (which expect no champion yet).
    Every registered model, the ViT too: its candidate is the version the tiny pipeline's stage registered.
    """
    paths, uri, _ = tiny_pipeline
    copy = tmp_path_factory.mktemp("app-registry") / "mlflow.db"
    shutil.copy2(uri.removeprefix("sqlite:///"), copy)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{copy}")
        registry = Registry(paths)
        decided = {row["model"]: row["candidate"]["version"] for row in read_json(paths.promote_decision)["models"].values()}
        for name in REGISTERED.values():
            registry.set_alias(name, "champion", decided.get(name) or registry.alias_version(name, "candidate"))
        client, models = _client(paths)
    return client, models, paths


def test_info_names_every_model_by_its_registry_version_and_mlflow_run(champion):
    client, _, _ = champion
    r = client.get("/api/info")
    assert r.status_code == 200
    info = r.json()
    assert info["missing"] == {} and info["notices"] == []
    assert [p["name"] for p in info["painters"]] == list(painter_names()) and all(p["available"] for p in info["painters"])
    named = (
        ("cnn", "cnn-classifier"),
        ("vit", "vit-classifier"),
        ("vae", "vae"),
        ("gan", "gan-generator"),
        ("text_painter", "text-painter"),
    )
    for kind, name in named:
        src = info["sources"][kind]
        assert src["name"] == name and src["version"] and src["alias"] == "champion" and src["path"] is None
        assert src["run_url"] == f"{UI}/#/experiments/{src['run_url'].split('/')[-3]}/runs/{src['run_id']}"
    assert info["sources"]["gmm"]["path"] == "data/gmm/digit_model.npz"
    assert info["words"] == page_words()


def test_the_page_and_its_files(champion):
    client, _, _ = champion
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<canvas id="pad" width="280" height="280"' in page.text
    assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/app.css").status_code == 200
    assert client.get("/static/../params.yaml").status_code == 404  # no file is read from a request
    assert client.get("/docs").status_code == 404  # FastAPI's docs page would load a CDN


def test_judge_reads_a_one_with_the_pipelines_judge(champion):
    client, _, paths = champion
    r = client.post("/api/judge", json={"image": one()})
    assert r.status_code == 200, r.text
    body = r.json()
    digit = to_array(body["digit"])
    assert digit.shape == (28, 28) and np.array_equal(digit, drawing.read_drawing(one()))
    probs = np.array(body["probs"])
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1) and body["label"] == probs.argmax()
    expected = Judge.load(paths.cnn_model).judge(digit[None]).probs[0]  # the champion is this run's judge
    assert np.allclose(probs, expected, atol=1e-6)
    channels = load_checkpoint(paths.cnn_model)["model_args"]["channels"]
    shown = [(m["block"], m["size"], len(m["channels"])) for m in body["maps"]]
    assert shown == [(1, 14, min(channels[0], 64)), (2, 7, min(channels[1], 64))]
    assert to_array(body["maps"][0]["channels"][0]).shape == (14, 14)
    assert body["source"]["alias"] == "champion" and body["ms"] > 0
    assert set(body) == {"digit", "label", "probs", "maps", "ms", "source"}  # the CNN's answer as before the ViT came


def test_the_vit_reads_a_one_and_says_where_it_looked(champion):
    """POST /api/vit: the second judge's probabilities (the pipeline's ViT read through the Judge, as the scoreboard reads
    it) and its attention rollout over the patches, grid x grid summing to 1."""
    import torch

    client, _, paths = champion
    r = client.post("/api/vit", json={"image": one()})
    assert r.status_code == 200, r.text
    body = r.json()
    digit = to_array(body["digit"])
    assert np.array_equal(digit, drawing.read_drawing(one()))  # the digit the CNN reads too
    probs = np.array(body["probs"])
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1, abs=1e-12) and body["label"] == probs.argmax()
    model = vit.from_checkpoint(load_checkpoint(paths.vit_model))  # the champion is this run's ViT
    assert np.allclose(probs, Judge(model).judge(digit[None]).probs[0], atol=1e-5)
    grid = 28 // model.args.patch
    rollout = np.array(body["rollout"])
    assert (body["grid"], body["patch"]) == (grid, model.args.patch) and rollout.shape == (grid, grid)
    assert rollout.sum() == pytest.approx(1, abs=1e-9) and rollout.min() >= 0
    _, attentions = model.attention_maps(model.normalize(torch.from_numpy(digit[None])))
    assert np.allclose(rollout.ravel(), vit.attention_rollout(attentions)[0].numpy(), atol=1e-6)
    source = body["source"]
    assert (source["name"], source["alias"], source["kind"]) == ("vit-classifier", "champion", "vit") and body["ms"] > 0


def test_style_redraws_the_drawing_as_every_digit(champion):
    client, models, paths = champion
    r = client.post("/api/style", json={"image": seven()})
    assert r.status_code == 200, r.text
    body = r.json()
    images = to_array(body["images"])
    assert images.shape == (10, 28, 28) and body["label_from"] == "judge" and body["label"] == models.classify(to_array(body["digit"]))
    import torch

    from oekaki.models.vae import style_transfer

    vae = load_network(load_checkpoint(paths.final_model("vae")))
    digit = to_array(body["digit"])
    assert np.array_equal(images, style_transfer(vae, torch.from_numpy(digit[None]), torch.tensor([body["label"]]))[0])
    given = client.post("/api/style", json={"image": seven(), "label": 3}).json()
    assert given["label"] == 3 and given["label_from"] == "request"


@pytest.mark.parametrize("painter", painter_names())
def test_every_painter_answers_like_the_pipelines_sampler(champion, painter):
    client, _, paths = champion
    r = client.post("/api/paint", json={"painter": painter, "label": 7, "n": 12, "seed": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    images = to_array(body["images"])
    assert images.shape == (12, 28, 28) and body["ms"] > 0 and body["source"]["kind"] == painter
    from oekaki.models.painters import draw

    with np.load(paths.prepared) as npz:
        test = (npz["test_images"], npz["test_labels"])
    import torch

    expected, _ = draw(painter, paths, np.full(12, 7), 5, torch.device("cpu"), test)  # what the scoreboard samples
    assert np.array_equal(images, expected)
    again = client.post("/api/paint", json={"painter": painter, "label": 7, "n": 12, "seed": 5}).json()
    assert again["images"] == body["images"]  # the same seed draws the same digits
    if painter == "diffusion":  # the noise-to-digit path of the first drawing: noise first, that very drawing last
        path = to_array(body["path"])
        steps = stage_results(paths, "diffusion")["sample_steps"]  # a setting: in the provenance facts
        assert path.shape == (min(8, steps + 1), 28, 28) and np.array_equal(path[-1], images[0])
        assert 100 < path[0].mean() < 155 and path[0].std() > 60  # Gaussian noise in pixels, not a digit
    else:
        assert "path" not in body


def test_the_text_painter_paints_a_prompt_like_the_pipelines_painter(champion):
    """POST /api/paint-prompt on the tiny pipeline's own text painter (its champion): the painter's drawing for the
    prompt, seed for seed, in English and Japanese (the prompt box itself: tests/test_app_prompt.py)."""
    from oekaki.models import text_painter

    client, _, paths = champion
    painter = text_painter.from_checkpoint(load_checkpoint(paths.final_model("text_painter")))  # the champion is this run's
    for prompt in ("a thick 7", "右に傾いた3"):
        r = client.post("/api/paint-prompt", json={"prompt": prompt, "seed": 5})
        assert r.status_code == 200, r.text
        body = r.json()
        ids, _ = painter.tokens([prompt] * 4)
        assert np.array_equal(to_array(body["images"]), painter.paint(ids, 5)) and body["unknown"] == []
        assert (body["source"]["name"], body["source"]["alias"]) == ("text-painter", "champion")


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        ("/api/judge", {"image": drawing.encode_canvas(np.zeros((280, 280), np.uint8))}, 422, "the canvas is empty"),
        ("/api/judge", {"image": drawing.encode_canvas(np.full((100, 100), 255, np.uint8))}, 422, "100x100 pixels"),
        ("/api/judge", {"image": "data:image/jpeg;base64,/9j/4AAQ"}, 422, "expected a PNG data URL"),
        ("/api/judge", {"image": 7}, 422, "image: Input should be a valid string"),
        ("/api/judge", {}, 422, "image: Field required"),
        ("/api/judge", {"image": "x", "path": "/etc/passwd"}, 422, "path: Extra inputs are not permitted"),
        ("/api/vit", {"image": drawing.encode_canvas(np.zeros((280, 280), np.uint8))}, 422, "the canvas is empty"),
        ("/api/vit", {}, 422, "image: Field required"),
        ("/api/style", {"image": "x", "label": 10}, 422, "label: Input should be less than or equal to 9"),
        ("/api/paint", {"painter": "gan", "label": 10}, 422, "label: Input should be less than or equal to 9"),
        ("/api/paint", {"painter": "gan", "label": -1}, 422, "label: Input should be greater than or equal to 0"),
        ("/api/paint", {"painter": "gan", "label": "7"}, 422, "label: Input should be a valid integer"),
        ("/api/paint", {"painter": "dcgan", "label": 7}, 422, "unknown painter 'dcgan'; choose gmm"),
        ("/api/paint", {"painter": "../models/gan/model.pt", "label": 7}, 422, "unknown painter"),
        ("/api/paint", {"painter": "gan", "label": 7, "n": MAX_SAMPLES + 1}, 422, "n: Input should be less than or equal to 64"),
        ("/api/paint", {"painter": "gan", "label": 7, "n": 0}, 422, "n: Input should be greater than or equal to 1"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_nothing_else(champion, path, body, status, message):
    client, _, _ = champion
    r = client.post(path, json=body)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert set(r.json()) == {"error"}


def test_a_body_over_64_kb_is_refused_before_it_is_parsed(champion):
    client, _, _ = champion
    big = b'{"image": "' + b"A" * MAX_BODY + b'"}'
    r = client.post("/api/judge", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over 64 KB" in r.json()["error"]
    r = client.post("/api/judge", content=b"{not json" + b" " * MAX_BODY, headers={"content-type": "application/json"})
    assert r.status_code == 413  # not parsed: not a JSON error

    def streamed():  # no Content-Length: counted as it arrives
        yield b'{"image": "'
        for _ in range(20):
            yield b"A" * 4096
        yield b'"}'

    r = client.post("/api/judge", content=streamed(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over 64 KB" in r.json()["error"]
    assert client.post("/api/judge", content=b"image=x", headers={"content-type": "text/plain"}).status_code == 415
    r = client.post("/api/judge", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]


# ------------------------------------------------------------------ fallback and missing models
def test_no_champion_in_the_registry_falls_back_to_the_dvc_checkpoints_with_a_notice(tiny_pipeline, tmp_path, monkeypatch):
    paths, uri, _ = tiny_pipeline
    copy = tmp_path / "mlflow.db"  # the registry as it is, less every champion (the shared store is not touched)
    shutil.copy2(uri.removeprefix("sqlite:///"), copy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{copy}")
    registry = Registry(paths)
    for name in REGISTERED.values():
        if registry.alias_version(name, "champion"):
            registry.client.delete_registered_model_alias(name, "champion")
    client, _ = _client(paths)
    info = client.get("/api/info").json()
    assert {n["kind"] for n in info["notices"]} == {"cnn", "vit", "vae", "gan", "diffusion", "text_painter"}
    assert all("has no 'champion' version in the registry yet" in n["detail"] for n in info["notices"])
    assert info["sources"]["gan"] == {**info["sources"]["gan"], "version": None, "path": "models/gan/model.pt", "run_url": None}
    r = client.post("/api/paint", json={"painter": "gan", "label": 3, "n": 4})
    assert r.status_code == 200 and r.json()["source"]["text"] == "DVC checkpoint models/gan/model.pt"
    r = client.post("/api/vit", json={"image": one()})
    assert r.status_code == 200 and r.json()["source"]["text"] == "DVC checkpoint models/vit/model.pt"
    fallback = re.findall(r"\{(\w+)\}", page_words()["en"]["app_notice_fallback"])  # what the page fills in
    assert fallback and all(n[field] for n in info["notices"] for field in fallback)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")  # no registry entry at all
    client, _ = _client(paths)
    notices = client.get("/api/info").json()["notices"]
    names = ("cnn-classifier", "vit-classifier", "vae", "gan-generator", "diffusion", "text-painter")
    assert [n["detail"] for n in notices] == [f"no registry entry for {n}" for n in names]


def partial_workspace(paths: Paths, tmp_path, monkeypatch, rels: tuple[str, ...]):
    """An app client on a copy of params.yaml and only `rels` of the tiny pipeline's outputs, with an empty registry."""
    root = tmp_path / "workspace"
    for rel in ("params.yaml", *rels):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(paths.root / rel, root / rel)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    return _client(Paths(root))[0]


def test_a_missing_model_is_a_message_and_a_503_not_a_crash(tiny_pipeline, tmp_path, monkeypatch):
    # the trained outputs, less the GAN and the judge
    client = partial_workspace(tiny_pipeline[0], tmp_path, monkeypatch, ("models/vae/model.pt", "data/gmm/digit_model.npz"))
    info = client.get("/api/info").json()
    assert set(info["missing"]) == {"cnn", "vit", "gan", "diffusion", "text_painter"} and "run `make run` first" in info["missing"]["gan"]
    assert {p["name"]: p["available"] for p in info["painters"]} == {p: p not in ("gan", "diffusion") for p in painter_names()}
    assert client.get("/").status_code == 200
    r = client.post("/api/paint", json={"painter": "gan", "label": 7})
    assert r.status_code == 503 and "the gan model is not available" in r.json()["error"]
    for path in ("/api/judge", "/api/style"):
        r = client.post(path, json={"image": one()})
        assert r.status_code == 503 and "the cnn model is not available" in r.json()["error"]
    assert client.post("/api/paint", json={"painter": "gmm", "label": 7, "n": 2}).status_code == 200
    r = client.post("/api/paint-prompt", json={"prompt": "a thick 7"})
    assert r.status_code == 503 and "`dvc repro text_painter`" in r.json()["error"]  # which stage makes it


def test_without_a_trained_vit_the_cnn_reads_alone_and_the_vit_answers_503(tiny_pipeline, tmp_path, monkeypatch):
    # the trained outputs, less the ViT (a checkout from before the vit stage ran)
    client = partial_workspace(tiny_pipeline[0], tmp_path, monkeypatch, ("models/cnn/model.pt", "models/vae/model.pt"))
    info = client.get("/api/info").json()
    assert "vit" in info["missing"] and "cnn" not in info["missing"]
    assert "models/vit/model.pt is missing: run `make run` first" in info["missing"]["vit"]
    assert client.post("/api/judge", json={"image": one()}).status_code == 200  # the CNN reads as before
    r = client.post("/api/vit", json={"image": one()})
    assert r.status_code == 503 and r.json()["error"].startswith("the vit model is not available: model 'vit-classifier'")
    for lang in LANGUAGES:  # what the page says then, in words of the catalog (static/app.js fills in the reason)
        assert "{reason}" in info["words"][lang]["app_vit_missing"]


VIT_ARGS = {"patch": 7, "width": 8, "depth": 1, "heads": 2, "mlp_ratio": 1, "stem": 0, "mean": 0.13, "std": 0.31}


def test_a_vit_champion_set_or_moved_is_served_without_a_restart(tmp_path, monkeypatch):
    """Hot reload (Models.check, what the watcher runs each poll) for the ViT as for the CNN: none at start (503), a
    champion set later is loaded, a champion moved is swapped in. Small untrained ViTs: the loading is under test."""
    import torch
    from mlflow.tracking import MlflowClient

    from oekaki.core.checkpoints import save_checkpoint

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    store = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = store.create_experiment("oekaki", artifact_location=(tmp_path / "artifacts").as_uri())

    def register(seed: int) -> str:
        run = store.create_run(experiment).info.run_id
        torch.manual_seed(seed)
        ckpt = tmp_path / f"ckpt-{seed}" / "model.pt"
        save_checkpoint(ckpt, {"kind": "vit", "model_args": VIT_ARGS, "model": vit.build(VIT_ARGS).state_dict()})
        store.log_artifact(run, str(ckpt), artifact_path="checkpoint")
        if not store.search_registered_models("name='vit-classifier'"):
            store.create_registered_model("vit-classifier")
        return str(store.create_model_version("vit-classifier", f"runs:/{run}/checkpoint", run_id=run).version)

    client, models = _client(Paths(tmp_path / "project"))  # nothing trained here
    assert client.post("/api/vit", json={"image": one()}).status_code == 503
    first = register(1)
    assert models.check() == []  # registered is not promoted
    store.set_registered_model_alias("vit-classifier", "champion", first)
    assert models.check() == ["vit"] and "vit" not in models.missing
    r = client.post("/api/vit", json={"image": one()})
    assert r.status_code == 200 and r.json()["source"]["version"] == first and np.array(r.json()["rollout"]).shape == (4, 4)
    second = register(2)
    store.set_registered_model_alias("vit-classifier", "champion", second)
    assert models.check() == ["vit"]
    moved = client.post("/api/vit", json={"image": one()}).json()
    assert moved["source"]["version"] == second and moved["probs"] != r.json()["probs"]  # other weights answer
    assert [(s["kind"], s["from"], s["to"]) for s in models.swaps] == [("vit", None, first), ("vit", first, second)]
    assert models.check() == []


# ------------------------------------------------------------------ the page in chromium
@pytest.fixture
def live_app(champion):
    """The champion app served by uvicorn on a free 127.0.0.1 port, in a thread."""
    _, models, _ = champion
    sock = bind("127.0.0.1", 0)
    srv = server(create_app(models, UI), log_level="warning")
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield url_of(sock)
    srv.should_exit = True
    thread.join(10)
    sock.close()


def test_draw_a_one_in_chromium_then_japanese_then_sevens_from_the_gan(live_app, chromium, champion):
    shots = ARTIFACTS
    with Browser(1280, 1000) as b:
        b.open(live_app)
        b.wait_until("document.body.dataset.ready === 'true'")
        x, y = b.centre_of("#pad")
        b.drag([(x + 2, y - 100 + 8 * i) for i in range(26)])  # a vertical stroke, 200 pixels, top to bottom
        label = b.wait_until("document.querySelector('#judge-answer').dataset.label")
        bars = b.evaluate("[...document.querySelectorAll('#probs .bar')].map(e => +e.dataset.prob)")
        assert label == "1" and len(bars) == 10 and int(np.argmax(bars)) == 1, bars  # shown: a 1, the highest bar
        assert "1" in b.evaluate("document.querySelector('#judge-answer').textContent")
        assert b.wait_until("document.querySelectorAll('#style-grid canvas').length") == 10
        assert b.evaluate("document.querySelectorAll('#maps1 canvas').length") > 0
        assert b.evaluate("document.querySelectorAll('#maps2 canvas').length") > 0
        assert "@champion" in b.evaluate("document.querySelector('#judge-source').textContent")
        # the ViT's reading beside the CNN's, and its attention over the digit (heat in the warmest patch, grid from the model)
        assert b.wait_until("document.querySelector('#vit-answer').dataset.label") == "1"
        vit_bars = b.evaluate("[...document.querySelectorAll('#vit-probs .bar')].map(e => +e.dataset.prob)")
        assert len(vit_bars) == 10 and int(np.argmax(vit_bars)) == 1 and sum(vit_bars) == pytest.approx(1), vit_bars
        assert "1" in b.evaluate("document.querySelector('#vit-answer').textContent")
        heat = b.evaluate(
            "(() => { const c = document.querySelector('#vit-attention'), g = +c.dataset.grid, w = +c.dataset.warmest;"
            " const cell = c.width / g, x = (w % g + 0.5) * cell, y = (Math.floor(w / g) + 0.5) * cell;"
            " return [g, ...c.getContext('2d').getImageData(x + 2, y + 2, 1, 1).data]; })()"
        )
        patch = load_checkpoint(champion[2].vit_model)["model_args"]["patch"]
        assert heat[0] == 28 // patch and heat[1] - heat[3] > 100, heat  # the heat colour (orange) over grey or black
        assert not b.evaluate("document.querySelector('#vit-attention-block').hidden")
        assert "vit-classifier" in b.evaluate("document.querySelector('#vit-source').textContent")
        assert b.evaluate("document.querySelector('#judge-source a').href").startswith(f"{UI}/#/experiments/")
        b.screenshot(shots / "app-en.png", full_page=True)

        b.click(*b.centre_of("#lang-switch"))
        assert b.wait_until("document.documentElement.lang") == "ja"
        headings = b.evaluate("[...document.querySelectorAll('h1, h2')].map(h => h.textContent)")
        ja = page_words()["ja"]
        assert headings == [ja[k] for k in ("app_title", "app_h_draw", "app_h_judge", "app_h_style", "app_h_paint", "app_h_prompt")]
        assert all(JAPANESE.search(h) for h in headings)
        assert JAPANESE.search(b.evaluate("document.querySelector('#judge-answer').textContent"))  # answers switch too
        assert JAPANESE.search(b.evaluate("document.querySelector('#vit-attention-caption').textContent"))

        b.evaluate("document.querySelector('#painter').value = 'gan'; document.querySelector('#digit').value = '7'")
        b.click(*b.centre_of("#paint-button"))
        assert b.wait_until("document.querySelectorAll('#paint-grid canvas').length") == 16
        assert "gan-generator" in b.evaluate("document.querySelector('#paint-source').textContent")
        assert JAPANESE.search(b.evaluate("document.querySelector('#paint-status').textContent"))
        b.screenshot(shots / "app-ja-gan-7.png", full_page=True)
        seen = b.problems()
        assert seen.console_errors == []
        assert [u for u in seen.requests if not u.startswith(live_app)] == []  # nothing from elsewhere
    assert (shots / "app-en.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_serve_binds_127_0_0_1_and_a_free_port_by_default():
    sock = bind("127.0.0.1", 0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0 and url_of(sock) == f"http://127.0.0.1:{port}/"
        assert sock.proto == socket.IPPROTO_TCP  # so asyncio sets TCP_NODELAY: no 40 ms delayed-ACK stall per answer
    finally:
        sock.close()
    from oekaki.app.serve import main

    with pytest.raises(SystemExit):
        main(["--root", str(Path("/nonexistent/folder"))])
