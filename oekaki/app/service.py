"""The models behind the page (weights only), the five things it asks of them, and the new champion without a restart.

Which checkpoint: the MLflow registry's `champion` version of each model, else the DVC-tracked
models/<kind>/model.pt with a notice (oekaki/pipeline/champions.py, shared with flows.sample).
A model that cannot be loaded is recorded with the reason; the endpoints that need it answer
503 with that reason, the rest of the page works. The work itself is the pipeline's own: the
judge (oekaki/models/judge.py) and the classifier's feature maps, the second judge (the Vision
Transformer, read by the same Judge) and its attention rollout (both in oekaki/app/readings.py), the
VAE's style transfer, each painter's sampler (gmm.sample_digit_model, NETWORKS[kind].generate), and the
text painter (oekaki/models/text_painter.py): a prompt in English or Japanese painted as four digits
(oekaki/app/prompts.py reads the prompt and writes the answer).

Hot reload (`Models.watch`): a daemon thread reads the registry's `champion` aliases every few
seconds (gate.read_champions: a read-only SQL query on the project's SQLite store, MLflow's client
otherwise). When one moves, it loads that version in the background, answers once with it, then
swaps it in: one assignment under `swap`, so an answer takes a model and its source together. An
answer already running keeps the model it took and finishes on it; the next gets the new one. A
version that fails to load leaves the old one serving (logged; tried again after RETRY_S).
A registry version's tags `contributed_digits` and `snapshot_digest` (set by the runner when it
registers a version; none = 0 digits) come with its source, for the page's "judge v7, trained
on 1,234 contributed digits".
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oekaki.app import prompts
from oekaki.app.readings import READINGS, noise_to_digit, warm_digit
from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.constants import N_CLASSES, NETWORK_PAINTERS, PAINTERS
from oekaki.core.errors import CheckpointError
from oekaki.core.paths import Paths
from oekaki.models.gmm import sample_digit_model
from oekaki.models.judge import Judge
from oekaki.models.loading import NETWORKS, load_network
from oekaki.models.vae import style_transfer
from oekaki.pipeline.champions import ModelUnavailable, registered_name, resolve, run_url
from oekaki.pipeline.tracking import Registry, mask_credentials

ALIAS = "champion"
POLL_S = 5.0  # seconds between two looks at the registry's aliases (python -m oekaki.app --poll)
RETRY_S = 60.0  # a version that failed to load is tried again after this long
CONTRIBUTED_TAG, SNAPSHOT_TAG = "contributed_digits", "snapshot_digest"  # tags of a registered version (the runner's)
TEXT_PAINTER = prompts.KIND
MISSING_HOW = {TEXT_PAINTER: prompts.HOW}  # kind -> what makes it, added to the reason it is missing (notice, 503)


log = logging.getLogger("oekaki.app")


def painter_names() -> tuple[str, ...]:
    """The painters a person can ask: the scoreboard's, less the untrained one (gmm and every network painter)."""
    return tuple(p for p in PAINTERS if p == "gmm" or (p in NETWORK_PAINTERS and p in NETWORKS))


JUDGES = tuple(READINGS)  # the classifiers the page asks, each served as a Judge: the CNN (the judge) and the ViT


def network_kinds() -> tuple[str, ...]:
    """The registered models the page uses, in the order of its notices: the two judges, the VAE, the network painters,
    the text painter."""
    return (*JUDGES, "vae", *(p for p in painter_names() if p not in ("gmm", "vae")), TEXT_PAINTER)


def tag_int(tags: dict[str, str], key: str) -> int | None:
    """A count tag of a registered version: absent = 0; a value that is not a whole number = None (unknown)."""
    try:
        return int(tags.get(key, "0"))
    except ValueError:
        return None


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
    contributed_digits: int | None = None  # a registry version's: contributed digits it was trained on (None: not known)
    snapshot_digest: str | None = None  # a registry version's: the contributions snapshot it was trained on

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


