"""The diffusion stage: tiny training through the runner, reproducible sampling, guidance, the path, the CLI."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from flows import sample
from oekaki.core.config import load_config
from oekaki.core.contract import stage_results
from oekaki.core.io import read_json
from oekaki.core.paths import project_paths
from oekaki.models import diffusion
from oekaki.models import judge as judge_mod
from oekaki.models.diffusion import NO_LABEL, Denoiser, DiffusionArgs, from_checkpoint, generate, sample_path, start
from oekaki.models.loading import load_model
from tests.conftest import TINY_JUDGE

TINY_DIFFUSION = [
    f"diffusion.{k}"
    for k in (
        "channels=[8,16,16]", "embed_size=32", "epochs=5", "min_steps=0", "lr=0.004", "sample_steps=4",
        "sweep_samples=100", "sweep_steps=[1,4]", "sweep_guidance=[0,1,3]",
    )
]  # fmt: skip


def cfg_with(*overrides):
    return load_config(project_paths().params, [*TINY_JUDGE, *TINY_DIFFUSION, *overrides])


@pytest.fixture(scope="module")
def trained(tiny_stage):
    """The tiny pipeline's own run of the stage: workspace, tracking URI, MLflow run id."""
    return tiny_stage("diffusion", cfg_with().diffusion)


def tiny(objective: str = "flow_matching", sampler: str = "euler", guidance: float = 2.0, guidance_from: float = 0.0) -> Denoiser:
    torch.manual_seed(0)
    return Denoiser(DiffusionArgs((8, 16, 16), 16, objective, sampler, 3, guidance, guidance_from, 1.0)).eval()


def test_tiny_training_writes_model_metrics_figures_and_mlflow_run(trained):
    paths, uri, run_id = trained
    m = stage_results(paths, "diffusion")  # the numbers file joined with the provenance facts (device, sweeps)
    assert m["epochs"] == 5 and m["n_samples"] == 1000 and m["device"] == "cpu" and m["steps"] == 5 * 24
    assert 0 < m["fid"] < m["fid_noise_ceiling"] and 1 <= m["inception_score"] <= 10 and m["memorisation_ratio"] > 0
    assert m["sample_seconds_per_1000"] > 0 and m["train_seconds"] > 0 and m["ema"] is True
    assert [r["steps"] for r in m["steps_sweep"]] == [1, 4] and [r["guidance"] for r in m["guidance_sweep"]] == [0, 1, 3]
    gi = m["guidance_interval"]  # params.yaml's guidance_from > 0: the default point against guidance at every step
    assert gi["from"] == m["guidance_from"] > 0 and gi["every_step"]["guidance_from"] == 0 and gi["interval"]["guidance"] == m["guidance"]
    assert gi["until"] == m["guidance_until"] < 1 and gi["every_step"]["guidance_until"] == 1
    for row in m["steps_sweep"] + m["guidance_sweep"]:
        assert all(math.isfinite(row[k]) for k in ("fid", "conditional_accuracy", "within_class_diversity", "seconds_per_1000"))
    history = read_json(paths.plots_dir / "diffusion_history.json")
    assert [h["step"] for h in history] == list(range(1, 6))
    assert all(math.isfinite(h["loss"]) for h in history)
    scored = [h for h in history if h["conditional_accuracy"] is not None]  # diffusion.eval_every = 4, and the last epoch
    assert [h["step"] for h in scored] == [4, 5] and all(0 <= h["conditional_accuracy"] <= 1 for h in scored)
    assert history[-1]["loss"] < history[0]["loss"]
    assert {p.name for p in paths.figure_data("diffusion").iterdir()} == {
        "noise_to_digit.npz", "samples.npz", "training.npz", "memorisation.npz", "steps_sweep.npz", "guidance_sweep.npz",
    }  # fmt: skip
    ckpt = torch.load(paths.final_model("diffusion"), weights_only=True)
    assert {"model", "ema", "model_args"} <= ckpt.keys() and ckpt["kind"] == "diffusion"
    last = torch.load(paths.checkpoint("diffusion"), weights_only=True)
    assert {"model", "ema", "optimizer", "scheduler", "rng", "snapshots"} <= last.keys() and len(last["snapshots"]) == 5

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    assert [x.step for x in client.get_metric_history(run_id, "diffusion_history/fid")] == [4, 5]
    assert [x.step for x in client.get_metric_history(run_id, "diffusion_history/loss")] == list(range(1, 6))
    assert len([a for a in client.list_artifacts(run_id, "images") if a.path.endswith(".png")]) == 5
    assert client.search_model_versions("name='diffusion'")[0].run_id == run_id


