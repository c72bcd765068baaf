"""The gan stage: tiny-data training through the runner, generated images, labels as asked, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from oekaki.core.config import load_config
from oekaki.core.contract import stage_results
from oekaki.core.errors import TrainingError
from oekaki.core.io import read_json
from oekaki.core.paths import project_paths
from oekaki.data.dataset import TensorData
from oekaki.models import gan as gan_model
from oekaki.models import judge
from oekaki.models.gan import GanArgs, Generator, build
from oekaki.models.loading import load_model
from oekaki.stages.gan import stage as gan
from tests.conftest import TINY_JUDGE, workspace_with_judge

TINY_GAN = [
    f"gan.{k}" for k in ("noise_size=32", "g_channels=[64,32]", "d_channels=[32,64]", "epochs=6", "min_steps=0", "epoch_eval_samples=200")
]


def cfg_with(*overrides):
    return load_config(project_paths().params, [*TINY_JUDGE, *TINY_GAN, *overrides])


@pytest.fixture(scope="module")
def trained(tiny_stage):
    """The tiny pipeline's own run of the stage: workspace, tracking URI, MLflow run id."""
    return tiny_stage("gan", cfg_with().gan)


def test_tiny_training_writes_model_metrics_figures_and_mlflow_run(trained):
    paths, uri, run_id = trained
    m = stage_results(paths, "gan")  # the numbers file joined with the provenance facts (device)
    assert m["epochs"] == 6 and m["n_samples"] == 1000 and m["device"] == "cpu"
    assert 0 < m["fid"] < m["fid_noise_ceiling"] and 1 <= m["inception_score"] <= 10
    assert {"conditional_accuracy", "within_class_diversity", "memorisation_ratio"} <= m.keys() and m["memorisation_ratio"] > 0
    history = read_json(paths.plots_dir / "gan_history.json")
    assert [h["step"] for h in history] == list(range(1, 7))
    assert [h["step"] for h in history if h["fid"] is not None] == [4, 6]  # gan.eval_every = 4, and the last epoch
    for h in history:
        assert all(
            math.isfinite(h[k])
            for k in ("loss_d", "loss_g", "d_real", "d_fake") + (("fid", "within_class_diversity") if h["fid"] is not None else ())
        )
        assert 0 <= h["d_fake"] <= 1 and 0 <= h["d_real"] <= 1
    assert {p.name for p in paths.figure_data("gan").iterdir()} == {
        "samples.npz", "training.npz", "curves.npz", "noise_walk.npz", "memorisation.npz",
    }  # fmt: skip
    from PIL import Image

    from oekaki.figures.render import render_file

    (gif_path,) = render_file(paths.figure_data("gan") / "training.npz", paths.figures("gan"), ("en", "ja"), 50)
    with Image.open(gif_path) as gif:
        assert gif_path.name == "training.gif" and gif.n_frames == 6  # one frame per epoch
    ckpt = torch.load(paths.final_model("gan"), weights_only=True)
    assert {"generator", "discriminator", "model_args"} <= ckpt.keys()
    last = torch.load(paths.checkpoint("gan"), weights_only=True)
    assert {"generator", "discriminator", "optimizer_g", "optimizer_d", "rng", "snapshots"} <= last.keys()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    assert [x.step for x in client.get_metric_history(run_id, "gan_history/fid")] == [4, 6]
    assert [x.step for x in client.get_metric_history(run_id, "gan_history/loss_d")] == list(range(1, 7))
    assert len([a for a in client.list_artifacts(run_id, "images") if a.path.endswith(".png")]) == 6
    assert client.search_model_versions("name='gan-generator'")[0].run_id == run_id


def test_the_truncation_is_chosen_on_the_validation_split_and_recorded(trained):
    paths, _, _ = trained
    c, m = cfg_with().gan, stage_results(paths, "gan")
    ckpt = torch.load(paths.final_model("gan"), weights_only=True)
    assert ckpt["model_args"]["truncation"] == m["truncation"]  # what the checkpoint records, every later drawing uses
    tried = [r["truncation"] for r in m["truncation_trials"]]
    assert tried == [*c.truncation_relax, c.truncation][: len(tried)]
    passed = [r["conditional_accuracy"] >= r["judge_accuracy"] - c.truncation_margin for r in m["truncation_trials"]]
    assert not any(passed[:-1]) and m["truncation"] == (tried[-1] if passed[-1] else c.truncation)  # the first that passes
    G = gan_model.from_checkpoint(ckpt)
    data = TensorData.load(paths.prepared, torch.device("cpu"))
    j = judge.Judge.load(paths.final_model("cnn"))
    lenient = c.model_copy(update={"truncation_margin": 0.999})  # every trial passes: the least truncated is taken
    assert gan.choose_truncation(G, j, data, lenient, [1])[0] == c.truncation_relax[0]
    assert gan.choose_truncation(G, j, data, c.model_copy(update={"truncation_relax": ()}), [1]) == (c.truncation, [])


