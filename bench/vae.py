"""VAE stage benchmark: this stage's plain model vs pytorch/examples' VAE, same data, same wall clock.

    .venv/bin/python bench/vae.py                          # data/prepared.npz (run `make run` first)
    .venv/bin/python bench/vae.py --prepared other.npz --tag fashion   # e.g. full Fashion-MNIST (see README)
    .venv/bin/python bench/vae.py --set vae.lr=0.004       # any params override, applied after the benchmark's own

The stage's model is trained with `vae.conditional = false` (the baseline sees no labels
either), the baseline's latent and hidden sizes (20 and 400) and the rest of params.yaml's `vae`
section (PLAIN below), through the stage's own `train`.
pytorch/examples' VAE (vae/main.py: MLP 784-400-20, Adam 1e-3, batch 128, torchvision
DataLoader) then trains for the same number of seconds. Both report the test loss the same
way: reconstruction (BCE summed over pixels) + KL per test image, one latent draw each.
Writes its figures to bench/results/vae-<commit>.json (bench/common.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_results_arguments, torchvision_loaders, write_results  # noqa: E402
from oekaki.core.config import load_config  # noqa: E402
from oekaki.core.paths import Paths, project_paths  # noqa: E402
from oekaki.data import dataset  # noqa: E402
from oekaki.models.vae import test_elbo  # noqa: E402
from oekaki.stages.vae import stage as vae  # noqa: E402

# The plain VAE of the ELBO: no labels, beta 1, the standard normal prior and the one-cycle schedule this
# benchmark was set with (the conditional stage's beta 0.5, per-label prior and constant rate serve "draw the
# asked digit", not the ELBO); the baseline's own sizes (latent 20, hidden 400: the networks differ only in
# their conv layers) and the one-cycle peak 0.005 (0.002 is the constant rate of the painter). --set overrides
# go after them (docs/painters.md: the learning rates, epochs and sizes tried). tests/test_config.py checks
# that params.yaml with these overrides passes the config check.
PLAIN = (
    "vae.conditional=false",
    "vae.beta=1.0",
    "vae.prior=standard",
    "vae.schedule=onecycle",
    "vae.latent_size=20",
    "vae.hidden=400",
    "vae.lr=0.005",
)


class ExamplesVAE(nn.Module):
    """pytorch/examples vae/main.py `VAE`, verbatim in structure."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h1 = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def examples_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def examples_for(budget_s: float, loader, test_loader) -> tuple[float, int]:
    torch.manual_seed(1)
    model = ExamplesVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        model.train()
        for x, _ in loader:
            opt.zero_grad()
            recon, mu, logvar = model(x)
            examples_loss(recon, x, mu, logvar).backward()
            opt.step()
            seen += len(x)
            if time.perf_counter() - t0 >= budget_s:
                break
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for x, _ in test_loader:
            recon, mu, logvar = model(x)
            total += examples_loss(recon, x, mu, logvar).item()
            n += len(x)
    return total / n, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=project_paths().prepared)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one more params override, e.g. vae.epochs=20")
    add_results_arguments(parser)
    args = parser.parse_args()
    cfg = load_config(project_paths().params, [*PLAIN, *args.set])
    torch.set_num_threads(cfg.base.threads)
    data = dataset.TensorData.load(args.prepared, torch.device("cpu"))
    with tempfile.TemporaryDirectory(prefix="oekaki-bench-vae-") as tmp:
        tmp = Path(tmp)
        paths = Paths(tmp / "stage")
        model, done, epochs, _ = vae.train(cfg, paths, data, torch.device("cpu"))
        ours = test_elbo(model, data.test_x, data.test_y, cfg.vae, cfg.base.seed)
        loader, test_loader = torchvision_loaders(args.prepared, tmp / "tv", 128, normalize=False)
        ex_loss, ex_seen = examples_for(done.seconds, loader, test_loader)
    n = len(data.train_y)
    rows = [
        ("data", f"{args.prepared} ({n:,} train / {len(data.test_y):,} test)"),
        (
            f"this stage, plain conv VAE (latent {cfg.vae.latent_size}): {epochs} epochs, {done.seconds:.0f} s",
            f"{ours['test_loss_nats']:.2f} nats (recon {ours['test_recon_nats']:.2f} + KL {ours['test_kl_nats']:.2f})",
        ),
        (f"pytorch/examples MLP VAE (latent 20), same {done.seconds:.0f} s ({ex_seen / n:.1f} epochs)", f"{ex_loss:.2f} nats"),
        ("difference (goal: at least 5 nats lower)", f"{ex_loss - ours['test_loss_nats']:.2f} nats"),
    ]
    print(f"# oekaki vae benchmark, {time.strftime('%Y-%m-%d')}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for name, value in rows:
        print(f"{name:78s} {value}")
    figures = {
        "train_images": n,
        "test_images": len(data.test_y),
        "latent_size": cfg.vae.latent_size,
        "stage_epochs": epochs,
        "train_seconds": done.seconds,
        "stage_test_loss_nats": ours["test_loss_nats"],
        "stage_test_recon_nats": ours["test_recon_nats"],
        "stage_test_kl_nats": ours["test_kl_nats"],
        "examples_epochs": ex_seen / n,
        "examples_test_loss_nats": ex_loss,
        "margin_nats": ex_loss - ours["test_loss_nats"],
    }
    write_results("vae", args, figures)


if __name__ == "__main__":
    main()
