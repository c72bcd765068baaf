"""bench/vit.py end to end on a tiny synthetic IDX folder: it trains the CNN and the ViT through their stages' own
optimisers and epoch loops, so it breaks when their interfaces change; its results file feeds the report's figure."""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from oekaki.core import figure_data
from oekaki.core.config import load_config
from oekaki.core.paths import PROJECT_ROOT, Paths, project_paths
from oekaki.data import dataset, idx
from oekaki.figures import render
from oekaki.stages.report import vit_sizes

_spec = importlib.util.spec_from_file_location("bench_vit", PROJECT_ROOT / "bench" / "vit.py")
bench_vit = importlib.util.module_from_spec(_spec)
sys.modules["bench_vit"] = bench_vit  # a dataclass looks its module up there
_spec.loader.exec_module(bench_vit)

# | 200 | cnn | 87.00% | n/a (1 seed) | 1.5 | 1 s |
ROW = re.compile(r"^\| ([\d,]+) \| (\w+) \| ([\d.]+)% \| n/a \(1 seed\) \| ([\d.]+) \| 1 s \|$", re.M)


def bar_images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 images (n, 28, 28) whose label (n,) decides where a bright bar lies (learnable, not trivial)."""
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(y):
        x[i, 4 + 2 * (k % 5) : 10 + 2 * (k % 5), 4 + 10 * (k // 5) : 14 + 10 * (k // 5)] = 250
    return x, y


def write_idx_folder(folder, n_train: int, n_test: int) -> None:
    """Four gzipped IDX files of bar images."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, n in (("train", n_train), ("t10k", n_test)):
        x, y = bar_images(rng, n)
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx.encode_idx(x)))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx.encode_idx(y)))


def write_prepared(path, n_train: int, n_test: int) -> None:
    """A tiny data/prepared.npz of bar images: the download stage's six arrays."""
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", n_train), ("validation", 50), ("test", n_test)):
        arrays[f"{split}_images"], labels = bar_images(rng, n)
        arrays[f"{split}_labels"] = labels.astype(np.int64)
    np.savez(path, **arrays)


