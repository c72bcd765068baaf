"""The vae stage: its loss by hand, tiny-data training through the runner, style transfer, bad input."""

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
from oekaki.models import judge, sampling
from oekaki.models import vae as vae_model
from oekaki.models.vae import ConvVAE, VaeArgs, loss_terms
from oekaki.pipeline import runner
from oekaki.stages.vae import stage as vae
from tests.conftest import TINY_JUDGE, workspace_with_judge

TINY_VAE = [f"vae.{k}" for k in ("latent_size=8", "channels=[16,32]", "hidden=128", "epochs=15", "min_steps=0", "batch_size=64")]


def cfg_with(*overrides):
    return load_config(project_paths().params, [*TINY_JUDGE, *TINY_VAE, *overrides])


def test_loss_terms_match_a_hand_computation():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])  # (1, 1, 2, 2)
    target = torch.tensor([[[[0.5, 1.0], [0.25, 0.0]]]])
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, math.log(4.0)]])
    recon, kl = loss_terms(logits, target, mu, logvar)

    def bce(x, t):  # -[t log s(x) + (1 - t) log(1 - s(x))]
        s = 1 / (1 + math.exp(-x))
        return -(t * math.log(s) + (1 - t) * math.log(1 - s))

    by_hand = bce(0.0, 0.5) + bce(2.0, 1.0) + bce(-1.0, 0.25) + bce(3.0, 0.0)
    # KL(N(mu, s^2) || N(0, 1)) = 1/2 (mu^2 + s^2 - log s^2 - 1) per dimension
    kl_by_hand = 0.5 * (0.25 + 1 - 0 - 1) + 0.5 * (1 + 4 - math.log(4) - 1)
    assert recon.shape == kl.shape == (1,)
    assert recon.item() == pytest.approx(by_hand, rel=1e-6) and kl.item() == pytest.approx(kl_by_hand, rel=1e-6)
    assert bce(0.0, 0.5) == pytest.approx(math.log(2))


@pytest.fixture(scope="module")
def trained(tiny_stage):
    """The tiny pipeline's own run of the stage: workspace, tracking URI, MLflow run id."""
    return tiny_stage("vae", cfg_with().vae)


def test_tiny_training_writes_model_metrics_figures_and_mlflow_run(trained):
    paths, uri, run_id = trained
    m = stage_results(paths, "vae")  # the numbers file joined with the provenance facts (device)
    assert m["epochs"] == 15 and m["n_samples"] == 1000 and m["device"] == "cpu"
    assert math.isclose(m["test_loss_nats"], m["test_recon_nats"] + m["test_kl_nats"], rel_tol=1e-9)
    assert 0 < m["fid"] < m["fid_noise_ceiling"] and 1 <= m["inception_score"] <= 10
    assert {"conditional_accuracy", "within_class_diversity"} <= m.keys()
    history = read_json(paths.plots_dir / "vae_history.json")
    # the label reader (on by default) learned the real images' labels: 10 % is chance
    assert history[-1]["reader_train_accuracy"] > 0.5 and m["reader_test_accuracy"] > 0.5, (history[-1], m["reader_test_accuracy"])
    scored = [h for h in history if h["test_loss_nats"] is not None]  # every vae.eval_every-th epoch and the last
    assert [h["step"] for h in history] == list(range(1, 16)) and [h["step"] for h in scored] == [5, 10, 15]
    assert scored[-1]["test_loss_nats"] < scored[0]["test_loss_nats"]
    names = {p.name for p in paths.figure_data("vae").iterdir()}
    assert names == {"reconstructions.npz", "samples.npz", "latent_space.npz", "latent_walk.npz", "style_transfer.npz", "training.npz"}
    assert paths.final_model("vae").is_file() and read_json(paths.provenance("vae"))["mlflow_run_id"] == run_id

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    assert [x.step for x in client.get_metric_history(run_id, "vae_history/test_loss_nats")] == [5, 10, 15]  # vae.eval_every
    assert [x.step for x in client.get_metric_history(run_id, "vae_history/train_loss_nats")] == list(range(1, 16))
    images = [a.path for a in client.list_artifacts(run_id, "images")]
    assert len([p for p in images if p.startswith("images/vae_samples") and p.endswith(".png")]) == 15  # one grid per epoch
    assert client.get_run(run_id).info.status == "FINISHED"
    assert client.search_model_versions("name='vae'")[0].run_id == run_id