def test_generated_images_have_shape_range_and_requested_labels(trained):
    paths, _, _ = trained
    ckpt = torch.load(paths.final_model("gan"), weights_only=True)
    G, _ = build(ckpt["model_args"])
    G.load_state_dict(ckpt["generator"])
    labels = np.arange(200) % 10
    images = gan_model.generate(G, 200, labels, seed=0)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8 and images.max() > 200 and images.min() < 30
    predicted = judge.Judge.load(paths.cnn_model).judge(images).probs.argmax(1)
    assert (predicted == labels).mean() > 0.3  # chance is 0.1
    again = gan_model.generate(G, 200, labels, seed=0)
    assert np.array_equal(images, again)  # fixed seed, eval mode: reproducible
    sampler, example = load_model(paths.final_model("gan"))
    out = sampler(torch.as_tensor(example))
    assert out.shape == (2, 28, 28) and 0 <= out.min() and out.max() <= 1
    code = torch.cat([torch.zeros(3, 32), torch.nn.functional.one_hot(torch.tensor([1, 5, 7]), 10).float()], 1)
    G.eval()
    with torch.no_grad():  # the served module and the generator agree
        assert torch.allclose(sampler(code), (G(torch.zeros(3, 32), torch.tensor([1, 5, 7]))[:, 0] + 1) / 2, atol=1e-6)


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path, tiny_judge, monkeypatch):
    paths = workspace_with_judge(tmp_path, tiny_judge)
    real = gan.train_one_epoch

    def diverging(*args, **kw):
        stats = real(*args, **kw)
        return {**stats, "loss_d": float("nan")} if args[-2] == 2 else stats  # epoch 2 diverges

    monkeypatch.setattr(gan, "train_one_epoch", diverging)
    with pytest.raises(TrainingError, match=r"gan loss_d became nan in epoch 2; lower the learning rate.*last good checkpoint is kept"):
        gan.run(cfg_with(), paths)
    assert torch.load(paths.checkpoint("gan"), weights_only=True)["epoch"] == 1
    assert not paths.final_model("gan").exists() and not paths.metrics("gan").exists()


def test_plain_generator_needs_no_labels_and_conditional_refuses_bad_labels(tmp_path, tiny_judge):
    G = Generator(
        GanArgs(
            noise_size=8, g_channels=(8, 4), d_channels=(4, 8), conditional=False, spectral_norm=True, aux_classifier=False, truncation=0.0
        )
    )
    assert G(torch.randn(3, 8)).shape == (3, 1, 28, 28)
    paths = workspace_with_judge(tmp_path, tiny_judge)
    with np.load(paths.prepared) as d:
        arrays = dict(d)
    np.savez(paths.prepared, **{**arrays, "train_labels": arrays["train_labels"] - 1})
    with pytest.raises(TrainingError, match=r"gan.conditional = true needs class labels 0-9.*set gan.conditional=false"):
        gan.run(cfg_with(), paths)
    assert not paths.model_dir("gan").exists()


def test_unconditional_tiny_run_reports_class_entropy(tmp_path, tiny_judge):
    paths = workspace_with_judge(tmp_path, tiny_judge)
    result = gan.run(cfg_with("gan.conditional=false", "gan.epochs=2", "evaluate.n_samples=200"), paths)
    assert "class_entropy" in result.metrics and "conditional_accuracy" not in result.metrics
    assert 0 <= result.metrics["class_entropy"] <= 1
    assert "class_entropy" in result.history["gan_history"][-1]  # the last epoch is always scored
    assert TensorData.load(paths.prepared, "cpu").test_y.shape[0] == 1000


def test_mode_seeking_pairs_share_labels_and_its_term_rewards_different_drawings():
    off, on = cfg_with().gan, cfg_with("gan.mode_seeking=1.0").gan
    z, y = gan._noise(9, on, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(y[:4], y[4:8])  # each pair asks for the same label ...
    z_off, y_off = gan._noise(9, off, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(z, z_off) and not torch.equal(y, y_off)  # ... which only the switch changes
    same = torch.zeros(8, 1, 28, 28)
    apart = torch.cat([torch.zeros(4, 1, 28, 28), torch.ones(4, 1, 28, 28)])
    assert gan.mode_seeking_loss(apart, z[:8]) < 2.0 < gan.mode_seeking_loss(same, z[:8])  # one drawing per label costs 1e5
