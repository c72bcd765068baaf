"""The report's tables as plain rows of cells: the scoreboard, the promotion gate, every metric.

The page template draws them (templates/macros.html.j2, `table`); summary.md writes the first
two as Markdown. A cell's value is text, escaped when drawn, or a link built as Markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from markupsafe import Markup

from oekaki.core.constants import PAINTERS
from oekaki.core.contract import flat_metrics
from oekaki.core.locales import text

GENERATOR_ROWS = ("real", *PAINTERS)  # the scoreboard's rows, as evaluate writes them
# whose MLflow run a row links: a painter made by a stage links that stage's run, the others evaluate's
ROW_STAGE = {name: "evaluate" if name in ("real", "untrained") else name for name in GENERATOR_ROWS}
SCORE_COLUMNS = (  # (key in scoreboard.<row>, header, format); shown as mean ± std over the sampling seeds
    ("fid", "col_fid", "{:.2f}"),
    ("inception_score", "col_is", "{:.2f}"),
    ("conditional_accuracy", "col_cond", "{:.1%}"),
    ("within_class_diversity", "col_div", "{:.2f}"),
    ("class_entropy", "col_entropy", "{:.2f}"),
)
FACT_COLUMNS = (("train_seconds", "col_time", "{:.0f} s"), ("device", "col_device", "{}"))  # one value per row, no spread
# The second judge (evaluate's ViT reading, oekaki/models/two_judges.py): its conditional accuracy right after the CNN's,
# and the judges' disagreement the section's paragraph quotes. Absent from an evaluate run before the ViT: then no column.
SECOND_JUDGE_COLUMN = ("conditional_accuracy_vit", "col_cond_vit", "{:.1%}")
SECOND_JUDGE_KEYS = (
    "conditional_accuracy_vit", "conditional_accuracy_vit_std", "judges_disagree", "judges_disagree_std",
    "judges_disagree_n", "judges_disagree_cnn_asked", "judges_disagree_vit_asked",
)  # fmt: skip
OPTIONAL = {"conditional_accuracy", "within_class_diversity", "train_seconds", *SECOND_JUDGE_KEYS}  # None = not applicable
MISSING = object()  # a key absent from metrics/evaluate.json (and its provenance facts)


@dataclass(frozen=True)
class Cell:
    value: str | Markup
    bad: bool = False  # a missing or invalid number, marked on the page


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    generator: str | None = None  # a scoreboard row: <tr data-generator="...">


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    css_class: str | None = None

    def with_column(self, name: str, cells: list[Cell]) -> Table:
        rows = tuple(replace(row, cells=(*row.cells, cell)) for row, cell in zip(self.rows, cells, strict=True))
        return replace(self, columns=(*self.columns, name), rows=rows)

    def markdown(self) -> list[str]:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        return lines + ["| " + " | ".join(str(cell.value) for cell in row.cells) + " |" for row in self.rows]


def row_values(evaluate: dict, name: str) -> dict:
    """One row's numbers (scoreboard.<name>) with its facts (generators.<name>: device, flags, run id)."""
    return {**evaluate.get("generators", {}).get(name, {}), **evaluate.get("scoreboard", {}).get(name, {})}


def has_second_judge(evaluate: dict) -> bool:
    """Whether evaluate read the boards with the ViT too (any row carries its key; an older run has none)."""
    return any(SECOND_JUDGE_COLUMN[0] in row for row in evaluate.get("scoreboard", {}).values())


def score_columns(evaluate: dict) -> tuple[tuple[str, str, str], ...]:
    """SCORE_COLUMNS, with the ViT's conditional accuracy beside the CNN's when evaluate measured it."""
    if not has_second_judge(evaluate):
        return SCORE_COLUMNS
    by_both = (("conditional_accuracy", "col_cond_cnn", "{:.1%}"), SECOND_JUDGE_COLUMN)
    return tuple(c for col in SCORE_COLUMNS for c in (by_both if col[0] == "conditional_accuracy" else (col,)))


def check_scoreboard(evaluate: dict) -> list[str]:
    """Problems in metrics/evaluate.json: missing rows or keys, NaN numbers (the ViT's keys only when evaluate measured them)."""
    problems = []
    board = evaluate.get("scoreboard", {})
    second = list(SECOND_JUDGE_KEYS) if has_second_judge(evaluate) else []
    for name in GENERATOR_ROWS:
        if name not in board:
            problems.append(f"metrics/evaluate.json: scoreboard.{name} is missing")
            continue
        row = row_values(evaluate, name)
        keys = [k for key, _, _ in SCORE_COLUMNS for k in (key, f"{key}_std")] + [key for key, _, _ in FACT_COLUMNS] + second
        for key in keys:
            value = row.get(key, MISSING)
            if value is MISSING:
                problems.append(f"metrics/evaluate.json: scoreboard.{name}.{key} is missing")
            elif value is None and key.removesuffix("_std") not in OPTIONAL:
                problems.append(f"metrics/evaluate.json: scoreboard.{name}.{key} is null")
            elif isinstance(value, float) and not math.isfinite(value):
                problems.append(f"metrics/evaluate.json: scoreboard.{name}.{key} is {value}")
    return problems