class Models:
    """Every model the page uses, from project folder `paths` (no request names a file); `watch` keeps them the champions."""

    def __init__(self, paths: Paths, ui_url: str):
        self.paths, self.ui_url = paths, ui_url
        self.lock = threading.Lock()  # one answer at a time: the CPU's cores go to one forward pass
        self.swap = threading.Lock()  # held only to read or replace a model with its source: answers see them together
        self.sources: dict[str, Source] = {}
        self.missing: dict[str, str] = {}  # kind -> why it could not be loaded
        self.judge: Judge | None = None
        self.vit: Judge | None = None  # the second judge: a Judge over the DigitViT
        self.vae = None
        self.text_painter = None  # the TextPainter: prompt -> digits
        self.painters: dict[str, Painter] = {}
        self.swaps: list[dict[str, Any]] = []  # hot reloads: kind, from, to, seconds from noticing to serving
        self._failed: dict[str, tuple[str | None, float]] = {}  # kind -> (version that failed to load, when)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        with tempfile.TemporaryDirectory(prefix="oekaki-app-") as tmp:
            loaded = {kind: self._load(kind, Path(tmp)) for kind in network_kinds()}
        for kind, (model, source, why) in loaded.items():
            if model is not None:
                self._warm(kind, model)
            self._install(kind, model, source, why)
        self._load_gmm()
        if "gmm" in self.painters:
            self.painters["gmm"].sample(np.ones(1, np.int64), 1, 0)

    # ------------------------------------------------------------------ loading
    def _checkpoint(self, kind: str, tmp: Path) -> tuple[dict, Source]:
        """The checkpoint of `kind`'s champion (or its DVC-tracked file) and its source; ModelUnavailable says why not."""
        try:
            found = resolve(self.paths, kind, tmp, alias=ALIAS, fallback_without_alias=True)
            ckpt = load_checkpoint(found.path)
            if ckpt.get("kind") != kind:
                raise CheckpointError(f"{found.describe()} holds a {ckpt.get('kind')!r} model, not {kind!r}")
            tags = Registry(self.paths).client.get_model_version(found.name, found.version).tags if found.from_registry else {}
        except (ModelUnavailable, CheckpointError, OSError) as exc:
            raise ModelUnavailable(str(exc)) from exc
        except Exception as exc:  # the registry itself failed (a server that is down, a store of another version): no crash
            first = mask_credentials((str(exc).splitlines() or [""])[0])  # MLflow's errors quote the store's URL
            raise ModelUnavailable(f"the MLflow registry could not be read ({type(exc).__name__}: {first})") from exc
        url = run_url(self.ui_url, found.experiment_id, found.run_id) if found.run_id and found.experiment_id else None
        path = None if found.from_registry else found.relative
        contributed = tag_int(tags, CONTRIBUTED_TAG) if found.from_registry else None
        source = Source(
            kind, found.name, found.version, found.alias, found.run_id, url, path, found.notice, contributed, tags.get(SNAPSHOT_TAG)
        )
        return ckpt, source

    def _load(self, kind: str, tmp: Path) -> tuple[Any, Source | None, str | None]:
        """(network, its source, None), or (None, None, why it could not be loaded)."""
        try:
            ckpt, source = self._checkpoint(kind, tmp)
        except ModelUnavailable as exc:
            return None, None, str(exc)
        try:
            if kind == "cnn":
                return Judge.from_checkpoint(ckpt), source, None
            return (Judge(load_network(ckpt)) if kind == "vit" else load_network(ckpt)), source, None
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:  # weights or args that do not fit the network this code builds
            return None, None, f"{source.text()}: cannot be rebuilt ({exc})"

    def _install(self, kind: str, model: Any, source: Source | None, why: str | None) -> None:
        """Put `model` (None: missing, because `why`) in service for `kind`, with its source, in one step."""
        painter = None
        if model is not None and kind in painter_names():
            generate = NETWORKS[kind].generate
            painter = Painter(
                kind,
                source,
                model.args.conditional,
                lambda labels, n, seed, m=model, g=generate: g(m, n, labels, seed),
                (lambda label, seed, m=model: noise_to_digit(m, label, seed)) if kind == "diffusion" else None,
            )
        with self.swap:
            if model is None:
                self.missing[kind] = why + (f" ({MISSING_HOW[kind]})" if kind in MISSING_HOW else "")
                self.sources.pop(kind, None)
            else:
                self.missing.pop(kind, None)
                self.sources[kind] = source
            if kind == "cnn":
                self.judge = model
            elif kind == "vit":
                self.vit = model
            elif kind == "vae":
                self.vae = model
            elif kind == TEXT_PAINTER:
                self.text_painter = model
            if painter is not None:
                self.painters[kind] = painter
            elif kind in painter_names():
                self.painters.pop(kind, None)

    def _load_gmm(self) -> None:
        path = self.paths.gmm_digit_model
        if not path.is_file():
            self.missing["gmm"] = f"{path} is missing: run `make run` (the gmm stage) first"
            return
        with np.load(path) as npz:
            arrays = dict(npz)
        self.sources["gmm"] = Source("gmm", path=str(path.relative_to(self.paths.root)))
        self.painters["gmm"] = Painter("gmm", self.sources["gmm"], True, lambda labels, n, seed: sample_digit_model(arrays, labels, seed))

    @torch.no_grad()
    def _warm(self, kind: str, model: Any) -> None:
        """One answer of each sort network `model` gives, before it serves: the first person does not wait for torch's set-up."""
        digit = warm_digit()
        if kind in JUDGES:
            READINGS[kind](model, digit)
            return
        one = np.ones(1, np.int64) if model.args.conditional else None
        if kind == "vae" and model.args.conditional:
            style_transfer(model, torch.from_numpy(digit[None]), torch.tensor([1]))
        if kind in painter_names():
            NETWORKS[kind].generate(model, 1, one, 0)
        if kind == TEXT_PAINTER:  # a prompt's batch, as the page asks for it
            NETWORKS[kind].generate(model, prompts.IMAGES, np.ones(prompts.IMAGES, np.int64), 0)

    # ------------------------------------------------------------------ hot reload
    def champions(self) -> dict[str, str | None]:
        """kind -> the version the registry's `champion` alias names now (None: no alias, or no store)."""
        from oekaki.pipeline.gate import read_champions

        names = {registered_name(kind): kind for kind in network_kinds()}
        return {names[name]: version for name, version in read_champions(self.paths, list(names)).items()}

    def check(self) -> list[str]:
        """One look at the aliases: load every model whose champion moved and swap it in. Returns the kinds swapped."""
        swapped = []
        for kind, version in self.champions().items():
            with self.swap:
                serving = self.sources[kind].version if kind in self.sources else None
            failed = self._failed.get(kind)
            if version == serving or (failed and failed[0] == version and time.monotonic() - failed[1] < RETRY_S):
                continue
            if self.reload(kind, serving, version):
                swapped.append(kind)
        return swapped

    def reload(self, kind: str, serving: str | None, wanted: str | None) -> bool:
        """Load `kind`'s champion now, answer once with it, then swap it in (the old one stays if it cannot be loaded)."""
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="oekaki-app-") as tmp:
            model, source, why = self._load(kind, Path(tmp))
        if model is None:
            self._failed[kind] = (wanted, time.monotonic())
            moved = f"moved to version {wanted}" if wanted else "alias is gone"
            log.warning("%s: the champion %s but cannot be loaded; still serving %s: %s", kind, moved, serving, why)
            return False
        self._warm(kind, model)
        self._install(kind, model, source, None)
        self._failed.pop(kind, None)
        seconds = time.perf_counter() - start
        self.swaps.append({"kind": kind, "from": serving, "to": source.version, "seconds": round(seconds, 3)})
        log.info("%s: now %s (was version %s; loaded and swapped in %.1f s)", kind, source.text(), serving, seconds)
        return True

    def watch(self, poll_s: float = POLL_S) -> None:
        """Check the aliases every `poll_s` seconds in a daemon thread, until `stop`."""
        if self._watcher is None and poll_s > 0:
            self._watcher = threading.Thread(target=self._watch, args=(poll_s,), name="oekaki-champions", daemon=True)
            self._watcher.start()

    def _watch(self, poll_s: float) -> None:
        away = False  # said once while the registry cannot be read, and again when it can
        while not self._stop.wait(poll_s):
            try:
                self.check()
            except Exception as exc:  # a registry that is away for a moment: the models serving go on
                if not away:
                    first = mask_credentials((str(exc).splitlines() or [repr(exc)])[0])
                    log.warning("could not read the champion aliases (%s: %s); the loaded models go on serving", type(exc).__name__, first)
                away = True
            else:
                if away:
                    log.info("the champion aliases can be read again")
                away = False

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(30)

    # ------------------------------------------------------------------ answers
    def require(self, kind: str) -> None:
        if kind in self.missing:
            raise Unavailable(f"the {kind} model is not available: {self.missing[kind]}")

    def take(self, kind: str) -> tuple[Any, Source]:
        """The judge ("cnn"), the ViT ("vit"), the VAE ("vae") or the text painter ("text_painter") serving now and its
        source, taken together: an answer finishes on it."""
        with self.swap:
            self.require(kind)
            served = {"cnn": self.judge, "vit": self.vit, "vae": self.vae, TEXT_PAINTER: self.text_painter}
            return served[kind], self.sources[kind]

    def painter(self, name: str) -> Painter:
        """Painter `name` serving now (it holds its source): an answer finishes on it."""
        with self.swap:
            self.require(name)
            return self.painters[name]

    def read(self, digit: np.ndarray, kind: str = "cnn") -> dict[str, Any]:
        """Judge `kind`'s reading of one (28, 28) digit: the CNN's probabilities and feature maps, or the ViT's
        ("vit") probabilities and attention rollout (readings.py), timed, with the model's source."""
        judge, source = self.take(kind)
        with self.lock:
            start = time.perf_counter()
            answer = READINGS[kind](judge, digit)
            ms = (time.perf_counter() - start) * 1000
        return answer | {"ms": ms, "source": source.as_json()}

    def classify(self, digit: np.ndarray) -> int:
        """The judge's label for one (28, 28) digit."""
        judge, _ = self.take("cnn")
        with self.lock:
            return int(judge.judge(digit[None]).probs[0].argmax())

    @torch.no_grad()
    def style(self, digit: np.ndarray, label: int) -> dict[str, Any]:
        """The VAE's "same style, every digit" of one (28, 28) digit read as `label`: ten (28, 28) images."""
        vae, source = self.take("vae")
        if not vae.args.conditional:
            raise Unavailable("the VAE was trained unconditional (vae.conditional = false): it has no style apart from the label")
        with self.lock:
            start = time.perf_counter()
            rows = style_transfer(vae, torch.from_numpy(digit[None]), torch.tensor([label]))[0]  # (10, 28, 28)
            ms = (time.perf_counter() - start) * 1000
        return {"images": rows.tolist(), "ms": ms, "source": source.as_json()}

    def paint(self, name: str, label: int, n: int, seed: int) -> dict[str, Any]:
        """n new digits `label` from painter `name` (an unconditional painter draws any digit)."""
        painter = self.painter(name)
        labels = np.full(n, label) if painter.conditional else None
        with self.lock:
            start = time.perf_counter()
            images = painter.sample(labels, n, seed)
            ms = (time.perf_counter() - start) * 1000
            path = painter.path(label, seed).tolist() if painter.path is not None else None
        answer = {"images": images.tolist(), "conditional": painter.conditional, "ms": ms, "source": painter.source.as_json()}
        return answer | ({"path": path} if path is not None else {})

    def paint_prompt(self, prompt: str, seed: int) -> dict[str, Any]:
        """Four digits for one prompt (English or Japanese) from the text painter serving now (prompts.paint: a
        BadPrompt for an empty or too long prompt, or one with no word it knows), with its source."""
        prompts.check(prompt)  # refused before the model is asked: an empty prompt is a 422 with or without one
        painter, source = self.take(TEXT_PAINTER)
        return prompts.paint(painter, prompt, seed, self.lock) | {"source": source.as_json()}

    def source(self, kind: str) -> dict[str, Any]:
        with self.swap:
            return self.sources[kind].as_json()

    def info(self) -> dict[str, Any]:
        """What the page needs to know: sources (a registry version's contributed digits too), missing models, the painters,
        the prompt box."""
        with self.swap:
            sources, missing, painters = dict(self.sources), dict(self.missing), dict(self.painters)
            text_painter = self.text_painter if TEXT_PAINTER in sources else None
        notices = [{"kind": k, "name": s.name, "path": s.path, "detail": s.notice} for k, s in sources.items() if s.notice and k != "gmm"]
        listed = [
            {"name": p, "available": p in painters, "conditional": p in painters and painters[p].conditional} for p in painter_names()
        ]
        return {
            "sources": {k: s.as_json() for k, s in sources.items()},
            "missing": missing,
            "notices": notices,
            "painters": listed,
            "prompt": prompts.info(text_painter),
            "n_classes": N_CLASSES,
        }
