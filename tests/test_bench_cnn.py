"""bench/cnn.py end to end on the tiny pipeline's data: it runs the cnn stage's own training and the pytorch/examples
baseline, so it breaks when the stage's interface changes; its figures go to the results file, under --out."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from oekaki.core.paths import PROJECT_ROOT

TINY_CNN = ("cnn.epochs=1", "cnn.min_steps=0", "cnn.batch_size=64", "cnn.channels=[8,16]", "cnn.hidden=32")


def test_the_cnn_benchmark_compares_both_data_paths_and_both_recipes_and_writes_what_it_printed(tiny_pipeline, tmp_path):
    paths, _, _ = tiny_pipeline
    args = [arg for kv in TINY_CNN for arg in ("--set", kv)]
    done = subprocess.run(
        [sys.executable, "bench/cnn.py", "--prepared", str(paths.prepared), "--seconds", "0.5", *args, "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ours = re.search(r"this stage's recipe: test accuracy after 1 epochs, \d+ s +([\d.]+)", done.stdout)
    theirs = re.search(r"pytorch/examples Net, same \d+ s \([\d.]+ epochs\) +([\d.]+)", done.stdout)
    assert ours and theirs, done.stdout
    (written,) = tmp_path.glob("cnn-*.json")
    record = json.loads(written.read_text())
    figures = record["figures"]
    assert f"{figures['stage_test_accuracy']:.4f}" == ours.group(1) and f"{figures['examples_test_accuracy']:.4f}" == theirs.group(1)
    assert figures["train_img_s_in_memory"] > 0 and figures["train_img_s_dataloader"] > 0 and figures["peak_rss_mb"] > 0
    assert record["args"]["set"] == list(TINY_CNN) and written.name.startswith("cnn-") and record["commit"][:7] in written.name
