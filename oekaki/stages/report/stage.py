"""Stage `report`: the sample report, one self-contained page per language (never retrains).

Figures are embedded (base64 PNG/GIF) and the CSS is inline, so `reports/index.html` (English)
and `reports/index.ja.html` (Japanese) open offline, on a phone or a laptop, in light or dark
mode. It reads only the other stages' outputs (inputs.py): metrics and provenance JSON, their
figures' data, and one test image from the prepared data. It draws every figure here, at
`report.figure_dpi`, once per language when it has words (oekaki/figures/render.py), so a figure's
look is this stage's parameter and retrains nothing. The pages are Jinja2 templates
(templates/, page.py) filled with the words of oekaki/locales/<lang>.yaml and tables.py's rows; `reports/summary.md`
holds the scoreboard as Markdown (summary.py). The section on contributed digits (contributed.py, history.py)
reads the contributions snapshot (data/snapshot/) and, only when that holds a digit, the model registry.
A missing stage output or a missing/NaN metric stops the stage with a message naming the stage to run, unless `report.allow_partial` is set:
then the page marks what is missing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from oekaki.core import figure_data
from oekaki.core.config import Config
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult
from oekaki.core.errors import ReportError
from oekaki.core.io import write_text
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.figures.render import render_all
from oekaki.stages.report import vit_sizes
from oekaki.stages.report.contributed import FIGURES, save_figure_data
from oekaki.stages.report.history import read_history
from oekaki.stages.report.inputs import STAGES, Inputs, gather
from oekaki.stages.report.page import build_page, fallback_page
from oekaki.stages.report.summary import summary_markdown

DECLARED_LANGUAGES = ("ja",)  # dvc.yaml declares every language's page; an unrequested one points to English


def check_complete(paths: Paths, inputs: Inputs) -> None:
    """Stop on a stage with no output or a bad number (report.allow_partial=false)."""
    if inputs.absent:
        s = inputs.absent[0]
        raise ReportError(
            f"stage {s!r} has no output ({paths.metrics(s).relative_to(paths.root)} or its figure data is missing); "
            f"run `dvc repro {s}` first, or set report.allow_partial=true for a report that marks the missing sections"
        )
    if inputs.problems:
        raise ReportError(
            f"{inputs.problems[0]}" + (f" (and {len(inputs.problems) - 1} more)" if len(inputs.problems) > 1 else "")
            + "; re-run `dvc repro evaluate`, or set report.allow_partial=true to publish the report with these cells marked"
        )  # fmt: skip


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    inputs = gather(paths)
    if not cfg.report.allow_partial:
        check_complete(paths, inputs)
    judge = ((inputs.promotion or {}).get("models", {}).get("cnn") or {}).get("model")  # its registered name, as the gate scored it
    if inputs.contributed and judge:  # the registry is asked only when people contributed digits
        inputs.history = read_history(monitor, judge)
    with phase("figures"), tempfile.TemporaryDirectory() as tmp:
        sources = {s: paths.figure_data(s) for s in STAGES}
        if inputs.contributed:  # the contributed digits' figures: data written here from the snapshot, drawn with the rest
            sources[FIGURES] = save_figure_data(inputs.contributed, Path(tmp))
        if (results := vit_sizes.newest_results(paths.bench_results)) is not None:  # bench/vit.py's: where each wins
            saved = vit_sizes.save_figure_data(results, Path(tmp) / vit_sizes.NAME)
            sources[vit_sizes.NAME] = saved.parent
            inputs.vit_sizes = figure_data.load(saved)[1]
        drawn = render_all(sources, paths.figures_dir, cfg.report.languages, cfg.report.figure_dpi)
    pages = {lang: build_page(lang, cfg, paths, inputs) for lang in cfg.report.languages}
    pages |= {lang: fallback_page(lang, cfg) for lang in DECLARED_LANGUAGES if lang not in pages}
    for lang, page in pages.items():
        write_text(paths.report_page(lang), page)
    write_text(paths.report_summary, summary_markdown(inputs))
    metrics = {
        **{f"bytes_{lang}": len(page.encode("utf-8")) for lang, page in pages.items()},
        "figures_embedded": pages["en"].count('src="data:image/'),
        "missing_stages": len(inputs.missing),
        "problems": len(inputs.problems),
    }
    figures = [paths.report_page(lang) for lang in pages] + [paths.report_summary] + drawn  # all logged to the report's MLflow run
    return StageResult(metrics=metrics, figures=figures, details={"missing": inputs.missing, "problems": inputs.problems})
