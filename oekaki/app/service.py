"""The models behind the page, loaded once (weights only), and the three things it asks of them.

Which checkpoint: the MLflow registry's `champion` version of each model, else the DVC-tracked
models/<kind>/model.pt with a notice (oekaki/pipeline/champions.py, shared with flows.sample).
A model that cannot be loaded is recorded with the reason; the endpoints that need it answer
503 with that reason, the rest of the page works. The work itself is the pipeline's own: the
judge (oekaki/models/judge.py) and the classifier's feature maps, the VAE's style transfer,
each painter's sampler (gmm.sample_digit_model, NETWORKS[kind].generate).
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.constants import N_CLASSES, NETWORK_PAINTERS, PAINTERS
from oekaki.core.errors import CheckpointError
from oekaki.core.paths import Paths
from oekaki.models.gmm import sample_digit_model
from oekaki.models.judge import Judge
from oekaki.models.loading import NETWORKS, load_network
from oekaki.models.vae import style_transfer
from oekaki.pipeline.champions import ModelUnavailable, resolve, run_url
from oekaki.pipeline.tracking import mask_credentials

ALIAS = "champion"
MAP_BLOCKS = 2  # feature maps of the first two conv blocks
MAX_MAPS = 64  # channels shown per block at most


def painter_names() -> tuple[str, ...]:
    """The painters a person can ask: the scoreboard's, less the untrained one (gmm and every network painter)."""
    return tuple(p for p in PAINTERS if p == "gmm" or (p in NETWORK_PAINTERS and p in NETWORKS))


class Unavailable(RuntimeError):
    """The model an answer needs is missing (503); the message says which and why."""


@dataclass(frozen=True)
class Source:
    """Which model produced an answer: a registry version (linked to its MLflow run) or a DVC-tracked file."""

    kind: str
    name: str | None = None  # registered model name
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    path: str | None = None  # the DVC-tracked file, relative to the project folder
    notice: str | None = None  # why the DVC-tracked file stands in for the champion

    def text(self) -> str:
        if self.version:
            return f"{self.name} version {self.version}" + (f" (@{self.alias})" if self.alias else "")
        return f"DVC checkpoint {self.path}" if self.kind != "gmm" else f"DVC output {self.path}"

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text()}


@dataclass
class Painter:
    name: str
    source: Source
    conditional: bool
    sample: Any  # (labels or None, n, seed) -> uint8 (n, 28, 28)
    path: Any = None  # (label, seed) -> uint8 (points, 28, 28): the first drawing's way from noise (diffusion)


def noise_to_digit(model, label: int, seed: int) -> np.ndarray:
    """The diffusion painter's first drawing for (label, seed) at ~8 points of its path, noise first (as the report's figure)."""
    from oekaki.models import diffusion

    noise, y, gen = diffusion.start(model, 1, np.array([label]), seed)
    steps = diffusion.sample_path(model, y, noise, model.args.sample_steps, model.args.guidance, gen=gen)
    return np.concatenate([diffusion.to_pixels(x) for x in steps])


def grey(x: torch.Tensor | np.ndarray) -> list:
    """A map of any scale -> 0-255 ints (its own maximum is white; an all-zero map stays black)."""
    a = np.asarray(x, dtype=np.float32)
    top = float(a.max())
    return (np.clip(a / top, 0, 1) * 255).round().astype(np.uint8).tolist() if top > 0 else np.zeros(a.shape, np.uint8).tolist()


