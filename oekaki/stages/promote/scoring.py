"""How the promotion gate scores one checkpoint: on the validation split, once per seed.

- `cnn-classifier`, `vit-classifier` (the two judges): validation accuracy (deterministic: one value, no seed spread);
- `vae`: validation negative ELBO in nats per image, one latent draw per image, seeds base.seed + k;
- `gan-generator`, `diffusion`, `text-painter`: the judge's FID against the validation images of the scoreboard's
  request (scoreboard.protocol_of: n = evaluate.n_samples labels of the test set's label mix per
  sampling seed base.seed + k; labels only, no test image). That is exactly what the painter's
  own stage drew once (models/<p>/scoreboard.npz), so the candidate's drawings are read from
  that file, not drawn again (issue 13: score each generator once); a champion, or a seed the
  file lacks, is drawn through `painters.draw`, which draws the same images for the same request
  (the text painter is asked by prompts naming the labels, English and Japanese alternating);
- `text-painter` also: prompt adherence (`val_adherence`, oekaki/models/adherence.py), the share of drawings
  obeying every word of their prompt (the judge reads the digit, the measured attribute level is the named
  one), promote.adherence_per_prompt drawings per language x digit x attribute x level, one value per seed,
  the levels cut by the candidate's attribute bins (its training digits') for both candidate and champion.

The untrained reference of the first candidate is the same architecture freshly initialised
(seed base.seed), written as a checkpoint and scored by this very scorer with the first seed
only (the untrained denoiser draws with one plain pass, UNTRAINED_SAMPLING): it is a sanity
floor orders of magnitude away (untrained FID about 360 to 1,300 against 8 to 20), not a close
comparison that needs a spread.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from oekaki.core import checkpoints
from oekaki.core.config import Config
from oekaki.core.device import resolve_device
from oekaki.core.io import arrays_sha256
from oekaki.core.paths import Paths
from oekaki.data import dataset, snapshot
from oekaki.data.attributes import Bins
from oekaki.models import adherence, scoreboard
from oekaki.models import judge as judge_mod
from oekaki.models.cnn import evaluate_classifier
from oekaki.models.loading import NETWORKS, load_network
from oekaki.models.painters import draw
from oekaki.models.vae import test_elbo


@dataclasses.dataclass(frozen=True)
class Gate:
    stage: str
    name: str  # registered model name
    metric: str
    higher_is_better: bool


GATES = (
    Gate("cnn", "cnn-classifier", "val_accuracy", True),
    Gate("vit", "vit-classifier", "val_accuracy", True),
    Gate("vae", "vae", "val_loss_nats", False),
    Gate("gan", "gan-generator", "val_fid", False),
    Gate("diffusion", "diffusion", "val_fid", False),
    Gate("text_painter", "text-painter", "val_fid", False),
)
CLASSIFIER_GATES = ("cnn", "vit")  # the judges: deterministic accuracies, the contributed digits' second gate
PAINTER_GATES = ("gan", "diffusion", "text_painter")  # scored by the judge's FID of their drawings
ADHERENCE = {"text_painter": "val_adherence"}  # a second measure: neither may drop beyond its margin
WEIGHTS = {
    "gan": ("generator",),
    "diffusion": ("model", "ema"),
    "text_painter": ("model", "ema"),
}  # where a checkpoint keeps the scored network's weights
# How the untrained floor draws, where it differs from the trained painter: a fresh denoiser's velocities point
# nowhere, so one plain conditional pass per drawing draws the same kind of noise as the default 8 steps with guidance
# (11 passes): FID 1,017 at 8 steps against 1,273 at 1 step, both a hundred times the painters' (docs/speed.md).
# The gate's floor is half of it either way; the floor's drawings cost 0.6 s instead of 6.2 s.
UNTRAINED_SAMPLING = {"diffusion": {"sample_steps": 1, "guidance": 1.0}, "text_painter": {"sample_steps": 1, "guidance": 1.0}}


@dataclasses.dataclass(frozen=True)
class Score:
    """One checkpoint's scores, one per seed (one in all for the deterministic CNN accuracy)."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof = 1) over the seeds; 0 for a single value."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def as_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}


