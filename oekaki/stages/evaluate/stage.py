"""Stage `evaluate`: one scoreboard, one judge, equal footing.

Every row is scored by the same judge (the cnn stage's classifier) with the protocol of
oekaki/models/scoreboard.py: n samples for each of evaluate.n_seeds seeds, asked for the same
labels (the test split's own label mix per seed), against the same n real test images; each
score is the mean over seeds, with its `_std`:
- `untrained`: the untrained painter, uniform random pixels (the seed's "noise"), drawn here;
- `gmm`: PCA + a Gaussian mixture per class (the gmm stage's digit model), drawn here;
- `vae`, `gan`, `diffusion`: the samples their own stages drew (models/<painter>/scoreboard.npz)
  and the scores their stages gave them with this same function (metrics/<painter>.json): drawn
  and judged once (issue 13), the board loaded here only to check it answers this protocol and for
  its grid (tests/test_report.py re-judges the boards and compares);
- `real`: real training images, for each requested label a distinct one of that label, drawn
  here like a painter: its FID is the honest floor (real data that is not the reference).
A second judge, the vit stage's Vision Transformer, reads every conditional row's board again (the same seeds
and samples): its conditional accuracy beside the CNN's, and where the two judges read a drawing differently
(oekaki/models/two_judges.py), with up to ten of those samples per row as figure data.
The report reads `metrics/evaluate.json` and the grids' data this stage saves (it draws them); it computes nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from oekaki.core import figure_data
from oekaki.core.config import Config
from oekaki.core.constants import NETWORK_PAINTERS, PAINTERS
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.device import resolve_device
from oekaki.core.errors import MissingInputError
from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.data import dataset
from oekaki.models import judge as judge_mod
from oekaki.models import scoreboard, two_judges
from oekaki.models.painters import draw_painter

log = get_logger("evaluate")
ROWS = ("real", *PAINTERS)
STAGE_PAINTERS = tuple(p for p in PAINTERS if p != "untrained")  # painters made by a stage of their own
JudgePair = tuple[judge_mod.Judge, judge_mod.Judge]  # (the CNN, the ViT)


def sample_grid(name: str, images: np.ndarray, asked: np.ndarray | None, path: Path) -> Path:
    """Ten samples per asked label, one row each (or the first hundred when unconditional), as figure data."""
    if asked is not None:
        pick = np.concatenate([np.flatnonzero(asked == c)[:10] for c in range(10)])
        if len(pick) == 100:
            return figure_data.digit_grid(path, images[pick], 10, [str(c) for c in range(10)])
    return figure_data.digit_grid(path, images[:100], 10)


def disagreement_figure(shown: two_judges.Disagreements, path: Path) -> Path | None:
    """The samples the two judges read differently (asked label, each judge's reading) as figure data; None when there are none."""
    if not len(shown.asked):
        path.unlink(missing_ok=True)  # no figure of an earlier run's disagreements stays behind
        return None
    return figure_data.save(path, "judges_disagree", images=shown.images, asked=shown.asked, cnn=shown.cnn, vit=shown.vit)


def second_reading(name: str, board: scoreboard.Board, judges: JudgePair, paths: Paths) -> tuple[dict, Path | None]:
    """A conditional row read by both judges (CNN, ViT): the ViT's numbers for the row, and the disagreements' figure data."""
    cnn_read, vit_read = (two_judges.readings(j, board) for j in judges)  # (n_seeds, n) each
    shown = two_judges.disagreements(board, cnn_read, vit_read)
    figure = disagreement_figure(shown, paths.figure_data("evaluate") / f"disagree_{name}.npz")
    return two_judges.compare(board.requested, cnn_read, vit_read), figure


def row_board(name: str, paths: Paths, proto: scoreboard.Protocol, device, train) -> scoreboard.Board:
    """A network painter's samples as its own stage drew them (checked against `proto`); the others drawn here."""
    if name in NETWORK_PAINTERS:
        return scoreboard.load_board(paths.scoreboard_samples(name), proto, name)
    return draw_painter(name, paths, proto, device, train)


def stage_scores(name: str, metrics: dict, board: scoreboard.Board) -> dict[str, float]:
    """The scoreboard measures (and their `_std`) the painter's stage computed on `board`, from metrics/<name>.json."""
    keys = [k for m in scoreboard.MEASURES for k in (m, f"{m}_std") if board.conditional or m not in scoreboard.CONDITIONAL_ONLY]
    if missing := [k for k in keys if k not in metrics]:
        raise MissingInputError(f"metrics/{name}.json lacks {', '.join(missing)}: rerun stage {name!r} (`dvc repro {name}`)")
    return {k: float(metrics[k]) for k in keys}


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    device = resolve_device(cfg.base)
    data = dataset.TensorData.load(paths.prepared, torch.device("cpu"))
    test_x, test_y = data.test_x.numpy(), data.test_y.numpy()
    train = (data.train_x.numpy(), data.train_y.numpy())
    judge = judge_mod.Judge.load(paths.cnn_model, device)
    vit_judge = two_judges.load_vit_judge(paths.vit_model, paths.cnn_model, device)
    cnn = read_json(paths.metrics("cnn"))
    proto = scoreboard.protocol_of(cfg, test_y)
    reference, reference_labels = scoreboard.reference(judge, test_x, test_y, proto)
    provenance = {s: read_json(paths.provenance(s)) for s in STAGE_PAINTERS if paths.provenance(s).is_file()}
    metrics_of = {s: read_json(paths.metrics(s)) for s in NETWORK_PAINTERS}
    rows, facts, figures = {}, {}, []
    for name in ROWS:
        with phase("sampling"):  # untrained, gmm and real only: the network painters' stages drew theirs
            board = row_board(name, paths, proto, device, train)
        with phase("scoring"):
            if name in NETWORK_PAINTERS:
                scores = stage_scores(name, metrics_of[name], board)
            else:
                scores = scoreboard.score_board(judge, board, reference, reference_labels)
        rows[name] = {**scores, "train_seconds": metrics_of[name]["train_seconds"] if name in NETWORK_PAINTERS else None}
        if board.conditional:
            with phase("second_judge"):
                second, disagree = second_reading(name, board, (judge, vit_judge), paths)
            rows[name] |= second
            figures += [disagree] if disagree else []
            log.info("%-9s read as asked: CNN %.1f%%, ViT %.1f%%; judges disagree on %.1f%%", name, 100 * scores["conditional_accuracy"],
                     100 * second["conditional_accuracy_vit"], 100 * second["judges_disagree"])  # fmt: skip
        else:  # not applicable: null (in the provenance's facts), so a missing key always means a fault
            rows[name] |= {k: None for m in scoreboard.CONDITIONAL_ONLY for k in (m, f"{m}_std")}
            rows[name] |= {k: None for k in two_judges.SECOND_JUDGE_KEYS}
        facts[name] = {
            "conditional": board.conditional,
            "device": provenance.get(name, {}).get("device", "cpu") if name in NETWORK_PAINTERS else "cpu",
            "mlflow_run_id": provenance.get(name, {}).get("mlflow_run_id"),
        }
        with phase("figures"):
            asked = board.requested[0] if board.conditional else None
            out = paths.figure_data("evaluate") / f"{name}.npz"
            figures.append(sample_grid(name, board.images[0], asked, out))
        log.info("%-9s FID %8.2f ± %.2f  IS %5.2f ± %.2f", name, scores["fid"], scores["fid_std"], scores["inception_score"],
                 scores["inception_score_std"])  # fmt: skip
    metrics = {
        "scoreboard": rows,
        "generators": facts,  # strings, flags and ids: the runner moves them to metrics/provenance/evaluate.json
        "n_samples": proto.n,
        "n_seeds": len(proto.seeds),
        "seeds": list(proto.seeds),
        "judge_test_accuracy": cnn["test_accuracy"],
        "fid_noise_ceiling": cnn["fid_noise_ceiling"],
        "fid_real_floor": cnn["fid_real_floor"],
        "device": device.type,
    }
    return StageResult(metrics=metrics, figures=figures)
