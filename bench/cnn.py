"""CNN stage benchmarks, side by side in one run, on the same prepared data. Prints a table.

    .venv/bin/python bench/cnn.py                          # data/prepared.npz (run `make run` first)
    .venv/bin/python bench/cnn.py --prepared other.npz --tag fashion   # e.g. full Fashion-MNIST (see README)
    .venv/bin/python bench/cnn.py --set cnn.epochs=1       # any params override

Writes its figures to bench/results/cnn-<commit>.json (bench/common.py).

1. Data path: training images/s of the stage's model fed from in-memory uint8 tensors
   (this stage) vs the same model fed through torchvision's per-sample dataset and a
   DataLoader with ToTensor/Normalize (pytorch/examples style).
2. Same wall-clock budget: this stage's recipe vs the pytorch/examples MNIST network
   (Adadelta, StepLR, its DataLoader) trained for as long as this stage trained; test accuracy.
3. Peak resident memory of this process after the stage's own training.
"""

from __future__ import annotations

import argparse
import resource
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
from oekaki.models.cnn import CnnArgs, DigitCNN, evaluate_classifier  # noqa: E402
from oekaki.stages.cnn import stage as cnn  # noqa: E402


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py `Net`, verbatim in structure."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2)).flatten(1)
        return F.log_softmax(self.fc2(self.dropout2(F.relu(self.fc1(x)))), dim=1)


def throughput_in_memory(data: dataset.TensorData, model_args: CnnArgs, batch_size: int, seconds: float) -> float:
    torch.manual_seed(0)
    model, gen = DigitCNN(model_args), torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for ix in dataset.batch_indices(len(data.train_y), batch_size, gen):
            x = model.normalize(dataset.random_shift(data.train_x[ix], 2, gen))
            loss = F.cross_entropy(model(x), data.train_y[ix])
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(ix)
            if time.perf_counter() - t0 >= seconds:
                break
    return n / (time.perf_counter() - t0)


def data_only(data: dataset.TensorData, loader, batch_size: int, seconds: float) -> tuple[float, float]:
    """Images/s of each data path alone (batches produced, no model): where the time goes."""
    gen = torch.Generator().manual_seed(0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds / 3:
        for ix in dataset.batch_indices(len(data.train_y), batch_size, gen):
            x = ((dataset.random_shift(data.train_x[ix], 2, gen).float() / 255 - 0.1307) / 0.3081).unsqueeze(1)
            n += len(x)
    fast = n / (time.perf_counter() - t0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds / 3:
        for x, _ in loader:
            n += len(x)
            if time.perf_counter() - t0 >= seconds / 3:
                break
    return fast, n / (time.perf_counter() - t0)


def throughput_dataloader(loader, model_args: CnnArgs, seconds: float) -> float:
    torch.manual_seed(0)
    model = DigitCNN(model_args)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for x, y in loader:  # x already (B, 1, 28, 28) normalised float
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(y)
            if time.perf_counter() - t0 >= seconds:
                break
    return n / (time.perf_counter() - t0)


def examples_for(budget_s: float, loader, test_loader) -> tuple[float, int]:
    """pytorch/examples recipe (Adadelta lr 1.0, StepLR gamma 0.7 per epoch) for `budget_s` seconds."""
    torch.manual_seed(1)
    model = ExamplesNet()
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    seen, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        model.train()
        for x, y in loader:
            opt.zero_grad()
            F.nll_loss(model(x), y).backward()
            opt.step()
            seen += len(y)
            if time.perf_counter() - t0 >= budget_s:
                break
        sched.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in test_loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / total, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=project_paths().prepared)
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time per throughput run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="one more params override, e.g. cnn.epochs=1")
    add_results_arguments(parser)
    args = parser.parse_args()
    cfg = load_config(project_paths().params, args.set)
    torch.set_num_threads(cfg.base.threads)
    data = dataset.TensorData.load(args.prepared, torch.device("cpu"))
    with tempfile.TemporaryDirectory(prefix="oekaki-bench-cnn-") as tmp:
        tmp = Path(tmp)
        paths = Paths(tmp / "stage")
        paths.prepared.parent.mkdir(parents=True)
        paths.prepared.symlink_to(args.prepared.resolve())
        model, _, train_s, epochs = cnn.train(cfg, paths, data, torch.device("cpu"))
        ours, _ = evaluate_classifier(model, data.test_x, data.test_y, 1000)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        loader, test_loader = torchvision_loaders(args.prepared, tmp / "tv", cfg.cnn.batch_size)
        same = CnnArgs.from_config(cfg.cnn, 0.1307, 0.3081)  # the stage's network, MNIST's usual normalisation
        fast = throughput_in_memory(data, same, cfg.cnn.batch_size, args.seconds)
        slow = throughput_dataloader(loader, same, args.seconds)
        fast_data, slow_data = data_only(data, loader, cfg.cnn.batch_size, args.seconds)
        ex_acc, ex_seen = examples_for(train_s, torch.utils.data.DataLoader(loader.dataset, batch_size=64, shuffle=True), test_loader)
    n = len(data.train_y)
    figures = {
        "train_images": n,
        "test_images": len(data.test_y),
        "train_img_s_in_memory": fast,
        "train_img_s_dataloader": slow,
        "data_only_img_s_in_memory": fast_data,
        "data_only_img_s_dataloader": slow_data,
        "stage_epochs": epochs,
        "stage_train_seconds": train_s,
        "stage_test_accuracy": ours["test_accuracy"],
        "examples_epochs": ex_seen / n,
        "examples_test_accuracy": ex_acc,
        "peak_rss_mb": peak_mb,
    }
    rows = [
        ("data", f"{args.prepared} ({n:,} train / {len(data.test_y):,} test)"),
        ("train img/s, same model: in-memory tensors (this stage)", f"{fast:,.0f}"),
        ("train img/s, same model: torchvision dataset + DataLoader", f"{slow:,.0f}"),
        ("ratio", f"{fast / slow:.2f}x"),
        (
            "data path alone, img/s: in-memory (with shift) / DataLoader",
            f"{fast_data:,.0f} / {slow_data:,.0f} = {fast_data / slow_data:.0f}x",
        ),
        (f"this stage's recipe: test accuracy after {epochs} epochs, {train_s:.0f} s", f"{ours['test_accuracy']:.4f}"),
        (f"pytorch/examples Net, same {train_s:.0f} s ({ex_seen / n:.1f} epochs)", f"{ex_acc:.4f}"),
        ("peak resident memory after the stage's training", f"{peak_mb:,.0f} MB"),
    ]
    print(f"# oekaki cnn benchmark, {time.strftime('%Y-%m-%d')}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for name, value in rows:
        print(f"{name:68s} {value}")
    write_results("cnn", args, figures)


if __name__ == "__main__":
    main()