def test_sampling_is_reproducible_uses_the_ema_and_draws_the_requested_labels(trained):
    paths, _, _ = trained
    ckpt = torch.load(paths.final_model("diffusion"), weights_only=True)
    model = from_checkpoint(ckpt)
    assert torch.equal(model.stem.weight, ckpt["ema"]["stem.weight"]) and not torch.equal(model.stem.weight, ckpt["model"]["stem.weight"])
    labels = np.arange(200) % 10
    images = generate(model, 200, labels, seed=0)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8 and images.max() > 200 and images.min() < 30
    assert np.array_equal(images, generate(model, 200, labels, seed=0))  # fixed seed: the same drawing
    assert np.array_equal(images[:50], generate(model, 50, labels[:50], seed=0, batch_size=16)[:50])  # batching does not matter
    assert not np.array_equal(images, generate(model, 200, labels, seed=1))
    predicted = judge_mod.Judge.load(paths.cnn_model).judge(images).probs.argmax(1)
    assert (predicted == labels).mean() > 0.2  # chance is 0.1
    sampler, example = load_model(paths.final_model("diffusion"))
    out = sampler(torch.as_tensor(example))
    assert out.shape == (2, 28, 28) and 0 <= out.min() and out.max() <= 1
    noise, y, gen = start(model, 3, np.array([1, 5, 7]), 0)
    code = torch.cat([noise.reshape(3, -1), torch.nn.functional.one_hot(y, 10).float()], 1)
    with torch.no_grad():  # the served module takes the same Euler steps
        expected = (sample_path(model, y, noise, model.args.sample_steps, model.args.guidance, 2, gen)[-1][:, 0] + 1) / 2
        assert torch.allclose(sampler(code), expected, atol=1e-5)


@pytest.mark.parametrize("objective, sampler", [("flow_matching", "euler"), ("flow_matching", "heun"), ("ddpm", "ddpm")])
def test_guidance_zero_is_exactly_the_unconditional_path(objective, sampler):
    model = tiny(objective, sampler)
    labels = np.arange(12) % 10
    unguided = generate(model, 12, labels, seed=3, guidance=0)
    assert np.array_equal(unguided, generate(model, 12, np.full(12, NO_LABEL), seed=3, guidance=1))
    assert np.array_equal(unguided, generate(model, 12, None, seed=3, guidance=1))  # None = no label
    guided = generate(model, 12, labels, seed=3, guidance=2)
    assert not np.array_equal(unguided, guided)
    noise, y, gen = start(model, 12, None, 3)
    batched = sample_path(model, y, noise, 3, 2.0, 2, gen)[-1]  # no label twice: uncond + 2 (uncond - uncond)
    assert np.abs(diffusion.to_pixels(batched).astype(int) - unguided).max() <= 1


@pytest.mark.parametrize("objective, sampler", [("flow_matching", "euler"), ("flow_matching", "heun"), ("ddpm", "ddpm")])
def test_guidance_interval_keeps_the_first_steps_plain_conditional(objective, sampler):
    labels = np.arange(12) % 10
    never = tiny(objective, sampler, guidance=3.0, guidance_from=1.0)  # guidance from the end on: never guided
    assert np.array_equal(generate(never, 12, labels, 3), generate(never, 12, labels, 3, guidance=1))
    late = tiny(objective, sampler, guidance=3.0, guidance_from=0.5)  # 3 steps: 0 and 1 plain conditional, 2 guided
    assert [late.args.guidance_at(i, 3) for i in range(3)] == [1.0, 1.0, 3.0]
    noise, y, gen = start(late, 12, labels, 3)
    path = sample_path(late, y, noise, 3, 3.0, points=4, gen=gen)
    noise, y, gen = start(late, 12, labels, 3)
    plain = sample_path(late, y, noise, 3, 1.0, points=4, gen=gen)
    assert all(torch.equal(a, b) for a, b in zip(path[:3], plain[:3], strict=True)) and not torch.equal(path[3], plain[3])
    everywhere = tiny(objective, sampler, guidance=3.0, guidance_from=0.0)
    assert not np.array_equal(generate(everywhere, 12, labels, 3), generate(late, 12, labels, 3))


