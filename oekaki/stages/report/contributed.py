"""The report's section "What the 301st artist taught": what people contributed, and what the gate measured on it.

Read from the snapshot the `contributions` stage froze: data/snapshot/manifest.json (counts per class and split,
digest, newest id, what was quarantined and why) and, only when it holds a contribution, data/snapshot/contributions.npz
(the images and store ids: the quarantined digits and the cumulative count; the snapshot holds no times, and the
store's ids only grow). The default pipeline's empty snapshot costs one small JSON read and draws nothing. The
judge's numbers are the promotion gate's (models/promote/decision.json: MNIST validation accuracy of the candidate
and the champion, and `contributed`, their accuracy on the snapshot's held-out digits); the champion history is
history.py's. Every text quotes the numbers it rests on (oekaki/locales, keys `con_`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oekaki.core import figure_data
from oekaki.core.errors import ReportError
from oekaki.core.io import read_json
from oekaki.core.locales import text
from oekaki.core.paths import Paths
from oekaki.data import snapshot
from oekaki.stages.report.history import History, history_table
from oekaki.stages.report.tables import Cell, Row, Table

FIGURES = "contributions"  # the figures' folder, reports/figures/contributions/ (drawn from data this stage writes)
QUARANTINE_SHOWN = 40  # quarantined digits drawn and listed, in store order (the caption says how many there are)
SPLITS = (("train", "con_row_train"), ("validation", "con_row_held_out"), ("quarantine", "con_row_quarantined"))


@dataclass(frozen=True)
class Contributed:
    """A snapshot that holds at least one contribution: its manifest and its arrays (oekaki/data/snapshot.py KEYS)."""

    manifest: dict
    arrays: dict[str, np.ndarray]

    def shown(self) -> list[tuple[dict, int]]:
        """The quarantined entries drawn and listed (the first QUARANTINE_SHOWN), each with its row in the arrays."""
        row = {int(i): k for k, i in enumerate(self.arrays["ids"].tolist())}
        return [(q, row[q["id"]]) for q in self.manifest["quarantined"][:QUARANTINE_SHOWN]]


def load_snapshot(paths: Paths) -> Contributed | None:
    """The snapshot when it holds a contribution; None without a manifest or with an empty one (nothing else is read)."""
    if not paths.contributions_manifest.is_file():
        return None
    manifest = read_json(paths.contributions_manifest)
    if not manifest.get("n"):
        return None
    arrays = snapshot.read(paths.contributions_snapshot)
    ids = set(arrays["ids"].tolist())
    if len(arrays["ids"]) != manifest["n"] or any(q["id"] not in ids for q in manifest["quarantined"]):
        raise ReportError(
            f"{paths.contributions_snapshot.relative_to(paths.root)} holds {len(arrays['ids'])} contributions, its manifest "
            f"{paths.contributions_manifest.relative_to(paths.root)} says {manifest['n']}: run `dvc pull` or `dvc repro contributions`"
        )
    return Contributed(manifest, arrays)


def save_figure_data(c: Contributed, folder: Path) -> Path:
    """The section's figure data (oekaki/figures/contributions.py draws it) into `folder`; returns it."""
    a = c.arrays
    counts = np.asarray([c.manifest["counts_per_class"][name] for name, _ in SPLITS], dtype=np.int64)  # (3, 10)
    figure_data.save(folder / "per_class.npz", "contrib_per_class", counts=counts)
    figure_data.save(folder / "over_time.npz", "contrib_over_time", ids=a["ids"], split=a["split"].astype(np.int64))
    if rows := [k for _, k in c.shown()]:
        figure_data.save(
            folder / "quarantined.npz", "contrib_quarantined", images=a["images"][rows], labels=a["labels"][rows],
            judge_label=a["judge_label"][rows], confidence=a["judge_confidence"][rows],
        )  # fmt: skip
    return folder


def counts_table(c: Contributed, lang: str) -> Table:
    """Contributed digits per class (columns) and split (rows), with totals."""
    per = c.manifest["counts_per_class"]
    rows = tuple(Row((Cell(text(key, lang)), *(Cell(f"{v:,}") for v in per[name]), Cell(f"{sum(per[name]):,}"))) for name, key in SPLITS)
    return Table((text("col_con_split", lang), *(str(d) for d in range(10)), text("col_con_total", lang)), rows)


def quarantine_table(c: Contributed, lang: str) -> Table:
    """The listed quarantined digits: store id, label, the judge's reading and confidence, the contributor's agreement."""
    a, rows = c.arrays, []
    for q, k in c.shown():
        agree = text("con_agreement", lang, agree=round(100 * q["agreement"]), under=round(100 * q["min_agreement"]))
        read = f"{q['judge_label']} ({float(a['judge_confidence'][k]):.0%})"
        rows.append(Row((Cell(str(q["id"])), Cell(str(q["label"])), Cell(read), Cell(agree))))
    names = ("col_con_id", "col_con_label", "col_con_read", "col_con_agreement")
    return Table(tuple(text(n, lang) for n in names), tuple(rows))


def percent(value: float | None, lang: str) -> str:
    return text("con_no_champion", lang) if value is None else f"{value:.2%}"


def gate_context(promotion: dict | None, c: Contributed, lang: str) -> dict:
    """What the gate measured: `case` names the text (scored, no_held_out, not_scored, missing) and the table of numbers."""
    row = (promotion or {}).get("models", {}).get("cnn") or {}
    if not row.get("candidate"):
        return {"case": "missing", "table": None}
    cand, champ = row["candidate"], row.get("champion")
    fields = {
        "candidate": f"v{cand['version']}",
        "champion": f"v{champ['version']}" if champ else text("con_no_champion", lang),
        "n_mnist": promotion["validation"]["n"],
        "mnist_after": f"{cand['mean']:.2%}",
        "mnist_before": percent(champ["mean"] if champ else None, lang),
        "decision": text(f"reg_{row['decision']}", lang),
        "n_held": c.manifest["counts"]["validation"],
    }
    rows = [Row((Cell(text("con_row_mnist", lang, n=fields["n_mnist"])), Cell(fields["mnist_after"]), Cell(fields["mnist_before"])))]
    scored = row.get("contributed") or {}
    if scored.get("n"):
        fields |= {"n": scored["n"], "after": percent(scored["candidate"], lang), "before": percent(scored.get("champion"), lang)}
        rows.append(Row((Cell(text("con_row_contributed", lang, n=scored["n"])), Cell(fields["after"]), Cell(fields["before"]))))
        case = "scored"
    else:
        case = "not_scored" if fields["n_held"] else "no_held_out"
    before = text("col_con_before", lang, v=champ["version"]) if champ else text("col_con_before_none", lang)
    columns = (text("col_con_scored_on", lang), text("col_con_after", lang, v=cand["version"]), before)
    return {"case": case, "table": Table(columns, tuple(rows)), **fields}


def context(lang: str, c: Contributed | None, promotion: dict | None, history: History | None) -> dict | None:
    """The section's template context in `lang`; None when no digit was contributed (the section is one sentence)."""
    if c is None:
        return None
    m = c.manifest
    return {
        "n": m["n"], "contributors": m["contributors"], "digest": m["digest"][:12], "newest": m["newest_id"],
        "train": m["counts"]["train"], "held": m["counts"]["validation"], "quarantined": m["counts"]["quarantine"],
        "writers": m["writers"], "shown": len(c.shown()),
        "counts_table": counts_table(c, lang), "quarantine_table": quarantine_table(c, lang),
        "gate": gate_context(promotion, c, lang),
        "history": history, "history_table": history_table(history, lang) if history and history.versions else None,
    }  # fmt: skip
