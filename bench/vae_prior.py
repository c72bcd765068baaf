"""Sampling-only diagnosis of the VAE painter: its reconstructions, and where its drawings start.

    .venv/bin/python bench/vae_prior.py          (run `make run` first; reads models/vae/model.pt)

On the stage's trained model (whatever its vae.prior), prints:
- the share of 2,000 test reconstructions (latent means decoded with their own label) the judge
  reads correctly: the best this decoder can draw a given image;
- the scoreboard's measures (first seed only, n = evaluate.n_samples) of drawings from N(0, I)
  truncated at vae.truncation, and of drawings from a Gaussian per label fitted here to the
  training set's latent means (no truncation): ex-post density estimation, Ghosh et al. 2020;
- style transfer over 500 test images: the latent mean decoded with every label as it is, and
  moved to the same place in each label's fitted Gaussian.
This is how docs/painters.md chose vae.prior = class_fit and vae.beta. Single runs on a shared
machine: compare models measured in one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scene import cells, load_scene  # noqa: E402

from oekaki.core import training  # noqa: E402
from oekaki.core.constants import N_CLASSES  # noqa: E402
from oekaki.models import vae as vm  # noqa: E402

RECONSTRUCTED = 2000
STYLE_SOURCES = 500


def main() -> None:
    scene = load_scene("vae", seeds=1)
    data, judge, n_draw = scene.data, scene.judge, scene.proto.n
    ty = data.test_y.numpy()
    model = vm.from_checkpoint(training.load_checkpoint(scene.paths.final_model("vae")))
    if not model.args.conditional:
        raise SystemExit("bench/vae_prior.py needs the conditional VAE (vae.conditional = true)")
    plain = vm.build({**model.args.as_dict(), "prior": "standard"})  # the same weights, drawing from N(0, I)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("prior_")})
    plain.eval()
    print(f"{scene.header()}; beta {scene.cfg.vae.beta}; the model's prior: {model.args.prior}")
    n = min(RECONSTRUCTED, len(ty))
    with torch.no_grad():
        rec = plain.images(vm.encode_means(plain, data.test_x[:n], data.test_y[:n]), data.test_y[:n]).numpy()
    print(f"reconstructions the judge reads correctly: {(judge.judge(rec).probs.argmax(1) == ty[:n]).mean():.1%} of {n:,}")

    def show(name, paint) -> None:
        print(f"| {name} | {cells(scene.score(scene.draw(paint)))} |", flush=True)

    print()
    print("| drawings start at | FID | asked-for class | on-label diversity |")
    print("|---|---|---|---|")
    show(f"N(0, I), truncation {plain.args.truncation:g}", lambda labels, seed: vm.generate(plain, n_draw, labels, seed))
    codes, labels = vm.encode_means(plain, data.train_x, data.train_y).numpy(), data.train_y.numpy()
    fits = {c: (codes[labels == c].mean(0), np.cov(codes[labels == c].T)) for c in range(N_CLASSES)}

    def per_class(asked: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        z = np.zeros((len(asked), codes.shape[1]), np.float32)
        for c in range(N_CLASSES):
            if (asked == c).any():
                z[asked == c] = rng.multivariate_normal(fits[c][0], fits[c][1], int((asked == c).sum()))
        with torch.no_grad():
            return plain.images(torch.as_tensor(z), torch.as_tensor(asked).long()).numpy()

    show("a Gaussian per label, fitted to the training codes", per_class)
    k = min(STYLE_SOURCES, len(ty))
    src, src_y = vm.encode_means(plain, data.test_x[:k], data.test_y[:k]).numpy(), ty[:k]
    chol = {c: np.linalg.cholesky(fits[c][1] + vm.CLASS_FIT_JITTER * np.eye(codes.shape[1])) for c in range(N_CLASSES)}
    for moved in (False, True):
        hits = 0
        for b in range(N_CLASSES):
            z = src
            if moved:
                z = np.stack([fits[b][0] + chol[b] @ np.linalg.solve(chol[a], v - fits[a][0]) for v, a in zip(src, src_y, strict=True)])
            with torch.no_grad():
                img = plain.images(torch.as_tensor(z, dtype=torch.float32), torch.full((k,), b, dtype=torch.long)).numpy()
            hits += int((judge.judge(img).probs.argmax(1) == b).sum())
        how = "moved to each label's Gaussian" if moved else "the latent mean as it is"
        print(f"style transfer, {how}: {hits / (N_CLASSES * k):.1%} of {N_CLASSES * k:,} cells")


if __name__ == "__main__":
    main()
