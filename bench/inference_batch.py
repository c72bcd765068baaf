"""Inference batch size on this CPU: seconds per 1,000 images for the trained networks, and whether outputs change.

    .venv/bin/python bench/inference_batch.py      (reads this workspace's models: run `make run` first)

For each network that only infers in the pipeline (the judge's features and probabilities, the
CNN's test pass, the GAN's and VAE's generators, the diffusion sampler at its default steps and
guidance), the median of 3 timed runs per batch size, and the largest difference against the
first batch size's outputs. oekaki.core.constants.INFERENCE_BATCH and the params' eval_batch_size
keys come from this table. Single runs on a shared machine: compare ratios measured in one run.
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

from oekaki.core import training  # noqa: E402
from oekaki.core.paths import project_paths  # noqa: E402
from oekaki.models import cnn as cnn_mod  # noqa: E402
from oekaki.models import diffusion as diffusion_mod  # noqa: E402
from oekaki.models import judge as judge_mod  # noqa: E402
from oekaki.models.loading import load_network  # noqa: E402


def timed(fn, repeats: int = 3):
    fn()  # warm-up (allocator, oneDNN primitives)
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def as_array(out) -> np.ndarray:
    if isinstance(out, judge_mod.Judged):
        return np.concatenate([out.features, out.probs], axis=1)
    if isinstance(out, dict):
        return np.array([out[k] for k in sorted(out)], dtype=float)
    return np.asarray(out, dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 256, 128, 64, 32])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths = project_paths()
    data = training.TensorData.load(paths.prepared, torch.device("cpu"))
    n = 1000
    images, labels = data.test_x[:n], data.test_y[:n].numpy()
    judge = judge_mod.Judge.load(paths.cnn_model)
    cnn = load_network(training.load_checkpoint(paths.cnn_model))
    gan = load_network(training.load_checkpoint(paths.final_model("gan")))
    vae = load_network(training.load_checkpoint(paths.final_model("vae")))
    diffusion = diffusion_mod.from_checkpoint(training.load_checkpoint(paths.final_model("diffusion")))

    def judged(bs):
        judge.batch_size = bs
        return judge.judge(images)

    cases = {
        "judge: features + probabilities": judged,
        "cnn: test loss and accuracy": lambda bs: cnn_mod.evaluate_classifier(cnn, data.test_x[:n], data.test_y[:n], bs)[0],
        "gan: generator": lambda bs: training.sample_images(gan, gan.args.noise_size, n, labels, 0, bs, gan.args.truncation),
        "vae: decoder": lambda bs: training.sample_images(vae, vae.args.latent_size, n, labels, 0, bs, vae.args.truncation),
        "diffusion: sampler (default steps, guidance)": lambda bs: diffusion_mod.generate(diffusion, n, labels, 0, batch_size=bs),
    }
    print(
        f"# seconds per {n:,} images by batch size ({args.threads} threads, {torch.__version__}); max |difference| vs batch {args.sizes[0]}"
    )
    print()
    print("| network | " + " | ".join(f"batch {s}" for s in args.sizes) + " | max difference |")
    print("|---|" + "---|" * (len(args.sizes) + 1))
    for name, fn in cases.items():
        cells, ref, worst = [], None, 0.0
        for size in args.sizes:
            seconds, out = timed(lambda size=size, fn=fn: fn(size))
            arr = as_array(out)
            ref = arr if ref is None else ref
            worst = max(worst, float(np.abs(arr - ref).max()))
            cells.append(f"{seconds:.3f}")
        print(f"| {name} | " + " | ".join(cells) + f" | {worst:.3g} |")


if __name__ == "__main__":
    main()
