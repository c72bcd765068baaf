"""The text painter's measured goals (issue 38), with seeds and spread, from the trained models of a workspace.

    .venv/bin/python bench/text_painter.py                 # this checkout's models (run `make run` first)
    .venv/bin/python bench/text_painter.py --root DIR --seeds 5 --per-prompt 20

Adherence: the stage's own request set (oekaki/models/adherence.py: every language x digit x attribute x level,
`--per-prompt` drawings each, the held-out combinations 5x as many) drawn again with `--seeds` sampling seeds
(base.seed + 100 + k, apart from the stage's own), each scored by the judge and the attribute measures: every
figure is printed as mean ± standard deviation over the seeds, beside its goal. The spread is that of re-drawing
one trained painter, not of retraining it (one more training takes ~3 minutes on 2 cores).
Cost: 1,000 digit prompts drawn by the text painter and 1,000 labels by the pixel diffusion painter, back to back,
`--repeats` times each (the median is printed), and both stages' training seconds from their metrics.
Quality: both painters' FID from their stages' metrics (the scoreboard's: same judge, reference and request).
Writes its figures to bench/results/text_painter-<commit>.json (bench/common.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_results_arguments, write_results  # noqa: E402
from oekaki.core.checkpoints import load_checkpoint  # noqa: E402
from oekaki.core.config import load_config  # noqa: E402
from oekaki.core.io import read_json  # noqa: E402
from oekaki.core.paths import Paths, project_paths  # noqa: E402
from oekaki.data.attributes import ATTRIBUTES, Bins  # noqa: E402
from oekaki.models import adherence, diffusion, text_painter  # noqa: E402
from oekaki.models.judge import Judge  # noqa: E402

# (metric, goal, how it is met): the measured goals
GOALS = [
    ("digit_adherence", 0.97, "at least"),
    *((f"{a}_adherence{lang}", 0.80, "at least") for a in ATTRIBUTES for lang in ("", "_en", "_ja")),
    ("japanese_gap", 0.02, "at most"),
    ("held_out_gap", 0.10, "at most"),
]
SHOWN = ["digit_adherence_en", "digit_adherence_ja", "attribute_adherence", "held_out_adherence", "seen_adherence", "prompt_adherence"]


def measure_adherence(root: Paths, seeds: list[int], per_prompt: int) -> dict[str, list[float]]:
    ckpt = load_checkpoint(root.final_model("text_painter"))
    painter, bins = text_painter.from_checkpoint(ckpt), Bins.from_dict(ckpt["bins"])
    judge = Judge.load(root.cnn_model)
    req = adherence.requests(per_prompt)
    ids, _ = painter.tokens(req.prompts)
    per_seed: dict[str, list[float]] = {}
    for seed in seeds:
        measured = adherence.adherence(*adherence.obeyed(painter.paint(ids, seed), req, judge, bins), req)
        for key, value in measured.items():
            per_seed.setdefault(key, []).append(value)
        print(f"  seed {seed}: digit {measured['digit_adherence']:.3f}, attributes {measured['attribute_adherence']:.3f}, "
              f"held out {measured['held_out_adherence']:.3f} vs seen {measured['seen_adherence']:.3f}", flush=True)  # fmt: skip
    return per_seed


def japanese_difference(req: adherence.Requests, spread: dict, n_seeds: int) -> dict[str, dict[str, float]]:
    """English minus Japanese per figure, averaged over the seeds, with the half-width of its 95 % interval from
    sampling alone (binomial: 1.96 * sqrt(p (1 - p) (1/n_en + 1/n_ja)), n pooled over the seeds): a gap inside
    its interval is not told apart from none by this many drawings. Retraining adds its own spread on top."""
    out = {}
    for key in ["digit", *ATTRIBUTES]:
        n = {}
        for lang in ("en", "ja"):
            rows = req.langs == lang
            if key != "digit":
                rows &= ~req.held_out & (req.attributes == key)  # as adherence.adherence counts them
            n[lang] = int(rows.sum()) * n_seeds
        en, ja = spread[f"{key}_adherence_en"]["mean"], spread[f"{key}_adherence_ja"]["mean"]
        p = (en + ja) / 2
        half = 1.96 * float(np.sqrt(p * (1 - p) * (1 / n["en"] + 1 / n["ja"])))
        out[key] = {"en_minus_ja": en - ja, "interval_95": half, "n_per_language": n["en"]}
    return out


def time_sampling(root: Paths, repeats: int, n: int = 1000) -> dict[str, float]:
    """Median seconds for n drawings of each painter, alternating which goes first."""
    painter = text_painter.from_checkpoint(load_checkpoint(root.final_model("text_painter")))
    pixel = diffusion.from_checkpoint(load_checkpoint(root.final_model("diffusion")))
    labels = np.arange(n) % 10
    runs: dict[str, list[float]] = {"text_painter": [], "diffusion": []}
    draw = {
        "text_painter": lambda: text_painter.generate(painter, n, labels, 0),
        "diffusion": lambda: diffusion.generate(pixel, n, labels, 0),
    }
    for r in range(repeats):
        for name in ("text_painter", "diffusion") if r % 2 == 0 else ("diffusion", "text_painter"):
            t0 = time.perf_counter()
            draw[name]()
            runs[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) * 1000 / n for name, v in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None, help="the workspace whose models are measured (default this checkout)")
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds (default 3)")
    parser.add_argument(
        "--per-prompt",
        type=int,
        default=None,
        help="drawings per language x digit x attribute x level (default text_painter.eval_per_prompt)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed draws of 1,000 per painter (default 3)")
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    root = Paths(args.root) if args.root else project_paths()
    for needed in (root.final_model("text_painter"), root.final_model("diffusion"), root.cnn_model):
        if not needed.is_file():
            raise SystemExit(f"bench/text_painter.py: {needed} is missing; run the pipeline first (`make run`)")
    cfg = load_config(root.params)
    per_prompt = args.per_prompt or cfg.text_painter.eval_per_prompt
    seeds = [cfg.base.seed + 100 + k for k in range(args.seeds)]
    print(f"adherence: {len(adherence.requests(per_prompt).prompts)} prompts per seed, seeds {seeds}")
    per_seed = measure_adherence(root, seeds, per_prompt)
    spread = {
        k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v} for k, v in per_seed.items()
    }
    print(f"\n{'measure':32s} {'mean ± std':>17s}   goal")
    for key, goal, how in GOALS:
        m = spread[key]
        met = m["mean"] >= goal if how == "at least" else m["mean"] <= goal
        print(f"{key:32s} {m['mean']:8.3f} ± {m['std']:.3f}   {how} {goal:.2f}: {'met' if met else 'MISSED'}")
    for key in SHOWN:
        print(f"{key:32s} {spread[key]['mean']:8.3f} ± {spread[key]['std']:.3f}")
    difference = japanese_difference(adherence.requests(per_prompt), spread, len(seeds))
    print("\nEnglish minus Japanese, pooled over the seeds (± the 95 % interval of sampling alone):")
    for key, d in difference.items():
        n = d["n_per_language"]
        print(f"  {key:10s} {100 * d['en_minus_ja']:+6.1f} ± {100 * d['interval_95']:.1f} points ({n} drawings per language)")
    seconds = time_sampling(root, args.repeats)
    tp_m, px_m = read_json(root.metrics("text_painter")), read_json(root.metrics("diffusion"))
    print(f"\nseconds per 1,000 drawings: text painter {seconds['text_painter']:.2f}, pixel diffusion {seconds['diffusion']:.2f} "
          f"(ratio {seconds['text_painter'] / seconds['diffusion']:.2f}; goal at most 1)")  # fmt: skip
    print(f"training seconds: text painter {tp_m['train_seconds']:.0f} (+ autoencoder "
          f"{read_json(root.metrics('autoencoder'))['train_seconds']:.0f}), pixel diffusion {px_m['train_seconds']:.0f}")  # fmt: skip
    ratio = tp_m["fid"] / px_m["fid"]
    print(f"FID: text painter {tp_m['fid']:.2f}, pixel diffusion {px_m['fid']:.2f} (ratio {ratio:.2f}; goal at most 1.5)")
    figures = {
        "seeds": seeds, "per_prompt": per_prompt, "adherence": spread, "japanese_difference": difference, "seconds_per_1000": seconds,
        "fid": {"text_painter": tp_m["fid"], "diffusion": px_m["fid"], "ratio": ratio},
        "train_seconds": {"text_painter": tp_m["train_seconds"], "diffusion": px_m["train_seconds"]},
    }  # fmt: skip
    write_results("text_painter", args, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
