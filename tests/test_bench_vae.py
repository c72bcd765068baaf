"""bench/vae.py end to end on the tiny pipeline's data: the benchmark runs the stage's own training code, so it breaks
when that code's interface changes (it did once, unnoticed until a 10-minute run on Fashion-MNIST failed at its first line)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from oekaki.core.paths import PROJECT_ROOT

TINY_PLAIN = ("vae.epochs=1", "vae.min_steps=0", "vae.batch_size=64", "vae.channels=[8,16]", "vae.hidden=32", "vae.eval_every=1")


def test_the_vae_benchmark_runs_both_models_for_the_same_seconds_and_prints_the_margin(tiny_pipeline, tmp_path):
    paths, _, _ = tiny_pipeline
    args = [arg for kv in TINY_PLAIN for arg in ("--set", kv)]
    done = subprocess.run(
        [sys.executable, "bench/vae.py", "--prepared", str(paths.prepared), *args, "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ours = re.search(r"this stage, plain conv VAE \(latent \d+\): 1 epochs, (\d+) s +([\d.]+) nats", done.stdout)
    theirs = re.search(r"pytorch/examples MLP VAE \(latent 20\), same (\d+) s \(([\d.]+) epochs\) +([\d.]+) nats", done.stdout)
    margin = re.search(r"difference \(goal: at least 5 nats lower\) +(-?[\d.]+) nats", done.stdout)
    assert ours and theirs and margin, done.stdout
    assert ours.group(1) == theirs.group(1)  # the same wall clock for both
    assert abs(float(margin.group(1)) - (float(theirs.group(3)) - float(ours.group(2)))) < 0.011  # printed to 2 decimals
    assert 0 < float(ours.group(2)) < 1000 and 0 < float(theirs.group(3)) < 1000
    (written,) = tmp_path.glob("vae-*.json")  # the figures in a file named by the commit, under --out, not in the repository
    figures = json.loads(written.read_text())["figures"]
    assert f"{figures['margin_nats']:.2f}" == margin.group(1) and f"{figures['stage_test_loss_nats']:.2f}" == ours.group(2)
    assert figures["stage_epochs"] == 1