@pytest.mark.parametrize("objective, sampler", [("flow_matching", "euler"), ("flow_matching", "heun"), ("ddpm", "ddpm")])
@pytest.mark.parametrize("guidance_from", [0.0, 0.5, 1.0])
def test_the_guidance_sweeps_shared_start_draws_what_each_weight_draws_alone(objective, sampler, guidance_from):
    model = tiny(objective, sampler, guidance=3.0, guidance_from=guidance_from)
    labels, weights = np.arange(12) % 10, [0.0, 1.0, 3.0, 5.0]
    drawn = diffusion.generate_guided(model, 12, labels, 7, 4, weights, batch_size=5)
    for g, (images, seconds) in zip(weights, drawn, strict=True):
        assert np.array_equal(images, generate(model, 12, labels, 7, steps=4, guidance=g, batch_size=5)) and seconds > 0
    assert np.array_equal(drawn[0][0], drawn[3][0]) == (guidance_from == 1.0)  # the weights differ where guidance applies


@pytest.mark.parametrize("objective, sampler", [("flow_matching", "euler"), ("ddpm", "ddpm")])
def test_guidance_interval_leaves_the_last_steps_plain_conditional(objective, sampler):
    labels = np.arange(12) % 10
    middle = tiny(objective, sampler, guidance=3.0, guidance_from=0.25)
    middle = Denoiser(dataclasses.replace(middle.args, guidance_until=0.5)).eval()  # 4 steps: only step 1 guided
    torch.manual_seed(0)
    middle.load_state_dict(tiny(objective, sampler).state_dict())
    assert [middle.args.guidance_at(i, 4) for i in range(4)] == [1.0, 3.0, 1.0, 1.0]
    noise, y, gen = start(middle, 12, labels, 3)
    path = sample_path(middle, y, noise, 4, 3.0, points=5, gen=gen)
    noise, y, gen = start(middle, 12, labels, 3)
    plain = sample_path(middle, y, noise, 4, 1.0, points=5, gen=gen)
    assert torch.equal(path[1], plain[1]) and not torch.equal(path[2], plain[2])  # step 0 plain, step 1 guided
    never = Denoiser(dataclasses.replace(middle.args, guidance_from=0.5, guidance_until=0.5)).eval()  # an empty interval
    never.load_state_dict(middle.state_dict())
    assert np.array_equal(generate(never, 12, labels, 3, steps=4), generate(never, 12, labels, 3, steps=4, guidance=1))


@pytest.mark.parametrize("objective, sampler", [("flow_matching", "euler"), ("ddpm", "ddpm")])
def test_served_sampler_exports_without_constants_and_takes_the_same_steps(objective, sampler):
    """torch.export as MLflow's pt2 logging calls it (dynamic batch), off the main thread as in a Dask worker."""
    import threading

    model = tiny(objective, sampler, guidance_from=0.4)  # 3 steps: the first two unguided, the last guided
    served = diffusion.DiffusionSampler(model).eval()
    noise, y, gen = start(model, 3, np.array([1, 5, 7]), 0)
    code = torch.cat([noise.reshape(3, -1), torch.nn.functional.one_hot(y, 10).float()], 1)
    result = {}

    def export():
        result["ep"] = torch.export.export(served, (torch.zeros(2, code.shape[1]),), dynamic_shapes=[{0: torch.export.Dim.AUTO}])

    worker = threading.Thread(target=export)
    worker.start()
    worker.join()
    ep = result["ep"]
    assert dict(ep.constants) == {}  # no tensor made inside forward: nothing for export to lift
    with torch.no_grad():
        if objective == "flow_matching":  # the stage's own Euler path
            x = sample_path(model, y, noise, model.args.sample_steps, model.args.guidance, 2, gen)[-1]
        else:  # DDIM (deterministic) over the strided DDPM times, step by step through the labelled forward
            x, ab, times = noise.clone(), diffusion.alpha_bars(), diffusion._ddpm_times(model.args.sample_steps)
            for i, t in enumerate(times):
                eps = diffusion._guided(model, x, t / diffusion.T_DDPM, y, model.args.guidance_at(i, len(times)))
                x = diffusion.ddim_step(x, eps, ab[t], ab[times[i + 1]] if i + 1 < len(times) else torch.ones(()), None)
        expected = (x[:, 0].clamp(-1, 1) + 1) / 2
        # DDIM's first step divides by sqrt(alpha_bar) ~ 0.007: the one-hot label's float rounding (1e-7) grows to ~5e-5
        atol = 1e-5 if objective == "flow_matching" else 1e-4
        assert torch.allclose(served(code), expected, atol=atol)
        assert torch.allclose(ep.module()(code), expected, atol=atol)


