"""The report's figure "where each wins": test accuracy against training images, the CNN beside the ViT, from bench/vit.py.

bench/vit.py trains each model for the same seconds at each training size and writes
bench/results/vit-<commit>.json (committed, named by the commit it measured). The report trains
nothing: it reads the newest such file (by the date it records, not by file times, which a
checkout resets) and turns it into figure data, one panel per dataset, one line per model, the
spread over seeds as error bars (oekaki/figures/vit_sizes.py draws it). No file, no figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from oekaki.core import figure_data
from oekaki.core.errors import ReportError
from oekaki.core.io import read_json
from oekaki.core.locales import text

PATTERN = "vit-*.json"  # bench/common.py's name for bench/vit.py's results: vit[-<tag>]-<commit>[-dirty].json
NAME = "vit_sizes"  # the figure's name: reports/figures/<folder>/vit_sizes.<lang>.png
DATASETS = ("fashion-mnist", "mnist")  # the datasets bench/vit.py trains on, in the panels' order


def newest_results(folder: Path) -> Path | None:
    """bench/vit.py's newest training-sizes results file in `folder` by its recorded date; None when there is none."""
    dated = []
    for path in sorted(Path(folder).glob(PATTERN)):
        try:
            record = read_json(path)
        except (OSError, json.JSONDecodeError) as e:
            raise ReportError(f"{path}: not a readable results file ({e}); rerun bench/vit.py or delete the file") from None
        sizes = record.get("figures", {}).get("mode", "sizes") == "sizes"  # --sample's files (mode "sample") are not
        if record.get("script") == "bench/vit.py" and sizes:
            dated.append((record.get("date", ""), path.name, path))
    return max(dated)[2] if dated else None


def figure_arrays(record: dict) -> dict[str, np.ndarray]:
    """One results record as arrays: datasets (D,), models and their kinds (M,), sizes and budgets (D, S), mean, std and
    seconds (D, M, S).

    A model's kind names its words: cnn, vit_stem (a ViT with a convolutional stem) or vit_pure (stem 0), read from
    the configuration the bench recorded. A size or model missing from a dataset's rows is NaN (drawn as a gap);
    sizes are those trained (a dataset with fewer images than a size asked for trained on all it has).
    """
    figs = record["figures"]
    names = [d for d in DATASETS if d in figs["datasets"]]
    if not names:
        raise ReportError(f"bench/vit.py results of {record.get('commit', '?')[:7]}: no dataset among {', '.join(DATASETS)}")
    models = list(figs["models"])
    kinds = [m if m == "cnn" else ("vit_stem" if figs["models"][m]["config"].get("stem", 0) > 0 else "vit_pure") for m in models]
    n_sizes = len(figs["sizes"])
    sizes, budgets = np.zeros((len(names), n_sizes), dtype=np.int64), np.zeros((len(names), n_sizes))
    stats = {k: np.full((len(names), len(models), n_sizes), np.nan) for k in ("mean", "std", "seconds")}
    for d, name in enumerate(names):
        summary = figs["datasets"][name]["summary"]
        trained = sorted({s["size"] for s in summary})
        if len(trained) != n_sizes:
            raise ReportError(f"bench/vit.py results, {name}: {len(trained)} sizes trained, {n_sizes} asked for; rerun bench/vit.py")
        sizes[d] = trained
        budgets[d] = [next(s["budget_s"] for s in summary if s["size"] == n) for n in trained]
        for s in summary:
            at = (d, models.index(s["model"]), trained.index(s["size"]))
            stats["mean"][at], stats["std"][at], stats["seconds"][at] = s["mean_accuracy"], s["std_accuracy"], s["mean_seconds"]
    return {"datasets": np.asarray(names), "models": np.asarray(models), "kinds": np.asarray(kinds), "sizes": sizes, **stats,
            "budgets": budgets, "n_seeds": np.asarray(len(figs["seeds"])),
            "commit": np.asarray(record["commit"][:7])}  # fmt: skip


def save_figure_data(results: Path, folder: Path) -> Path:
    """The figure's data from one results file into `folder`/vit_sizes.npz (drawn as kind `vit_sizes`); returns the file."""
    return figure_data.save(Path(folder) / f"{NAME}.npz", "vit_sizes", **figure_arrays(read_json(results)))


def caption_fields(d: figure_data.FigureData) -> dict[str, str | int]:
    """What the caption quotes: the sizes, the budgets, the seeds and the commit it was measured on (no claim beyond them)."""
    sizes, budgets = " / ".join(f"{int(n):,}" for n in d["sizes"][0]), " / ".join(f"{b:g}" for b in d["budgets"][0])
    return {"sizes": sizes, "budgets": budgets, "seeds": int(d["n_seeds"]), "commit": str(d["commit"])}


def caption(d: figure_data.FigureData, lang: str) -> str:
    """The figure's caption in `lang`."""
    return text("vit_sizes_caption", lang, **caption_fields(d))


def verdict(d: figure_data.FigureData, lang: str) -> list[str]:
    """Sentences on who wins at each size, first dataset's panel, claiming only what the spread supports.

    A model is ahead at a size only when the gap between the means exceeds the two standard deviations added
    (the error bars do not overlap); otherwise the sentence says "within the spread". The lines "cross" only when
    the CNN is ahead at some size and the ViT (with a stem when there is one) at a larger one.
    """
    kinds = [str(k) for k in d["kinds"]]
    vit_kind = "vit_stem" if "vit_stem" in kinds else "vit_pure"
    if "cnn" not in kinds or vit_kind not in kinds:
        return []
    c, v = kinds.index("cnn"), kinds.index(vit_kind)
    p = kinds.index("vit_pure") if vit_kind == "vit_stem" and "vit_pure" in kinds else None
    mean, std = d["mean"][0], np.nan_to_num(d["std"][0])
    rows, leader = [], []
    for s, (size, budget) in enumerate(zip(d["sizes"][0], d["budgets"][0], strict=True)):
        gap = mean[v, s] - mean[c, s]
        who = "vit" if gap > std[v, s] + std[c, s] else "cnn" if -gap > std[v, s] + std[c, s] else "tie"
        leader.append(who)
        pure = text("vit_sizes_pure", lang, pure=mean[p, s], pure_std=std[p, s]) if p is not None else ""
        rows.append(text("vit_sizes_row", lang, size=f"{int(size):,}", budget=f"{budget:g}", cnn=mean[c, s], cnn_std=std[c, s],
                         vit=mean[v, s], vit_std=std[v, s], pure_part=pure, who=text(f"vit_sizes_who_{who}", lang)))  # fmt: skip
    sizes = [f"{int(n):,}" for n in d["sizes"][0]]
    first_vit = next((i for i, w in enumerate(leader) if w == "vit" and "cnn" in leader[:i]), None)
    if first_vit is not None:
        rows.append(text("vit_sizes_cross", lang, size=sizes[first_vit]))
    else:
        gaps = 100 * (mean[v] - mean[c])
        rows.append(text("vit_sizes_no_cross", lang, first=gaps[0], first_size=sizes[0], last=gaps[-1], last_size=sizes[-1]))
    return rows
