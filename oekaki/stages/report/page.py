"""One language's page, drawn from templates/page.html.j2 by Jinja2 with autoescaping on.

The words come from the catalogs oekaki/locales/<lang>.yaml by key (`t` in the templates: escaped, `code` spans become <code>), the
tables from tables.py, the figures from the PNG/GIF files the report stage drew (oekaki/figures/render.py),
embedded as data: URIs: the page's language's drawing of a figure with words, the one drawing of a figure without.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from oekaki.core import provenance
from oekaki.core.config import Config
from oekaki.core.locales import text
from oekaki.core.paths import Paths
from oekaki.figures.text_painter import GOALS as TEXT_PAINTER_GOALS
from oekaki.stages.report import contributed, vit_sizes
from oekaki.stages.report.inputs import Inputs
from oekaki.stages.report.judges import judges
from oekaki.stages.report.tables import GENERATOR_ROWS, ROW_STAGE, Cell, metrics_table, mlflow_link, promotion_table, scoreboard_table

TEMPLATES = Path(__file__).parent / "templates"
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
CODE_SPAN = re.compile(r"`([^`]+)`")


def md(s: str) -> Markup:
    """Escape text; `code` spans become <code> elements."""
    parts = CODE_SPAN.split(s)  # text, code, text, code, ..., text
    return Markup("").join(Markup("<code>{}</code>").format(x) if i % 2 else x for i, x in enumerate(parts))


ENV.filters["md"] = md


@dataclass(frozen=True)
class Figure:
    src: str  # a data: URI
    alt: str
    caption: Markup


@dataclass(frozen=True)
class Section:
    id: str  # also names its template, templates/sections/<id>.html.j2
    heading: str  # a text key
    needs: tuple[str, ...]  # the stages whose numbers it prints
    appendix: str | None = None  # a template drawn even when the section's stages are missing
    missing: tuple[str, ...] = ()


SECTIONS = (
    Section("images-are-numbers", "h_numbers", ("download", "evaluate")),
    Section("painting-contest", "h_contest", ("gmm",)),
    Section("classification", "h_cnn", ("download", "cnn")),
    Section("vit", "h_vit", ("download", "cnn", "vit")),
    Section("generation", "h_generation", ("gmm", "vae", "gan", "diffusion")),
    Section("text-painter", "h_text_painter", ("diffusion", "autoencoder", "text_painter")),
    Section("scoreboard", "h_scoreboard", ("evaluate", "cnn")),
    Section("model-registry", "h_registry", ()),
    Section("contributions", "h_contributions", ()),
    Section("provenance", "h_provenance", ("download",), appendix="sections/metrics.html.j2"),
)


def data_uri(path: Path) -> str:
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


class Lookups:
    """What the templates call for one language: text, figures, the sample digit."""

    def __init__(self, lang: str, paths: Paths):
        self.lang, self.paths = lang, paths

    def t(self, key: str, **fields: Any) -> Markup:
        return md(text(key, self.lang, **fields))

    def fig(self, stage: str, name: str, key: str, **fields: Any) -> Figure | None:
        """A stage's figure with its caption, or None when the stage saved no data for it.

        `name` is the figure's file name without a language: the page's own language's drawing
        (filters.ja.png) is used, or the one drawing of a figure without words (filters.png).
        """
        stem, suffix = name.rsplit(".", 1)
        folder = self.paths.figures(stage)
        path = next((p for p in (folder / f"{stem}.{self.lang}.{suffix}", folder / name) if p.is_file()), None)
        if path is None:
            return None
        return Figure(data_uri(path), text(key, self.lang, **fields), self.t(key, **fields))

    def first_test_digit(self) -> tuple[list[list[int]], int]:
        """The first test image's pixels (0-255) and its label."""
        with np.load(self.paths.prepared) as data:
            return data["test_images"][0].tolist(), int(data["test_labels"][0])


def table_context(lang: str, cfg: Config, inputs: Inputs) -> dict[str, Any]:
    """The page's tables and MLflow links (a table whose stage is missing is None)."""
    links = {stage: mlflow_link(rec, cfg.report.mlflow_ui_url, lang) for stage, rec in inputs.provenance.items()}
    evaluate, promotion = inputs.metrics.get("evaluate"), inputs.promotion
    scoreboard = None
    if evaluate:
        runs = [Cell(links[ROW_STAGE[name]]) for name in GENERATOR_ROWS]
        scoreboard = scoreboard_table(evaluate, lang).with_column(text("col_run", lang), runs)
    return {
        "links": links,
        "scoreboard": scoreboard,
        "judges": judges(evaluate) if evaluate else None,  # the ViT's reading beside the CNN's (absent before the ViT)
        "promotion_table": promotion_table(promotion, lang) if promotion else None,
        "metrics_table": metrics_table(inputs.metrics, lang),
        "contributed": contributed.context(lang, inputs.contributed, promotion, inputs.history),
        # bench/vit.py's figure: its caption's fields and who wins at each size (None without a results file)
        "vit_sizes": vit_sizes.caption_fields(inputs.vit_sizes) if inputs.vit_sizes is not None else None,
        "vit_verdict": vit_sizes.verdict(inputs.vit_sizes, lang) if inputs.vit_sizes is not None else [],
    }


def build_facts(paths: Paths, inputs: Inputs) -> dict[str, Any]:
    """The provenance section's facts about this build."""
    records = [rec for rec in inputs.provenance.values() if rec]
    return {
        "built": provenance.now_iso(),
        "git": provenance.git_state(paths.root),
        "machine": provenance.machine(),
        "params": ", ".join(f"{k}={v}" for rec in records for k, v in rec["params"].items()),
    }


def build_page(lang: str, cfg: Config, paths: Paths, inputs: Inputs) -> str:
    """One language's page (reports/index.html or reports/index.<lang>.html)."""
    look = Lookups(lang, paths)
    others = [{"href": paths.report_page(x).name, "lang": x} for x in cfg.report.languages if x != lang][:1]
    context = {
        "lang": lang,
        "title": text("title", lang),
        "others": others,
        "sections": [replace(s, missing=tuple(inputs.missing_for(s.needs))) for s in SECTIONS],
        "metrics": inputs.metrics,
        "provenance": inputs.provenance,
        "problems": inputs.problems,
        "generators": GENERATOR_ROWS,
        "style_pixel1": cfg.gmm.style_pixel1,
        "space_log10": 784 * math.log10(256),  # 256 values for each of 28 x 28 pixels
        "text_painter_goals": TEXT_PAINTER_GOALS,  # issue 38's goals, judged by text-painter.html.j2
        "t": look.t,
        "fig": look.fig,
        "first_test_digit": look.first_test_digit,
        **table_context(lang, cfg, inputs),
        **build_facts(paths, inputs),
    }
    return ENV.get_template("page.html.j2").render(context)


def fallback_page(lang: str, cfg: Config) -> str:
    """A page for a language not in report.languages: a link to the English one."""
    return ENV.get_template("fallback.html.j2").render(lang=lang, title=text("title", "en"), languages=list(cfg.report.languages))
