"""bench/diffusion.py end to end on the tiny pipeline's project (its judge, data and params): it runs the stage's own
network, loss and sampler, so it breaks when their interfaces change, and nothing else would notice."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from oekaki.core.paths import PROJECT_ROOT

# | recipe | guidance | training steps | sampling steps | s per 1,000 | FID | conditional accuracy |
ROW = re.compile(
    r"^\| (chosen: [^|]+|baseline: DDPM, ancestral) \| ([^|]+) \| ([\d,]+) \| (\d+) \| [\d.]+ \| ([\d.]+) \| ([\d.]+)% \|$", re.M
)


def test_the_diffusion_benchmark_draws_the_ddpm_baseline_at_the_chosen_guidance_and_at_each_weight(tiny_pipeline, tmp_path):
    paths, _, _ = tiny_pipeline
    done = subprocess.run(
        [sys.executable, "bench/diffusion.py", "--root", str(paths.root), "--seconds", "2", "--n", "20", "--ddpm-steps", "3",
         "--ddpm-guidance", "0,2", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = ROW.findall(done.stdout)
    assert len(rows) == 4, done.stdout
    chosen, *baseline = rows
    assert chosen[0].startswith("chosen: ") and {r[0] for r in baseline} == {"baseline: DDPM, ancestral"}, done.stdout
    assert [r[1] for r in baseline] == [chosen[1], "0 at every step", "2 at every step"]  # the chosen guidance, then each weight
    assert {r[2] for r in baseline} == {baseline[0][2]} and {r[3] for r in baseline} == {"3"}  # one trained network, 3 steps
    assert all(float(r[4]) > 0 and 0 <= float(r[5]) <= 100 for r in rows)
    (written,) = tmp_path.glob("diffusion-*.json")  # the same rows in a file named by the commit, under --out
    saved = json.loads(written.read_text())["figures"]["rows"]
    assert [(r["recipe"], r["guidance"], f"{r['fid']:.2f}") for r in saved] == [(r[0], r[1], r[4]) for r in rows]


def test_the_diffusion_benchmark_refuses_a_negative_or_unreadable_guidance(tiny_pipeline):
    paths, _, _ = tiny_pipeline
    for bad in ("-1", "two"):
        done = subprocess.run(
            [sys.executable, "bench/diffusion.py", "--root", str(paths.root), "--ddpm-guidance", bad],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2 and "--ddpm-guidance" in done.stderr and repr(bad) in done.stderr, done.stderr
