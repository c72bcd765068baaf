"""What the report reads: every stage's metrics and provenance, checked before any page is drawn.

metrics/<stage>.json holds only numbers; a stage's strings, flags and ids (dataset, device, sweeps, run ids)
live in its provenance record's `facts`. `gather` joins the two, so the page reads one dict per stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from oekaki.core.contract import stage_results
from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.stages.report.contributed import Contributed, load_snapshot
from oekaki.stages.report.history import History
from oekaki.stages.report.tables import check_scoreboard

STAGES = ("download", "gmm", "cnn", "vit", "vae", "gan", "diffusion", "autoencoder", "text_painter", "evaluate")

DIFFUSION_NUMBERS = (
    "epochs", "steps", "train_seconds", "device", "fid", "conditional_accuracy", "within_class_diversity", "judge_test_accuracy",
    "memorisation_ratio", "objective", "sampler", "time_sampling", "sample_steps", "guidance", "guidance_from", "guidance_until",
    "label_drop", "n_samples", "sample_seconds_per_1000", "sweep_samples", "steps_sweep", "guidance_sweep", "conditional_accuracy_std",
)  # fmt: skip
AUTOENCODER_NUMBERS = (
    "epochs", "train_seconds", "device", "latent_shape", "compression", "reconstruction_fid", "reconstruction_accuracy", "n_reconstructed",
    "judge_test_accuracy",
)  # fmt: skip
ADHERENCE = tuple(
    f"{what}_adherence{lang}" for what in ("digit", "thickness", "slant", "width", "attribute") for lang in ("", "_en", "_ja")
)  # the text painter's: `digit_adherence_ja`, ...
TEXT_PAINTER_NUMBERS = (
    *ADHERENCE, "held_out_adherence", "seen_adherence", "held_out_digit_adherence", "japanese_gap", "prompt_adherence", "fid", "fid_std",
    "n_samples", "n_seeds", "n_adherence_prompts", "epochs", "steps", "train_seconds", "sample_seconds_per_1000", "n_parameters",
    "vocab_size", "device", "guidance", "sample_steps", "sampler", "held_out_table", "guidance_sweep", "caption_examples",
    "reconstruction_keeps_thickness", "reconstruction_keeps_slant", "reconstruction_keeps_width",
)  # fmt: skip
# The numbers the page's text uses, per stage (the scoreboard is checked by check_scoreboard).
REQUIRED = {
    "download": ("dataset", "source", "n_train", "n_validation", "n_test", "sha256"),
    "gmm": ("n_artworks", "true_k", "chosen_k", "heldout_loglik", "true_heldout_loglik", "loglik_gap", "digits_pca_explained_variance"),
    "cnn": (
        "epochs",
        "train_seconds",
        "device",
        "test_accuracy",
        "fid_real_floor",
        "fid_noise_ceiling",
        "inception_score_real",
        "calibration_n_samples",
    ),
    "vit": (
        "patch",
        "grid",
        "tokens",
        "depth",
        "stem",
        "n_parameters",
        "epochs",
        "train_seconds",
        "device",
        "test_accuracy",
        "attention_digits",
        "ink_share_vit",
        "ink_share_cnn",
        "ink_share_uniform",
        "ink_share_random",
        "inked_patch_fraction",
        "position_similarity_neighbours",
        "position_far_at",
        "position_similarity_far",
        "position_similarity_distance_correlation",
    ),  # fmt: skip
    "vae": ("test_loss_nats", "test_recon_nats", "test_kl_nats", "fid", "fid_noise_ceiling", "train_seconds"),
    "gan": ("epochs", "g_steps", "train_seconds", "device", "fid", "memorisation_ratio"),
    "diffusion": DIFFUSION_NUMBERS,
    "autoencoder": AUTOENCODER_NUMBERS,
    "text_painter": TEXT_PAINTER_NUMBERS,
    "evaluate": ("n_samples", "n_seeds", "fid_real_floor", "scoreboard"),
}


@dataclass
class Inputs:
    metrics: dict[str, dict | None]
    provenance: dict[str, dict | None]
    missing: list[str]  # stages whose section cannot be drawn: no output, or bad numbers
    problems: list[str] = field(default_factory=list)  # missing keys or NaN values, "file: key ..."
    absent: list[str] = field(default_factory=list)  # stages with no output at all
    promotion: dict | None = None  # the promotion gate's decision (models/promote/decision.json)
    contributed: Contributed | None = None  # the contributions snapshot, when it holds a digit (data/snapshot/)
    history: History | None = None  # the judge's champion history (stage.py reads it only when there are contributions)
    vit_sizes: Any = None  # bench/vit.py's figure data (FigureData), when a results file exists (stage.py)

    def missing_for(self, needs: tuple[str, ...]) -> list[str]:
        """The stages a section needs that it cannot draw (the scoreboard marks its own bad cells)."""
        return [s for s in needs if s in self.missing and not (s == "evaluate" and self.metrics.get("evaluate"))]


# what the sections print besides, for a conditional painter (provenance params `<stage>.conditional`)
CONDITIONAL_REQUIRED = {
    "vae": (
        "conditional_accuracy", "judge_test_accuracy", "style_transfer_accuracy", "style_transfer_cells", "style_grid_correct",
        "style_grid_cells", "label_probe_accuracy", "prior_gap_nats",
    ),
    "gan": ("conditional_accuracy", "judge_test_accuracy", "within_class_diversity"),
}  # fmt: skip


def check_metrics(stage: str, metrics: dict, conditional: bool = False) -> list[str]:
    """Problems with the numbers a stage's section prints: missing keys, NaN or infinite values."""
    problems = []
    for key in REQUIRED[stage] + (CONDITIONAL_REQUIRED.get(stage, ()) if conditional else ()):
        if key not in metrics:
            problems.append(f"metrics/{stage}.json: {key} is missing")
        elif isinstance(metrics[key], float) and not math.isfinite(metrics[key]):
            problems.append(f"metrics/{stage}.json: {key} is {metrics[key]}")
        elif isinstance(metrics[key], list):  # a sweep: rows of numbers (names may be text), at least one; or a list of values
            rows = enumerate(r for r in metrics[key] if isinstance(r, dict))
            bad = [f"{key}[{i}].{k}" for i, row in rows for k, v in row.items() if not isinstance(v, str) and not _finite(v)]
            problems += [f"metrics/{stage}.json: {b} is missing or not finite" for b in bad or ([] if metrics[key] else [key])]
    return problems


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def has_output(paths: Paths, stage: str) -> bool:
    return paths.metrics(stage).is_file() and paths.provenance(stage).is_file() and paths.figure_data(stage).is_dir()


def gather(paths: Paths) -> Inputs:
    """Read every stage's metrics and provenance; a stage whose section numbers are bad counts as missing."""
    metrics, prov, missing, problems = {}, {}, [], []
    for stage in STAGES:
        present = has_output(paths, stage)
        metrics[stage] = stage_results(paths, stage) if present else None  # the numbers and, from provenance, the facts
        prov[stage] = read_json(paths.provenance(stage)) if present else None
        conditional = present and bool(prov[stage].get("params", {}).get(f"{stage}.conditional"))
        bad = check_metrics(stage, metrics[stage], conditional) if present else []
        problems += bad
        if not present or bad:
            missing.append(stage)
    if metrics.get("evaluate") is not None and "scoreboard" in metrics["evaluate"]:
        problems += check_scoreboard(metrics["evaluate"])
    absent = [s for s in missing if not has_output(paths, s)]
    promote = paths.promote_decision
    decision = read_json(promote) if promote.is_file() else None
    inputs = Inputs(metrics, prov, missing, problems, absent, decision, load_snapshot(paths))
    for stage in missing:  # sections never read half-valid numbers
        if stage != "evaluate" or "scoreboard" not in (metrics.get("evaluate") or {}):
            metrics[stage], prov[stage] = None, None
    return inputs