@pytest.mark.parametrize("objective, sampler", [("flow_matching", "euler"), ("ddpm", "ddpm")])
def test_noise_to_digit_path_starts_at_noise_and_ends_in_the_pixel_range(objective, sampler):
    model = tiny(objective, sampler)
    noise, y, gen = start(model, 64, np.arange(64) % 10, 0)
    path = sample_path(model, y, noise, 16, 2.0, gen=gen)
    assert len(path) == diffusion.PATH_POINTS and all(p.shape == (64, 1, 28, 28) for p in path)
    assert abs(float(path[0].mean())) < 0.05 and abs(float(path[0].std()) - 1) < 0.05  # the Gaussian noise itself
    assert float(path[-1].min()) >= -1 and float(path[-1].max()) <= 1  # the drawing, in the data range
    pixels = diffusion.to_pixels(path[-1])
    assert pixels.dtype == np.uint8 and pixels.shape == (64, 28, 28)


def test_ddpm_stride_and_steps_beyond_the_schedule():
    assert diffusion._ddpm_times(1000) == list(range(999, -1, -1)) and diffusion._ddpm_times(4) == [999, 666, 333, 0]
    model = tiny("ddpm", "ddpm")
    assert generate(model, 2, None, 0, steps=1).shape == (2, 28, 28)


def test_sample_cli_draws_with_steps_and_guidance(trained, tmp_path, capsys):
    paths, _, _ = trained
    args = ["--model", "diffusion", "--checkpoint", str(paths.final_model("diffusion")), "--label", "7", "--n", "4"]
    assert sample.main([*args, "--steps", "2", "--guidance", "3", "--out", str(tmp_path / "a.png")]) == 0
    assert sample.main([*args, "--out", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()
    assert "4 images from" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "diffusion", "--steps", "0"], "--steps 0: out of range; 1-1000 sampling steps"),
        (["--model", "diffusion", "--guidance", "-1"], "--guidance -1.0: out of range; a guidance weight >= 0"),
        (["--model", "diffusion", "--guidance", "nan"], "--guidance nan: out of range"),
        (["--model", "gan", "--steps", "4"], "--steps: only for --model diffusion"),
        (["--model", "vae", "--guidance", "2"], "--guidance: only for --model diffusion"),
    ],
)
def test_sample_cli_refuses_bad_steps_and_guidance(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        sample.main([*args, "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()[-1:]) == 1


def test_the_samples_grid_is_the_scoreboards_own_drawings(tmp_path):
    """samples.png draws nothing new: row c holds the first drawings asked for label c, blank cells where fewer were asked."""
    from oekaki.core import figure_data
    from oekaki.stages.diffusion import figures

    labels = np.array([3, 1, 3, 0, 3, 1] + [7] * 12)
    samples = np.arange(len(labels), dtype=np.uint8)[:, None, None] + np.zeros((1, 28, 28), np.uint8) + 1
    kind, shown = figure_data.load(figures.final_grid(samples, labels, tmp_path / "samples.npz", per_label=10))
    rows = shown["images"].reshape(10, 10, 28, 28)[:, :, 0, 0]
    assert kind == "digit_grid" and int(shown["nrow"]) == 10
    assert rows[3, :3].tolist() == [1, 3, 5] and not rows[3, 3:].any()  # label 3 was asked at positions 0, 2, 4
    assert rows[7].tolist() == list(range(7, 17))  # the first 10 of its 12
    assert not rows[2].any()  # never asked: a blank row