def score_cell(value, fmt: str, lang: str, std=None) -> Cell:
    """One scoreboard number for display (mean ± std when `std` is given); a missing or invalid one is marked, never blank."""
    if value is MISSING or std is MISSING:
        return Cell("⚠ " + text("cell_missing", lang), bad=True)
    if value is None:
        return Cell(text("cell_na", lang))
    if any(isinstance(v, float) and not math.isfinite(v) for v in (value, std)):
        return Cell("⚠ " + text("cell_invalid", lang), bad=True)
    return Cell(fmt.format(value) + (f" ± {fmt.format(std).removesuffix(' s')}" if std is not None else ""))


def scoreboard_table(evaluate: dict, lang: str) -> Table:
    """One row per generator, one column per score as mean ± std over seeds (metrics/evaluate.json); the ViT's reading
    beside the CNN's when evaluate measured it."""
    scores = score_columns(evaluate)
    columns = (text("col_generator", lang), *(text(col, lang) for _, col, _ in (*scores, *FACT_COLUMNS)))
    body = []
    for name in GENERATOR_ROWS:
        row = row_values(evaluate, name) if name in evaluate.get("scoreboard", {}) else {}
        cells = [score_cell(row.get(key, MISSING), fmt, lang, row.get(f"{key}_std", MISSING)) for key, _, fmt in scores]
        cells += [score_cell(row.get(key, MISSING), fmt, lang) for key, _, fmt in FACT_COLUMNS]
        body.append(Row((Cell(text(f"row_{name}", lang)), *cells), generator=name))
    return Table(columns, tuple(body), "scoreboard")


def promotion_table(promotion: dict, lang: str) -> Table:
    """One row per registered model: candidate and champion (or untrained) scores on the validation split, the decision."""

    def score(entry: dict | None, version: bool = True) -> Cell:
        if not entry:
            return Cell(text("cell_na", lang))
        again = text("reg_rescored", lang) if entry.get("rescored") else ""
        return Cell(f"{'v' + entry['version'] + ': ' if version else ''}{entry['mean']:.4f} ± {entry['std']:.4f}{again}")

    rows = []
    for r in promotion["models"].values():
        arrow = "↑" if r["higher_is_better"] else "↓"
        cells = (Cell(r["model"]), Cell(f"{r['metric']} {arrow}"), score(r.get("candidate")))
        against = score(r["champion"]) if r.get("champion") else score(r.get("untrained"), version=False)
        bar = f"{r['margin']:.4f}" if "margin" in r else f"{text('reg_floor', lang)} {r['floor']:.4f}" if "floor" in r else ""
        cells += (against, Cell(bar or text("cell_na", lang)))
        rows.append(Row((*cells, Cell(text(f"reg_{r['decision']}", lang)), Cell(r["reason"]))))
    names = ("col_model", "col_metric", "col_candidate", "col_champion_or_untrained", "col_margin", "col_decision", "col_reason")
    return Table(tuple(text(c, lang) for c in names), tuple(rows), "promotion")


def metric_value(value, lang: str) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "⚠ " + text("cell_invalid", lang)
    return text("cell_na", lang) if value is None else str(value)


def metrics_table(metrics: dict[str, dict | None], lang: str) -> Table:
    """Every scalar metric of every stage, one row each."""
    rows = [
        Row((Cell(stage), Cell(key), Cell(metric_value(value, lang))))
        for stage, values in metrics.items()
        for key, value in _rows(flat_metrics(values or {}, "."))
        if not (isinstance(value, bool) or key.endswith("sha256"))
    ]
    return Table(tuple(text(c, lang) for c in ("col_stage", "col_metric", "col_value")), tuple(rows))


def _rows(flat: dict):
    """(key, value) pairs; a list of rows (a sweep) becomes one pair per number, `key[i].name`."""
    for key, value in flat.items():
        if isinstance(value, list) and all(isinstance(r, dict) for r in value):
            yield from ((f"{key}[{i}].{k}", v) for i, r in enumerate(value) for k, v in r.items())
        else:
            yield key, value


def mlflow_link(rec: dict | None, ui_url: str, lang: str) -> str | Markup:
    """A stage's MLflow run as a link (its id's first 8 characters), or n/a."""
    if not rec or not rec.get("mlflow_run_id"):
        return text("cell_na", lang)
    url = f"{ui_url.rstrip('/')}/#/experiments/{rec['mlflow_experiment_id']}/runs/{rec['mlflow_run_id']}"
    return Markup('<a href="{}">{}</a>').format(url, rec["mlflow_run_id"][:8])