class GateScorer:
    """Scores a checkpoint of any gated model on the validation split (data and judge loaded once)."""

    def __init__(self, cfg: Config, paths: Paths):
        self.cfg, self.device = cfg, resolve_device(cfg.base)
        self.data = dataset.TensorData.load(paths.prepared, torch.device("cpu"))
        self.paths, self.judge_path = paths, paths.cnn_model
        self.seeds = tuple(cfg.base.seed + k for k in range(cfg.promote.seeds))
        # the painters' request: the scoreboard's (n, the test set's label mix), with the gate's seeds
        self.request = scoreboard.protocol(self.data.test_y.numpy(), cfg.evaluate.n_samples, cfg.base.seed, cfg.promote.seeds)
        self._judge, self._real_features = None, None
        # the contributed digits the snapshot holds out (never trained on): the judge's second gate
        snap = snapshot.read(paths.contributions_snapshot)
        held = snap["split"] == snapshot.VALIDATION
        self.contrib_x, self.contrib_y = torch.from_numpy(snap["images"][held]), torch.from_numpy(snap["labels"][held]).long()
        self.contrib_sha = arrays_sha256({"images": snap["images"][held], "labels": snap["labels"][held]})

    def n_values(self, gate: Gate) -> int:
        return 1 if gate.stage in CLASSIFIER_GATES else len(self.seeds)

    def key(self, gate: Gate) -> str:
        """What a score was measured on; equal keys = comparable scores."""
        parts = {"validation": self.data.validation_sha256[:16], "seeds": list(self.seeds[: self.n_values(gate)])}
        if gate.stage == "vae":  # the latent draws come batch by batch
            parts["batch"] = self.cfg.vae.eval_batch_size
        if gate.stage in PAINTER_GATES:
            parts |= {
                "n": self.request.n,
                "labels": hashlib.sha256(self.request.requested.tobytes()).hexdigest()[:16],
                "judge": hashlib.sha256(self.judge_path.read_bytes()).hexdigest()[:16],
            }
        return json.dumps(parts, sort_keys=True)

    def contributed_key(self) -> str:
        """What a contributed-validation accuracy was measured on (the held-out digits' hash)."""
        return json.dumps({"contributed": self.contrib_sha[:16], "n": len(self.contrib_y)}, sort_keys=True)

    def score_contributed(self, checkpoint: Path) -> Score:
        """A judge checkpoint's accuracy on the held-out contributed digits (one value: deterministic)."""
        model = load_network(checkpoints.load_checkpoint(checkpoint)).to(self.device)
        x, y = self.contrib_x.to(self.device), self.contrib_y.to(self.device)
        return Score((float(evaluate_classifier(model, x, y, self.cfg.cnn.eval_batch_size)[0]["test_accuracy"]),))

    def score(self, gate: Gate, checkpoint: Path, board: scoreboard.Board | None = None, seeds: int | None = None) -> Score:
        """`board`: drawings of this very checkpoint for the request (a painter's scoreboard.npz); `seeds`: the first k only."""
        ckpt = checkpoints.load_checkpoint(checkpoint)
        if ckpt.get("kind") != gate.stage:
            raise ValueError(f"{checkpoint}: a {ckpt.get('kind')!r} checkpoint, expected {gate.stage!r}")
        x, y = self.data.val_x.to(self.device), self.data.val_y.to(self.device)
        use = self.seeds[:seeds] if seeds else self.seeds
        if gate.stage in CLASSIFIER_GATES:
            model = load_network(ckpt).to(self.device)
            return Score((float(evaluate_classifier(model, x, y, self.cfg.cnn.eval_batch_size)[0]["test_accuracy"]),))
        if gate.stage == "vae":
            model = load_network(ckpt).to(self.device)
            c = self.cfg.vae.model_copy(update={"conditional": model.args.conditional})
            return Score(tuple(float(test_elbo(model, x, y, c, seed)["test_loss_nats"]) for seed in use))
        return Score(tuple(self._painter_fid(gate, checkpoint, k, board) for k in range(len(use))))

    def adherence_key(self) -> str:
        """What a prompt adherence was measured on: the seeds, the request's size, the judge, the attribute bins."""
        parts = {"seeds": list(self.seeds), "per_prompt": self.cfg.promote.adherence_per_prompt, "bins": self._bins[1],
                 "judge": hashlib.sha256(self.judge_path.read_bytes()).hexdigest()[:16]}  # fmt: skip
        return json.dumps(parts, sort_keys=True)

    def score_adherence(self, checkpoint: Path) -> Score:
        """A text painter checkpoint's prompt adherence, one value per seed (oekaki/models/adherence.py)."""
        painter = load_network(checkpoints.load_checkpoint(checkpoint)).to(self.device)
        judge, per, bins = judge_mod.Judge.load(self.judge_path, self.device), self.cfg.promote.adherence_per_prompt, self._bins[0]
        return Score(tuple(adherence.prompt_adherence(painter, judge, bins, per, seed) for seed in self.seeds))

    @functools.cached_property
    def _bins(self) -> tuple[Bins, str]:
        """The candidate's attribute bins (the tertiles of its training digits) and their hash: both painters are measured by them.
        Read once per gate run (the candidate's checkpoint does not change while it is judged)."""
        saved = checkpoints.load_checkpoint(self.paths.final_model("text_painter"))["bins"]
        return Bins.from_dict(saved), hashlib.sha256(json.dumps(saved, sort_keys=True).encode()).hexdigest()[:16]

    def _painter_fid(self, gate: Gate, checkpoint: Path, k: int, board: scoreboard.Board | None) -> float:
        if self._judge is None:
            self._judge = judge_mod.Judge.load(self.judge_path, self.device)
            self._real_features = self._judge.judge(self.data.val_x.numpy()).features
        labels, seed = self.request.requested[k], self.request.seeds[k]
        if board is not None and k < len(board.seeds) and int(board.seeds[k]) == seed and np.array_equal(board.requested[k], labels):
            images = board.images[k]  # drawn once by the painter's stage
        else:
            pool = (self.data.val_x.numpy(), self.data.val_y.numpy())
            images, _ = draw(gate.stage, self.paths, labels, seed, self.device, pool, checkpoint)
        return float(judge_mod.frechet_distance(self._judge.judge(images).features, self._real_features))

    def candidate_board(self, gate: Gate) -> scoreboard.Board | None:
        """The painter stage's own scoreboard drawings (models/<p>/scoreboard.npz), when there are any."""
        path = self.paths.scoreboard_samples(gate.stage)
        return scoreboard.read_board(path) if gate.stage in PAINTER_GATES and path.is_file() else None

    def untrained(self, gate: Gate, checkpoint: Path, dest: Path) -> Score:
        """The score of `checkpoint`'s architecture freshly initialised (seed base.seed), first seed only: the first candidate's floor."""
        return self.score(gate, untrained_checkpoint(checkpoint, dest / f"untrained-{gate.stage}.pt", self.cfg.base.seed), seeds=1)


def untrained_checkpoint(checkpoint: Path, dest: Path, seed: int) -> Path:
    """`checkpoint` with its network's weights replaced by a fresh initialisation (seeded): same args, no training."""
    ckpt = checkpoints.load_checkpoint(checkpoint)
    torch.manual_seed(seed)
    built = NETWORKS[ckpt["kind"]].build(ckpt["model_args"])
    state = (built[0] if isinstance(built, tuple) else built).state_dict()  # the GAN builds (generator, discriminator)
    keys = [k for k in WEIGHTS.get(ckpt["kind"], ("model",)) if k in ckpt]
    args = ckpt["model_args"] | UNTRAINED_SAMPLING.get(ckpt["kind"], {})
    checkpoints.save_checkpoint(dest, {**ckpt, "model_args": args, **dict.fromkeys(keys, state)})
    return dest
