"""The text painter's two stages in the tiny pipeline, and its sampling: shapes, determinism, the served module."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from oekaki.core.contract import stage_results
from oekaki.core.io import read_json
from oekaki.models import autoencoder as ae_model
from oekaki.models import captions
from oekaki.models import text_painter as tp
from oekaki.models.loading import load_model


def tiny_painter(guidance: float = 3.0, sample_steps: int = 3) -> tp.TextPainter:
    torch.manual_seed(0)
    vocab = captions.Tokenizer().tokens
    args = tp.TextPainterArgs(
        vocab=vocab, max_tokens=16, text_width=16, text_layers=1, text_heads=2, channels=16, blocks=1, embed_size=16,
        latent_channels=4, latent_mean=(0.1, -0.2, 0.0, 0.3), latent_std=(1.0, 0.5, 2.0, 1.0), sampler="euler",
        sample_steps=sample_steps, guidance=guidance, guidance_from=0.0, guidance_until=1.0,
    )  # fmt: skip
    autoencoder = ae_model.Autoencoder(ae_model.AutoencoderArgs(channels=(8, 8), latent_channels=4))
    return tp.TextPainter(tp.TextDenoiser(args), autoencoder).eval()


def test_painting_is_reproducible_per_seed_and_independent_of_batching():
    painter = tiny_painter()
    ids, unknown = painter.tokens(["a thick 7", "右に傾いた3", "", "a 7 zebra"])
    assert ids.shape == (4, 16) and unknown == [[], [], [], ["zebra"]]
    images = painter.paint(ids, seed=0)
    assert images.shape == (4, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images, painter.paint(ids, seed=0))
    assert not np.array_equal(images, painter.paint(ids, seed=1))
    path = painter.paint_path(ids, seed=0, batch_size=1)  # one prompt per network pass: the same drawings
    assert np.array_equal(painter.decode(path[-1]), images)
    assert path[0].shape == (4, 4, 7, 7)


def test_the_served_module_takes_the_same_steps_and_exports():
    painter = tiny_painter()
    ids, _ = painter.tokens(["a thin 8", "細い3"])
    noise, _, _ = tp.diffusion_model.start(painter.denoiser, 2, ids.numpy(), 5)
    code = torch.cat([noise.reshape(2, -1), ids.float()], 1)
    sampler = tp.TextPainterSampler(painter).eval()
    with torch.no_grad():
        served = sampler(code)
        expected = torch.sigmoid(painter.autoencoder.decoder(painter.to_latents(painter.paint_path(ids, 5)[-1])))[:, 0]
    assert served.shape == (2, 28, 28) and torch.allclose(served, expected, atol=1e-5)
    exported = torch.export.export(sampler, (code,))
    assert torch.allclose(exported.module()(code), served, atol=1e-5)


def test_bad_prompts_are_refused_with_the_reason():
    painter = tiny_painter()
    with pytest.raises(ValueError, match="token"):
        painter.tokens([" ".join(["thick"] * 40)])


@pytest.fixture(scope="module")
def tiny_run(tiny_pipeline):
    return tiny_pipeline[0], tiny_pipeline[1]


def test_the_tiny_pipeline_trains_both_stages_and_measures_adherence(tiny_run):
    paths, uri = tiny_run
    ae = stage_results(paths, "autoencoder")
    assert 0 < ae["reconstruction_fid"] < ae["fid_noise_ceiling"] and ae["latent_shape"] == [4, 7, 7] and ae["train_seconds"] > 0
    m = stage_results(paths, "text_painter")
    for lang in ("", "_en", "_ja"):
        for name in ("digit", "thickness", "slant", "width", "attribute"):
            assert 0 <= m[f"{name}_adherence{lang}"] <= 1, (name, lang)
    assert 0 <= m["held_out_adherence"] <= 1 and 0 <= m["prompt_adherence"] <= 1 and math.isfinite(m["fid"])
    assert [row["guidance"] for row in m["guidance_sweep"]] == [1.0, 2.0]
    assert {(r["label"], r["attribute"], r["level"]) for r in m["held_out_table"]} == set(captions.HELD_OUT)
    assert m["sample_seconds_per_1000"] > 0 and m["train_seconds"] > 0 and m["vocab_size"] == len(captions.Tokenizer().tokens)
    history = read_json(paths.plots_dir / "text_painter_history.json")
    assert all(math.isfinite(h["loss"]) for h in history)
    ckpt = torch.load(paths.final_model("text_painter"), weights_only=True)
    assert ckpt["kind"] == "text_painter" and ckpt["autoencoder"]["kind"] == "autoencoder" and "bins" in ckpt
    sampler, example = load_model(paths.final_model("text_painter"))
    assert sampler(torch.as_tensor(example)).shape == (2, 28, 28)

    from mlflow.tracking import MlflowClient

    assert MlflowClient(uri).search_model_versions("name='text-painter'")