# the stages' recipes shrunk to a few steps on 300 images (3 batches an epoch: 2 epochs, 6 steps each)
TINY = ["cnn.epochs=1", "cnn.min_steps=4", "vit.epochs=1", "vit.min_steps=4"]


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bench/vit.py", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # a whole bench run in a subprocess, three models (make test-slow, CI's second step)
def test_the_bench_trains_every_model_for_its_budget_writes_what_it_printed_and_the_report_draws_it(tmp_path):
    write_idx_folder(tmp_path / "idx", 400, 100)
    done = run_bench("--sizes", "200", "400", "--budgets", "1", "1", "--seeds", "1", "--warmup-steps", "2",
                     "--fashion", str(tmp_path / "idx"), "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = (tmp_path / "out").glob("vit-*.json")
    record = json.loads(written.read_text())
    assert record["script"] == "bench/vit.py" and record["commit"][:7] in written.name
    figs = record["figures"]
    cfg = load_config(project_paths().params)
    models = ["cnn", "vit"] + (["vit_pure"] if cfg.vit.stem > 0 else [])
    assert list(figs["models"]) == models and set(figs["datasets"]) == {"fashion-mnist"}
    if cfg.vit.stem > 0:
        assert figs["models"]["vit"]["config"]["stem"] == cfg.vit.stem and figs["models"]["vit_pure"]["config"]["stem"] == 0
    result = figs["datasets"]["fashion-mnist"]
    assert (result["n_train"], result["n_test"]) == (400, 100)
    assert [(r["size"], r["model"]) for r in result["runs"]] == [(n, m) for n in (200, 400) for m in models]
    for r in result["runs"]:  # exactly the steps the timing planned for the budget; epochs counted from them
        batch = getattr(cfg, "cnn" if r["model"] == "cnn" else "vit").batch_size
        assert r["steps"] == max(1, int(1.0 / r["planned_step_s"])) and r["seconds"] > 0
        assert math.isclose(r["epochs"], r["steps"] / math.ceil(r["size"] / batch)) and 0 <= r["test_accuracy"] <= 1
    printed = [(int(n.replace(",", "")), m, float(a), float(s)) for n, m, a, s in ROW.findall(done.stdout)]
    assert printed == [(s["size"], s["model"], round(100 * s["mean_accuracy"], 2), round(s["mean_seconds"], 1)) for s in result["summary"]]
    at_full = {s["model"]: s["mean_accuracy"] for s in result["summary"] if s["size"] == 400}  # 400 = the whole training split
    assert figs["goal"]["vit_accuracy"] == at_full["vit"] and figs["goal"]["cnn_accuracy"] == at_full["cnn"]
    assert "goal: ViT on full Fashion-MNIST (400 images) >= 91%" in done.stdout

    assert vit_sizes.newest_results(tmp_path / "out") == written
    data_file = vit_sizes.save_figure_data(written, tmp_path / "figure_data")
    kind, d = figure_data.load(data_file)
    assert kind == "vit_sizes" and d["mean"].shape == (1, len(models), 2) and d["sizes"].tolist() == [[200, 400]]
    assert np.allclose(d["mean"][0, 0], [s["mean_accuracy"] for s in result["summary"] if s["model"] == "cnn"])
    assert d["kinds"].tolist() == ["cnn", "vit_stem" if cfg.vit.stem > 0 else "vit_pure"] + (["vit_pure"] if cfg.vit.stem > 0 else [])
    drawn = render.render_file(data_file, tmp_path / "figures", ("en", "ja"), 60)
    assert [p.name for p in drawn] == ["vit_sizes.en.png", "vit_sizes.ja.png"] and all(p.stat().st_size > 0 for p in drawn)
    assert record["commit"][:7] in vit_sizes.caption(d, "en") and "200 / 400" in vit_sizes.caption(d, "ja")


def test_the_bench_says_what_to_install_and_refuses_budgets_that_do_not_match_the_sizes(tmp_path):
    (tmp_path / "empty").mkdir()
    done = run_bench("--fashion", str(tmp_path / "empty"), "--out", str(tmp_path))
    assert done.returncode == 1 and "apt-get install dataset-fashion-mnist" in done.stderr and "missing" in done.stderr, done.stderr
    done = run_bench("--sizes", "1000", "4000", "--budgets", "10")
    assert done.returncode == 2 and "--budgets: one per size" in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.json"))


def test_a_budgeted_run_takes_exactly_the_planned_steps_whole_epochs_then_part_of_one(tmp_path):
    write_idx_folder(tmp_path / "idx", 300, 10)
    data = bench_vit.load_data(tmp_path / "idx")
    cfg = load_config(project_paths().params, ["cnn.batch_size=128"])
    cnn_recipe = bench_vit.recipes(cfg)[0]
    model, gen = cnn_recipe.build(data.train_x), torch.Generator().manual_seed(0)
    opt, sched = cnn_recipe.stage.make_optimizer(model, cnn_recipe.config, 7)
    bench_vit.train_steps(cnn_recipe, model, data, 7, opt, sched, gen)  # 300 images, 3 batches an epoch: 2 epochs + 1 batch
    assert sched.last_epoch == 7  # a one-cycle schedule planned for 7 steps, ended exactly (an 8th step would raise)
    sub = bench_vit.subset(data, 200, 5)
    assert len(sub.train_y) == 200 and torch.equal(sub.train_x, bench_vit.subset(data, 200, 5).train_x)
    assert not torch.equal(sub.train_x, bench_vit.subset(data, 200, 6).train_x) and torch.equal(sub.test_x, data.test_x)


def test_the_report_reads_the_newest_results_by_the_date_they_record(tmp_path):
    def write(name: str, date: str, script: str = "bench/vit.py") -> None:
        (tmp_path / name).write_text(json.dumps({"script": script, "date": date, "commit": "0" * 40, "figures": {}}))

    assert vit_sizes.newest_results(tmp_path) is None
    write("vit-aaaaaaa.json", "2026-12-01T10:00:00+00:00")
    write("vit-bbbbbbb.json", "2026-12-03T10:00:00+00:00")
    write("vit-ccccccc.json", "2026-12-02T10:00:00+00:00")
    write("vit-other-ddddddd.json", "2027-01-01T10:00:00+00:00", script="bench/other.py")  # not this bench's
    assert vit_sizes.newest_results(tmp_path).name == "vit-bbbbbbb.json"
    sample = {"script": "bench/vit.py", "date": "2027-02-01T10:00:00+00:00", "commit": "0" * 40, "figures": {"mode": "sample"}}
    (tmp_path / "vit-sample-eeeeeee.json").write_text(json.dumps(sample))  # --sample's file: not a sizes figure
    assert vit_sizes.newest_results(tmp_path).name == "vit-bbbbbbb.json"


# | vit | 41.00% | 38.00% | 39.50% ± 2.12% | 1.2 | 1.3 |
SAMPLE_ROW = re.compile(r"^\| (\w+) \| ([\d.]+)% \| ([\d.]+)% \| ([\d.]+)% ± ([\d.]+)% \| ([\d.]+) \| ([\d.]+) \|$", re.M)
GOAL_LINE = re.compile(r"^goal: ViT \((stem|pure)\) mean ≥ 97\.0% and every seed's training ≤ 120 s: (met|missed) \(", re.M)


@pytest.mark.slow  # a whole bench run in a subprocess, three models (make test-slow, CI's second step)
def test_the_sample_mode_trains_as_the_stages_do_then_the_pure_vit_for_the_same_seconds_and_judges_the_goal(tmp_path):
    write_prepared(tmp_path / "prepared.npz", 300, 100)
    sets = [a for s in TINY for a in ("--set", s)]
    done = run_bench("--sample", str(tmp_path / "prepared.npz"), "--seeds", "2", "--warmup-steps", "2", *sets,
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = (tmp_path / "out").glob("vit-*.json")
    record = json.loads(written.read_text())
    assert written.name.startswith(f"vit-sample-{record['commit'][:7]}") and record["script"] == "bench/vit.py"
    figs = record["figures"]
    cfg = load_config(project_paths().params, TINY)
    models = ["cnn", "vit"] + (["vit_pure"] if cfg.vit.stem > 0 else [])
    seeds = [cfg.base.seed, cfg.base.seed + 1]
    assert figs["mode"] == "sample" and (figs["n_train"], figs["n_test"]) == (300, 100) and figs["seeds"] == seeds
    assert list(figs["models"]) == models and [(r["seed"], r["model"]) for r in figs["runs"]] == [(s, m) for s in seeds for m in models]
    for r in figs["runs"]:
        if r["model"] == "vit_pure":  # the budgeted loop, for the seconds the stem ViT took on this seed
            stem = next(v for v in figs["runs"] if (v["seed"], v["model"]) == (r["seed"], "vit"))
            assert r["budget_s"] == stem["seconds"] and r["steps"] == max(1, int(r["budget_s"] / r["planned_step_s"]))
        else:  # the stage's own plan: 2 epochs of 3 batches
            assert r["budget_s"] is None and r["steps"] == 6 and r["epochs"] == 2.0
        assert r["seconds"] > 0 and 0 <= r["test_accuracy"] <= 1
    summary = {s["model"]: s for s in figs["summary"]}
    for m in models:
        rows = [r for r in figs["runs"] if r["model"] == m]
        assert summary[m]["accuracies"] == [r["test_accuracy"] for r in rows]
        assert math.isclose(summary[m]["mean_accuracy"], np.mean(summary[m]["accuracies"]))
        assert math.isclose(summary[m]["std_accuracy"], np.std(summary[m]["accuracies"], ddof=1))
        assert summary[m]["max_seconds"] == max(r["seconds"] for r in rows)
    printed = [(m, float(a), float(s)) for m, _, _, a, _, _, s in SAMPLE_ROW.findall(done.stdout)]
    assert printed == [(m, round(100 * summary[m]["mean_accuracy"], 2), round(summary[m]["max_seconds"], 1)) for m in models]
    g = figs["goal"]
    assert (g["vit_accuracy"], g["vit_max_seconds"]) == (summary["vit"]["mean_accuracy"], summary["vit"]["max_seconds"])
    assert GOAL_LINE.findall(done.stdout) == [("stem" if cfg.vit.stem > 0 else "pure", "met" if g["met"] else "missed")]
    assert vit_sizes.newest_results(tmp_path / "out") is None  # not the report's sizes figure


def test_the_sample_goal_needs_the_mean_and_every_seeds_seconds():
    def goal(accuracies: list[float], seconds: list[float]) -> bool:
        mean, std = bench_vit.mean_std(accuracies)
        row = {"model": "vit", "mean_accuracy": mean, "std_accuracy": std, "max_seconds": max(seconds)}
        return bench_vit.sample_goal([row], 16)["met"]

    assert goal([0.960, 0.973, 0.977], [100, 110, 120])  # exactly 97.0 % (0.9699999999999999 in floats), 120 s: met
    assert not goal([0.960, 0.973, 0.976], [100, 110, 120])  # 96.97 %
    assert not goal([0.98, 0.98, 0.98], [100, 110, 120.5])  # one seed too slow


def test_the_sample_mode_trains_exactly_the_weights_the_stages_train(tmp_path):
    write_prepared(tmp_path / "prepared.npz", 300, 100)
    data = dataset.TensorData.load(tmp_path / "prepared.npz", torch.device("cpu"))
    cfg = load_config(project_paths().params, [*TINY, "base.seed=7"])
    for r in bench_vit.recipes(cfg)[:2]:  # cnn, vit
        staged, _, _, epochs = r.stage.train(cfg, Paths(tmp_path / r.name), data, torch.device("cpu"))
        benched, row = bench_vit.fit_steps(r, data, bench_vit.stage_steps(r, len(data.train_y)), cfg.base.seed)
        assert row["steps"] == epochs * 3
        want, got = staged.state_dict(), benched.state_dict()
        assert list(want) == list(got) and all(torch.equal(want[k], got[k]) for k in want), r.name


def test_the_sample_mode_says_to_run_the_download_stage_and_refuses_the_sizes_options(tmp_path):
    done = run_bench("--sample", str(tmp_path / "missing.npz"), "--out", str(tmp_path))
    assert done.returncode == 2 and "run `dvc repro download` first" in done.stderr, done.stderr
    write_prepared(tmp_path / "prepared.npz", 300, 100)
    done = run_bench("--sample", str(tmp_path / "prepared.npz"), "--sizes", "1000", "--budgets", "10", "--out", str(tmp_path))
    assert done.returncode == 2 and "--sample trains on the prepared sample alone: drop --sizes, --budgets" in done.stderr, done.stderr
    assert not list(tmp_path.glob("*.json"))