class Models:
    """Every model the page uses, loaded once from project folder `paths` (no request names a file)."""

    def __init__(self, paths: Paths, ui_url: str):
        self.paths, self.ui_url = paths, ui_url
        self.lock = threading.Lock()  # one answer at a time: the CPU's cores go to one forward pass
        self.sources: dict[str, Source] = {}
        self.missing: dict[str, str] = {}  # kind -> why it could not be loaded
        self.judge: Judge | None = None
        self.vae = None
        self.painters: dict[str, Painter] = {}
        with tempfile.TemporaryDirectory(prefix="oekaki-app-") as tmp:
            self.judge = self._network("cnn", Path(tmp), Judge.from_checkpoint)
            kinds = ("vae", *(p for p in painter_names() if p not in ("gmm", "vae")))  # a fixed order, the one the notices use
            networks = {k: self._network(k, Path(tmp)) for k in kinds}
        self.vae = networks.get("vae")
        for name in painter_names():
            if name == "gmm":
                self._load_gmm()
            elif (model := networks.get(name)) is not None:
                generate = NETWORKS[name].generate
                self.painters[name] = Painter(
                    name,
                    self.sources[name],
                    model.args.conditional,
                    lambda labels, n, seed, m=model, g=generate: g(m, n, labels, seed),
                    (lambda label, seed, m=model: noise_to_digit(m, label, seed)) if name == "diffusion" else None,
                )
        self._warm_up()

    # ------------------------------------------------------------------ loading
    def _checkpoint(self, kind: str, tmp: Path) -> dict | None:
        try:
            found = resolve(self.paths, kind, tmp, alias=ALIAS, fallback_without_alias=True)
            ckpt = load_checkpoint(found.path)
            if ckpt.get("kind") != kind:
                raise CheckpointError(f"{found.describe()} holds a {ckpt.get('kind')!r} model, not {kind!r}")
        except (ModelUnavailable, CheckpointError, OSError) as exc:
            self.missing[kind] = str(exc)
            return None
        except Exception as exc:  # the registry itself failed (a server that is down, a store of another version): no crash
            first = mask_credentials((str(exc).splitlines() or [""])[0])  # MLflow's errors quote the store's URL
            self.missing[kind] = f"the MLflow registry could not be read ({type(exc).__name__}: {first})"
            return None
        url = run_url(self.ui_url, found.experiment_id, found.run_id) if found.run_id and found.experiment_id else None
        path = None if found.from_registry else found.relative
        self.sources[kind] = Source(kind, found.name, found.version, found.alias, found.run_id, url, path, found.notice)
        return ckpt

    def _network(self, kind: str, tmp: Path, rebuild=load_network):
        ckpt = self._checkpoint(kind, tmp)
        if ckpt is None:
            return None
        try:
            return rebuild(ckpt)
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:  # weights or args that do not fit the network this code builds
            self.missing[kind] = f"{self.sources.pop(kind).text()}: cannot be rebuilt ({exc})"
            return None

    def _load_gmm(self) -> None:
        path = self.paths.gmm_digit_model
        if not path.is_file():
            self.missing["gmm"] = f"{path} is missing: run `make run` (the gmm stage) first"
            return
        with np.load(path) as npz:
            arrays = dict(npz)
        self.sources["gmm"] = Source("gmm", path=str(path.relative_to(self.paths.root)))
        self.painters["gmm"] = Painter("gmm", self.sources["gmm"], True, lambda labels, n, seed: sample_digit_model(arrays, labels, seed))

    def _warm_up(self) -> None:
        """One answer of each kind at start, so the first person does not wait for torch's lazy set-up."""
        digit = np.zeros((28, 28), np.uint8)
        digit[4:24, 13:16] = 255
        if self.judge is not None:
            self.read(digit)
            if self.vae is not None and self.vae.args.conditional:
                self.style(digit, 1)
        for name in self.painters:
            self.paint(name, 1, 1, 0)

    # ------------------------------------------------------------------ answers
    def require(self, kind: str) -> None:
        if kind in self.missing:
            raise Unavailable(f"the {kind} model is not available: {self.missing[kind]}")

    @torch.no_grad()
    def read(self, digit: np.ndarray) -> dict[str, Any]:
        """The judge's class probabilities and the first blocks' feature maps for one (28, 28) digit."""
        self.require("cnn")
        with self.lock:
            start = time.perf_counter()
            images = torch.from_numpy(digit[None])
            probs = self.judge.judge(images).probs[0]
            model = self.judge.model
            maps = model.feature_maps(model.normalize(images))[:MAP_BLOCKS]  # as the cnn stage's feature-map figure
            blocks = [  # each channel as a small grey image
                {"block": i + 1, "size": int(m.shape[-1]), "channels": [grey(c) for c in m[0, :MAX_MAPS]]} for i, m in enumerate(maps)
            ]
            ms = (time.perf_counter() - start) * 1000
        return {"label": int(probs.argmax()), "probs": [float(p) for p in probs], "maps": blocks, "ms": ms, "source": self.source("cnn")}

    def classify(self, digit: np.ndarray) -> int:
        """The judge's label for one (28, 28) digit."""
        self.require("cnn")
        with self.lock:
            return int(self.judge.judge(digit[None]).probs[0].argmax())

    @torch.no_grad()
    def style(self, digit: np.ndarray, label: int) -> dict[str, Any]:
        """The VAE's "same style, every digit" of one (28, 28) digit read as `label`: ten (28, 28) images."""
        self.require("vae")
        if not self.vae.args.conditional:
            raise Unavailable("the VAE was trained unconditional (vae.conditional = false): it has no style apart from the label")
        with self.lock:
            start = time.perf_counter()
            rows = style_transfer(self.vae, torch.from_numpy(digit[None]), torch.tensor([label]))[0]  # (10, 28, 28)
            ms = (time.perf_counter() - start) * 1000
        return {"images": rows.tolist(), "ms": ms, "source": self.source("vae")}

    def paint(self, name: str, label: int, n: int, seed: int) -> dict[str, Any]:
        """n new digits `label` from painter `name` (an unconditional painter draws any digit)."""
        self.require(name)
        painter = self.painters[name]
        labels = np.full(n, label) if painter.conditional else None
        with self.lock:
            start = time.perf_counter()
            images = painter.sample(labels, n, seed)
            ms = (time.perf_counter() - start) * 1000
            path = painter.path(label, seed).tolist() if painter.path is not None else None
        answer = {"images": images.tolist(), "conditional": painter.conditional, "ms": ms, "source": self.source(name)}
        return answer | ({"path": path} if path is not None else {})

    def source(self, kind: str) -> dict[str, Any]:
        return self.sources[kind].as_json()

    def info(self) -> dict[str, Any]:
        """What the page needs to know at start: sources, missing models, the painters and their state."""
        notices = [
            {"kind": k, "name": s.name, "path": s.path, "detail": s.notice} for k, s in self.sources.items() if s.notice and k != "gmm"
        ]
        painters = [
            {"name": p, "available": p in self.painters, "conditional": p in self.painters and self.painters[p].conditional}
            for p in painter_names()
        ]
        return {
            "sources": {k: s.as_json() for k, s in self.sources.items()},
            "missing": self.missing,
            "notices": notices,
            "painters": painters,
            "n_classes": N_CLASSES,
        }
