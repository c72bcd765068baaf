"""bench/text_painter.py end to end on the tiny pipeline's models: adherence with seeds and spread, cost, FID ratio."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from oekaki.core.paths import PROJECT_ROOT


def test_the_text_painter_benchmark_prints_every_goal_with_its_spread(tiny_pipeline, tmp_path):
    paths, _, _ = tiny_pipeline
    done = subprocess.run(
        [sys.executable, "bench/text_painter.py", "--root", str(paths.root), "--seeds", "2", "--per-prompt", "1", "--repeats", "1",
         "--out", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = dict(re.findall(r"^(\w+_adherence(?:_en|_ja)?|japanese_gap|held_out_gap) +(-?[\d.]+) ± [\d.]+", done.stdout, re.M))
    assert {"digit_adherence", "slant_adherence_ja", "width_adherence_en", "japanese_gap", "held_out_gap"} <= rows.keys(), done.stdout
    assert re.search(r"^  slant +[-+][\d.]+ ± [\d.]+ points \(\d+ drawings per language\)", done.stdout, re.M), done.stdout
    assert re.search(r"seconds per 1,000 drawings: text painter [\d.]+, pixel diffusion [\d.]+ \(ratio [\d.]+", done.stdout)
    (written,) = tmp_path.glob("text_painter-*.json")
    figures = json.loads(written.read_text())["figures"]
    assert len(figures["adherence"]["digit_adherence"]["values"]) == 2 == len(figures["seeds"])
    assert f"{figures['adherence']['digit_adherence']['mean']:.3f}" == rows["digit_adherence"]
    slant = figures["japanese_difference"]["slant"]  # 2 seeds x 10 digits x 3 levels, 1 each, less the held-out 7s
    assert slant["n_per_language"] == 2 * (30 - 1) and slant["interval_95"] > 0