def test_samples_and_style_transfer_are_drawn_as_requested(trained, tiny_judge):
    paths, _, _ = trained
    from oekaki.models.loading import load_model
    from oekaki.models.vae import build

    ckpt = torch.load(paths.final_model("vae"), weights_only=True)
    model = build(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    data = TensorData.load(paths.prepared, "cpu")
    grid = vae_model.style_transfer(model, data.test_x[:50], data.test_y[:50])
    assert grid.shape == (50, 10, 28, 28) and grid.dtype == np.uint8
    j = judge.Judge.load(paths.cnn_model)
    predicted = j.judge(grid.reshape(-1, 28, 28)).probs.argmax(1).reshape(50, 10)
    hit_rate = (predicted == np.arange(10)[None, :]).mean()
    print("style-transfer hit rate", hit_rate)
    # chance is 0.1; with 500 trials its standard deviation is 0.013, so 0.15 is ~4 sd above chance
    assert hit_rate > 0.15, hit_rate
    samples = vae_model.generate(model, 50, np.arange(50) % 10, seed=0)
    assert samples.shape == (50, 28, 28) and samples.dtype == np.uint8 and samples.max() > 200
    sampler, example = load_model(paths.final_model("vae"))
    out = sampler(torch.as_tensor(example))
    assert out.shape == (2, 28, 28) and 0 <= out.min() and out.max() <= 1


def test_conditional_model_needs_labels_0_to_9(tmp_path, tiny_judge):
    paths = workspace_with_judge(tmp_path, tiny_judge)
    with np.load(paths.prepared) as d:
        arrays = dict(d)
    arrays["train_labels"] = arrays["train_labels"] + 10  # e.g. a dataset whose "labels" are something else
    np.savez(paths.prepared, **arrays)
    with pytest.raises(TrainingError, match=r"vae.conditional = true needs class labels 0-9.*set vae.conditional=false"):
        vae.run(cfg_with(), paths)
    assert not paths.model_dir("vae").exists() and not paths.figure_data("vae").exists()


def test_judge_trained_on_other_data_is_refused(tmp_path, tiny_judge):
    paths = workspace_with_judge(tmp_path, tiny_judge)
    with np.load(paths.prepared) as d:
        arrays = dict(d)
    np.savez(paths.prepared, **{**arrays, "train_images": arrays["train_images"][::-1].copy()})
    with pytest.raises(TrainingError, match=r"model.pt was trained on other data.*dvc repro cnn"):
        vae.run(cfg_with(), paths)
    assert not paths.model_dir("vae").exists()


def test_missing_judge_names_the_stage_to_run(tmp_path, tiny_judge):
    paths = workspace_with_judge(tmp_path, tiny_judge)
    paths.cnn_model.unlink()
    with pytest.raises(runner.MissingInputError, match=r"models/cnn/model.pt is missing: stage 'vae' needs the output of stage 'cnn'"):
        runner.check_inputs("vae", paths)


def test_plain_vae_has_no_labels_and_no_style_transfer():
    model = ConvVAE(VaeArgs(latent_size=3, channels=(4, 8), hidden=16, conditional=False, film=False, truncation=0.0, prior="standard"))
    logits, mu, logvar = model(torch.rand(5, 1, 28, 28))
    assert logits.shape == (5, 1, 28, 28) and mu.shape == logvar.shape == (5, 3)
    with pytest.raises(ValueError, match="needs the conditional VAE"):
        vae_model.style_transfer(model, torch.zeros(2, 28, 28, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))


def test_a_checkpoint_from_before_film_loads_and_decodes_the_same():
    """Registry champions trained before FiLM/truncation: old decoder key names and model_args still load."""
    torch.manual_seed(0)
    new = ConvVAE(VaeArgs(latent_size=3, channels=(4, 8), hidden=16, conditional=True, film=False, truncation=0.0, prior="standard")).eval()
    old_names = {"up1.": "decoder.1.", "up2.": "decoder.3."}  # the Sequential(Unflatten, ConvT, SiLU, ConvT) of before
    state = {next((o + k[len(n) :] for n, o in old_names.items() if k.startswith(n)), k): v for k, v in new.state_dict().items()}
    args = {"latent_size": 3, "channels": [4, 8], "hidden": 16, "conditional": True}  # no film, no truncation
    loaded = vae_model.from_checkpoint({"model_args": args, "model": state})
    assert loaded.args.film is False and loaded.args.truncation == 0.0 and loaded.args.prior == "standard"
    z, y = torch.randn(5, 3), torch.arange(5)
    assert torch.equal(loaded.decode(z, y), new.decode(z, y))


def class_fit_model() -> ConvVAE:
    torch.manual_seed(0)
    args = VaeArgs(latent_size=3, channels=(4, 8), hidden=16, conditional=True, film=True, truncation=0.0, prior="class_fit")
    return ConvVAE(args).eval()


def test_class_fit_prior_is_each_labels_gaussian_of_its_training_codes():
    model = class_fit_model()
    eps = torch.randn(6, 3)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    assert torch.equal(model.latent(eps, labels), eps)  # N(0, I) until fitted
    x = torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8)
    y = torch.arange(200) % 10
    y[y == 9] = 8  # label 9 has no image: it keeps N(0, I)
    y[0] = 9  # ... and then exactly one
    counts = vae_model.fit_class_prior(model, x, y)
    assert counts[9] == 1 and counts[3] == 20
    codes = vae_model.encode_means(model, x, y)
    threes = codes[y == 3].double()
    assert torch.allclose(model.prior_mean[3].double(), threes.mean(0), atol=1e-6)
    cov = model.prior_scale[3].double() @ model.prior_scale[3].double().T
    assert torch.allclose(cov, torch.cov(threes.T) + vae_model.CLASS_FIT_JITTER * torch.eye(3, dtype=torch.double), atol=1e-6)
    assert torch.equal(model.prior_mean[9], torch.zeros(3)) and torch.equal(model.prior_scale[9], torch.eye(3))
    assert torch.allclose(model.latent(torch.zeros(1, 3), torch.tensor([3])), model.prior_mean[3:4])  # eps 0 = the label's mean
    assert torch.allclose(model.standardise(model.latent(eps, labels), labels), eps, atol=1e-5)  # and back
    state = model.state_dict()
    assert {"prior_mean", "prior_scale"} <= set(state)  # saved with the weights: the checkpoint describes its sampler
    again = vae_model.from_checkpoint({"model_args": model.args.as_dict(), "model": state})
    assert torch.equal(again.latent(eps, labels), model.latent(eps, labels))


