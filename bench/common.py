"""What the benchmarks in bench/ share: the file their figures go to, and the pytorch/examples data path.

Every benchmark writes its figures to `bench/results/<script>[-<tag>]-<commit>.json` (the commit
of the checkout it measured, `-dirty` added when that checkout had uncommitted changes), with the
machine, the date and its arguments, so a number a doc quotes can be checked against its file.
Those files are committed; `--out DIR` (or OEKAKI_BENCH_RESULTS) sends them elsewhere, as the
smoke tests do. Each script puts the repository root on sys.path when run as a script
(`.venv/bin/python bench/<name>.py`); Python puts bench/ there, which is how this module is found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from oekaki.core import provenance
from oekaki.core.config import apply_override, build_config
from oekaki.core.io import write_json, write_text
from oekaki.data import idx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RESULTS_ENV = "OEKAKI_BENCH_RESULTS"


def add_results_arguments(parser: argparse.ArgumentParser) -> None:
    """--out and --tag: where the results file goes and what tells two runs of one commit apart (e.g. the data)."""
    parser.add_argument("--out", type=Path, help=f"folder for the results file (default ${RESULTS_ENV}, else bench/results)")
    parser.add_argument("--tag", default="", help="a word in the file name for a variant run, e.g. fashion")


def set_params(params: Path, overrides: list[str], validate: bool = True) -> None:
    """Write `section.key=value` overrides into a copy's params.yaml, as `--set` does for the in-process benches.

    For benchmarks that run the pipeline's own commands in a temporary copy or clone, which read
    params.yaml themselves: e.g. the smoke tests' tiny profile. `validate` checks the result with
    this checkout's config rules first; a clone of another commit has its own rules (its
    `check-config` then refuses a bad override, naming it).
    """
    if not overrides:
        return
    raw = yaml.safe_load(params.read_text(encoding="utf-8"))
    for item in overrides:
        apply_override(raw, item, params)
    if validate:
        build_config(raw, params)  # refuses a bad key or value, naming it, before anything runs
    write_text(params, yaml.safe_dump(raw, sort_keys=False))


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else what the platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def results_path(script: str, commit: str, dirty: bool | None, out: Path | None = None, tag: str = "") -> Path:
    """bench/results/<script>[-<tag>]-<short commit>[-dirty].json, or the same name under `out` / $OEKAKI_BENCH_RESULTS."""
    if tag and not tag.replace("_", "").replace("-", "").isalnum():
        raise SystemExit(f"bench/{script}.py: --tag {tag!r} must be letters, digits, - or _ (it becomes part of a file name)")
    folder = out or (Path(os.environ[RESULTS_ENV]) if os.environ.get(RESULTS_ENV) else RESULTS)
    name = "-".join(filter(None, (script, tag, commit[:7], "dirty" if dirty else "")))
    return Path(folder) / f"{name}.json"


def write_results(script: str, args: argparse.Namespace, figures: dict[str, Any], root: Path = ROOT, commit: str | None = None) -> Path:
    """Write the benchmark's figures with what they were measured on; returns the file's path (also printed).

    Args:
        script: the benchmark's name (bench/<script>.py).
        args: its parsed arguments (recorded as given; --out and --tag choose the file).
        figures: the measured numbers, JSON-serialisable.
        root: the checkout whose commit the figures belong to (the project measured).
        commit: the commit measured when it is not `root`'s checkout (a clean clone of it: not dirty).
    """
    git = provenance.git_state(root) if commit is None else {"git_commit": commit, "git_dirty": False}
    record = {
        "script": f"bench/{script}.py",
        "commit": git["git_commit"],
        "dirty": git["git_dirty"],
        "machine": {**provenance.machine(), "cpu_model": cpu_model()},
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "args": json.loads(json.dumps(vars(args), default=str)),
        "figures": figures,
    }
    path = results_path(script, git["git_commit"], git["git_dirty"], getattr(args, "out", None), getattr(args, "tag", ""))
    write_json(path, record)
    print(f"results: {path}")
    return path


def torchvision_loaders(prepared: Path, workdir: Path, batch_size: int, normalize: bool = True):
    """The prepared arrays as torchvision MNIST files, read back per sample through a DataLoader, as pytorch/examples does.

    Args:
        prepared: the pipeline's prepared arrays (data/prepared.npz).
        workdir: an empty scratch folder; the IDX files go to workdir/MNIST/raw.
        batch_size: the training loader's batch; the test loader reads 1,000 at a time.
        normalize: apply MNIST's usual mean/std (pytorch/examples' mnist does, its vae does not).

    Returns:
        (train loader, shuffled; test loader).
    """
    import torch
    from torchvision import datasets, transforms

    raw = workdir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    with np.load(prepared) as d:
        for key, stem in (("train_images", "train-images-idx3-ubyte"), ("train_labels", "train-labels-idx1-ubyte"),
                          ("test_images", "t10k-images-idx3-ubyte"), ("test_labels", "t10k-labels-idx1-ubyte")):  # fmt: skip
            (raw / stem).write_bytes(idx.encode_idx(d[key]))
            (raw / f"{stem}.gz").write_bytes(gzip.compress(idx.encode_idx(d[key])))
    steps = [transforms.ToTensor()] + ([transforms.Normalize((0.1307,), (0.3081,))] if normalize else [])
    tf = transforms.Compose(steps)
    train = datasets.MNIST(str(workdir), train=True, download=False, transform=tf)
    test = datasets.MNIST(str(workdir), train=False, download=False, transform=tf)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
    return loader, torch.utils.data.DataLoader(test, batch_size=1000)
