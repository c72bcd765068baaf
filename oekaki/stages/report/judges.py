"""The scoreboard's two judges in words: each conditional row as the CNN and the ViT read it, and the issue's verdict.

The goal (issue 37): every painter's conditional accuracy by the ViT within WITHIN_POINTS points of the CNN's, or the
disagreement explained with samples. `judges` says which holds, from metrics/evaluate.json's numbers alone (the
evaluate stage measured them: oekaki/models/two_judges.py); the section shows the samples either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from oekaki.stages.report.tables import GENERATOR_ROWS, has_second_judge, row_values

WITHIN_POINTS = 2.0  # percentage points between the two judges' conditional accuracies (the issue's goal)
SHOWN = 10  # disagreement samples evaluate saves per row (two_judges.MAX_SHOWN; the report imports no model code)


@dataclass(frozen=True)
class JudgedRow:
    name: str  # a scoreboard row (real or a conditional painter)
    cnn: float  # conditional accuracy, read by the CNN (mean over seeds)
    vit: float  # the same, read by the ViT
    share: float  # share of samples the two judges read as different digits
    n: int  # those samples, over every seed
    cnn_asked: int  # of them, read as the asked-for label by the CNN
    vit_asked: int  # ... by the ViT

    @property
    def shown(self) -> int:
        """How many of them the row's figure shows."""
        return min(self.n, SHOWN)

    @property
    def gap(self) -> float:
        """|CNN - ViT| in percentage points."""
        return abs(self.cnn - self.vit) * 100


@dataclass(frozen=True)
class Judges:
    rows: tuple[JudgedRow, ...]  # every conditional row, in the scoreboard's order (real first)
    painters: int  # how many of them are painters (not the real row)
    apart: int  # painters whose two accuracies lie more than WITHIN_POINTS apart
    widest: JudgedRow | None  # the painter with the widest gap (None without a conditional painter)
    real: JudgedRow | None  # real training images: the gap the judges show on data that is no painter's
    points: float = WITHIN_POINTS

    @property
    def within(self) -> bool:
        return self.apart == 0


def judges(evaluate: dict) -> Judges | None:
    """The two judges' readings of every conditional row; None when evaluate did not read with the ViT (an older run)."""
    if not has_second_judge(evaluate):
        return None
    rows = []
    for name in GENERATOR_ROWS:
        r = row_values(evaluate, name)
        if r.get("conditional_accuracy") is None or r.get("conditional_accuracy_vit") is None:
            continue  # unconditional: no label asked for
        counts = (int(r["judges_disagree_n"]), int(r["judges_disagree_cnn_asked"]), int(r["judges_disagree_vit_asked"]))
        rows.append(JudgedRow(name, r["conditional_accuracy"], r["conditional_accuracy_vit"], r["judges_disagree"], *counts))
    painters = [r for r in rows if r.name != "real"]
    widest = max(painters, key=lambda r: r.gap, default=None)
    apart = sum(round(r.gap, 1) > WITHIN_POINTS for r in painters)  # at the one decimal the page prints: never "2.0 points, more than 2"
    real = next((r for r in rows if r.name == "real"), None)
    return Judges(tuple(rows), len(painters), apart, widest, real)