def test_the_served_sampler_draws_what_generate_draws():
    model = class_fit_model()
    x, y = torch.randint(0, 256, (100, 28, 28), dtype=torch.uint8), torch.arange(100) % 10
    vae_model.fit_class_prior(model, x, y)
    labels = np.array([7, 7, 1, 0])
    drawn = vae_model.generate(model, 4, labels, seed=5)
    eps = sampling.truncated_normal(4, 3, 5, 0.0)
    code = torch.cat([eps, torch.nn.functional.one_hot(torch.as_tensor(labels), 10).float()], 1)
    served = (vae_model.VaeSampler(model)(code) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(drawn, served)
    assert not np.array_equal(drawn, model.images(eps, torch.as_tensor(labels)).numpy())  # not the N(0, I) drawing


def test_the_reader_term_moves_the_decoder_and_never_the_reader():
    """read_as: the gradient reaches the drawings (so the decoder) and leaves the reader's weights alone."""
    from oekaki.models.label_reader import LabelReader, read_as

    torch.manual_seed(0)
    reader = LabelReader(4)
    images = torch.rand(6, 1, 28, 28, requires_grad=True)
    read_as(reader, images, torch.arange(6)).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in reader.parameters())


def test_one_epoch_with_the_reader_trains_the_reader_on_real_images_only(monkeypatch):
    """The reader's optimiser steps on real images: with every drawing's reading loss doubled, its weights move the same way."""
    x = torch.randint(0, 256, (128, 28, 28), dtype=torch.uint8)
    data = TensorData(x, torch.arange(128) % 10, x[:10], torch.arange(10), "sha", x[:10], torch.arange(10), "vsha")
    after = []
    for weight in (3.0, 6.0):
        c = cfg_with(f"vae.reader_weight={weight}", "vae.reader_batch=16").vae
        torch.manual_seed(0)
        model = ConvVAE(VaeArgs.from_config(c))
        reading = vae.make_reading(c, torch.device("cpu"))
        opt, sched = vae.make_optimizer(model, c, 2)
        stats = vae.train_one_epoch(model, data, opt, sched, c, torch.Generator().manual_seed(0), 1, 1, reading)
        assert {"reading_loss", "reader_train_accuracy"} <= stats.keys()
        after.append((reading.reader.state_dict(), model.state_dict()))
    (reader_a, vae_a), (reader_b, vae_b) = after
    assert all(torch.equal(reader_a[k], reader_b[k]) for k in reader_a)  # the drawings never teach the reader
    assert not all(torch.equal(vae_a[k], vae_b[k]) for k in vae_a)  # ... but they do teach the decoder


def test_the_reader_is_off_for_the_plain_vae_and_checked():
    assert vae.make_reading(cfg_with("vae.conditional=false", "vae.prior=standard").vae, torch.device("cpu")) is None
    assert vae.make_reading(cfg_with("vae.reader_weight=0").vae, torch.device("cpu")) is None
    with pytest.raises(Exception, match=r"vae\.reader_batch = 65 is impossible.*at most vae\.batch_size = 64"):
        cfg_with("vae.reader_batch=65")


def test_class_fit_prior_needs_the_conditional_vae():
    with pytest.raises(Exception, match=r"vae\.prior.*'standard' for the unconditional VAE"):
        cfg_with("vae.conditional=false", "vae.prior=class_fit")
