"""Stage `report`: the sample report, one self-contained page per language (never retrains).

Figures are embedded (base64 PNG/GIF) and the CSS is inline, so `reports/index.html` (English)
and `reports/index.ja.html` (Japanese) open offline, on a phone or a laptop, in light or dark
mode. It reads only the other stages' outputs: metrics and provenance JSON, their figures,
and one test image from the prepared data. Tables are built with pandas; the scoreboard comes
from `metrics/evaluate.json`. `reports/summary.md` holds the scoreboard as Markdown.
A missing stage output or a missing/NaN metric stops the stage with a message naming the
stage to run, unless `report.allow_partial` is set: then the page marks what is missing.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oekaki.core import provenance
from oekaki.core.config import Config
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, flat_metrics
from oekaki.core.errors import ReportError
from oekaki.core.io import read_json, write_text
from oekaki.core.paths import Paths
from oekaki.stages.report.text import text

CSS = """
:root { color-scheme: light dark; --fg:#1d1d1f; --bg:#fdfdfb; --muted:#5f6368; --card:#f1f0ea; --accent:#c2410c; }
@media (prefers-color-scheme: dark) { :root { --fg:#e8e6e3; --bg:#16171a; --muted:#a0a4aa; --card:#23252a; --accent:#fb923c; } }
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", "Hiragino Sans", sans-serif; color: var(--fg);
       background: var(--bg); max-width: 62rem; margin: 0 auto; padding: 1rem 1.2rem 4rem; }
h1 { font-size: 1.9rem; margin-bottom: .2rem; } h2 { margin-top: 2.6rem; border-bottom: 2px solid var(--accent); }
p.lead { color: var(--muted); margin-top: 0; }
figure { margin: 1.2rem 0; background: var(--card); padding: .8rem; border-radius: 8px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; background: #fff; border-radius: 4px; }
figcaption { color: var(--muted); font-size: .92rem; margin-top: .5rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(17rem, 1fr)); gap: 1rem; }
.banner { background: var(--accent); color: #fff; padding: .8rem 1rem; border-radius: 8px; font-weight: 600; }
table { border-collapse: collapse; font-size: .9rem; overflow-x: auto; display: block; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--card); text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.pixels { font: 9px/1 ui-monospace, monospace; border-collapse: collapse; display: table; margin: auto; }
table.pixels td { padding: 1px 2px; border: none; text-align: right; }
code { background: var(--card); padding: 0 .25rem; border-radius: 3px; word-break: break-all; }
.banner code { background: rgba(0,0,0,.28); color: #fff; }
.missing { border: 2px dashed var(--accent); padding: .8rem 1rem; border-radius: 8px; }
td.bad { color: var(--accent); font-weight: 600; }
nav.lang { float: right; font-size: .9rem; } a { color: var(--accent); }
"""


def img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    mime = "image/gif" if Path(path).suffix == ".gif" else "image/png"
    return f'<img src="data:{mime};base64,{data}" alt="{html.escape(alt)}">'


def figure(path: Path, caption: str) -> str:
    return f"<figure>{img(path, caption)}<figcaption>{caption}</figcaption></figure>"


STAGES = ("download", "gmm", "cnn", "vae", "gan", "evaluate")
GENERATOR_ROWS = ("real", "untrained", "gmm", "vae", "gan")
ROW_STAGE = {"real": "evaluate", "untrained": "evaluate", "gmm": "gmm", "vae": "vae", "gan": "gan"}  # whose MLflow run a row links


@dataclass
class Inputs:
    metrics: dict[str, dict | None]
    provenance: dict[str, dict | None]
    missing: list[str]  # stages whose section cannot be drawn: no output, or bad numbers
    problems: list[str] = field(default_factory=list)  # missing keys or NaN values, "file: key ..."
    absent: list[str] = field(default_factory=list)  # stages with no output at all
    promotion: dict | None = None  # the promotion gate's decision (metrics/promote.json)


# The numbers the page's text uses, per stage (the scoreboard is checked by check_scoreboard).
REQUIRED = {
    "download": ("dataset", "source", "n_train", "n_test", "sha256"),
    "gmm": ("n_artworks", "true_k", "chosen_k", "heldout_loglik", "true_heldout_loglik", "loglik_gap", "digits_pca_explained_variance"),
    "cnn": ("epochs", "train_seconds", "device", "test_accuracy", "fid_real_floor", "fid_noise_ceiling", "inception_score_real"),
    "vae": ("test_loss_nats", "test_recon_nats", "test_kl_nats"),
    "gan": ("epochs", "g_steps", "train_seconds", "device", "fid", "memorisation_ratio"),
    "evaluate": ("n_samples", "generators"),
}


def check_metrics(stage: str, metrics: dict) -> list[str]:
    """Problems with the numbers a stage's section prints: missing keys, NaN or infinite values."""
    problems = []
    for key in REQUIRED[stage]:
        if key not in metrics:
            problems.append(f"metrics/{stage}.json: {key} is missing")
        elif isinstance(metrics[key], float) and not math.isfinite(metrics[key]):
            problems.append(f"metrics/{stage}.json: {key} is {metrics[key]}")
    return problems


def gather(paths: Paths) -> Inputs:
    """Read every stage's metrics and provenance; a stage whose section numbers are bad counts as missing."""
    metrics, prov, missing, problems = {}, {}, [], []
    for stage in STAGES:
        m, p = paths.metrics(stage), paths.provenance(stage)
        present = m.is_file() and p.is_file() and paths.figures(stage).is_dir()
        metrics[stage] = read_json(m) if present else None
        prov[stage] = read_json(p) if present else None
        bad = check_metrics(stage, metrics[stage]) if present else []
        problems += bad
        if not present or bad:
            missing.append(stage)
    if metrics.get("evaluate") is not None and "generators" in metrics["evaluate"]:
        problems += check_scoreboard(metrics["evaluate"])
    absent = [s for s in missing if not (paths.metrics(s).is_file() and paths.provenance(s).is_file() and paths.figures(s).is_dir())]
    promote = paths.metrics("promote")
    inputs = Inputs(metrics, prov, missing, problems, absent, read_json(promote) if promote.is_file() else None)
    for stage in missing:  # sections never read half-valid numbers
        if stage != "evaluate" or "generators" not in (metrics.get("evaluate") or {}):
            metrics[stage], prov[stage] = None, None
    return inputs


def md(s: str) -> str:
    """Escape text for HTML and turn `code` spans into <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(s, quote=False))


class Page:
    """One language's page: text lookups, figures, and the missing-section rule."""

    def __init__(self, lang: str, cfg: Config, paths: Paths, inputs: Inputs):
        self.lang, self.cfg, self.paths, self.inputs = lang, cfg, paths, inputs

    def t(self, key: str, **fields: Any) -> str:
        return md(text(key, self.lang, **fields))

    def fig(self, stage: str, name: str, key: str, **fields: Any) -> str:
        path = self.paths.figures(stage) / name
        if not path.is_file():
            return ""
        caption = self.t(key, **fields)
        return f"<figure>{img(path, text(key, self.lang, **fields))}<figcaption>{caption}</figcaption></figure>"

    def section(self, sid: str, heading: str, needs: tuple[str, ...], body) -> str:
        # the scoreboard marks its own bad cells; every other section needs all its stages' numbers
        missing = [s for s in needs if s in self.inputs.missing and not (s == "evaluate" and self.inputs.metrics.get("evaluate"))]
        head = f'<section id="{sid}"><h2>{self.t(heading)}</h2>'
        if missing:
            return head + "".join(f'<p class="missing">{self.t("missing_section", stage=s)}</p>' for s in missing) + "</section>"
        return head + "\n".join(x for x in body() if x) + "</section>"


def pixel_table(image: np.ndarray) -> str:
    """A 28x28 digit as its numbers, each cell shaded by its own value."""
    rows = []
    for row in image:
        cells = "".join(f'<td style="background:rgb({v},{v},{v});color:{"#000" if v > 127 else "#bbb"}">{v}</td>' for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="pixels">{"".join(rows)}</table>'


# ------------------------------------------------------------------------------ sections
def numbers(p: Page) -> list[str]:
    with np.load(p.paths.prepared) as data:
        digit, label = data["test_images"][0], int(data["test_labels"][0])
    return [
        f"<p>{p.t('p_numbers', label=label)}</p>",
        f"<figure>{pixel_table(digit)}<figcaption>{p.t('cap_pixels')}</figcaption></figure>",
        f"<p>{p.t('p_space', log10=784 * math.log10(256))}</p>",
        '<div class="grid">',
        p.fig("evaluate", "untrained.png", "cap_untrained"),
        p.fig("download", "samples.png", "cap_real"),
        "</div>",
    ]


def contest(p: Page) -> list[str]:
    g = p.inputs.metrics["gmm"]
    fields = dict(n=g["n_artworks"], true_k=g["true_k"], chosen_k=g["chosen_k"], heldout=g["heldout_loglik"])
    fields |= dict(true_ll=g["true_heldout_loglik"], gap=g["loglik_gap"])
    return [
        f"<p>{p.t('p_contest', **fields)}</p>",
        '<div class="grid">',
        p.fig("gmm", "contest.png", "cap_contest"),
        p.fig("gmm", "density.png", "cap_density"),
        "</div>",
        p.fig("gmm", "bic.png", "cap_bic"),
        p.fig("gmm", "style_slice.png", "cap_style", pixel1=p.cfg.gmm.style_pixel1),
        p.fig("gmm", "pictures.png", "cap_pictures"),
    ]


def classification(p: Page) -> list[str]:
    c, d = p.inputs.metrics["cnn"], p.inputs.metrics["download"]
    return [
        "<p>"
        + p.t("p_cnn", epochs=c["epochs"], seconds=c["train_seconds"], device=c["device"], accuracy=c["test_accuracy"], n_test=d["n_test"])
        + "</p>",
        p.fig("cnn", "filters.png", "cap_filters"),
        p.fig("cnn", "feature_maps.png", "cap_maps"),
        '<div class="grid">',
        p.fig("cnn", "feature_space.png", "cap_space"),
        p.fig("cnn", "confusion.png", "cap_confusion"),
        "</div>",
        p.fig("cnn", "wrong.png", "cap_wrong"),
        f"<p>{p.t('p_judge', floor=c['fid_real_floor'], ceiling=c['fid_noise_ceiling'], is_real=c['inception_score_real'])}</p>",
    ]


def generation(p: Page) -> list[str]:
    g, v, a = p.inputs.metrics["gmm"], p.inputs.metrics["vae"], p.inputs.metrics["gan"]
    latent = p.inputs.provenance["vae"]["params"]["vae.latent_size"]
    return [
        f"<p>{p.t('p_gmm_digits', variance=g['digits_pca_explained_variance'])}</p>",
        p.fig("gmm", "digits.png", "cap_gmm_digits"),
        f'<h3 id="vae">{p.t("h_vae")}</h3>',
        f"<p>{p.t('p_vae', latent=latent, loss=v['test_loss_nats'], recon=v['test_recon_nats'], kl=v['test_kl_nats'])}</p>",
        p.fig("vae", "reconstructions.png", "cap_vae_recon"),
        p.fig("vae", "samples.png", "cap_vae_samples"),
        '<div class="grid">',
        p.fig("vae", "latent_space.png", "cap_vae_latent"),
        p.fig("vae", "latent_walk.png", "cap_vae_walk"),
        "</div>",
        p.fig("vae", "style_transfer.png", "cap_vae_style"),
        p.fig("vae", "training.png", "cap_vae_training"),
        f'<h3 id="gan">{p.t("h_gan")}</h3>',
        f"<p>{p.t('p_gan', epochs=a['epochs'], steps=a['g_steps'], seconds=a['train_seconds'], device=a['device'], fid=a['fid'])}</p>",
        p.fig("gan", "samples.png", "cap_gan_samples"),
        p.fig("gan", "training.gif", "cap_gan_gif"),
        p.fig("gan", "curves.png", "cap_gan_curves"),
        '<div class="grid">',
        p.fig("gan", "noise_walk.png", "cap_gan_walk"),
        p.fig("gan", "memorisation.png", "cap_gan_memo", ratio=a["memorisation_ratio"]),
        "</div>",
        f"<p>{p.t('p_diffusion')}</p>",
    ]


SCORE_COLUMNS = (
    ("fid", "col_fid", "{:.2f}"),
    ("inception_score", "col_is", "{:.2f}"),
    ("conditional_accuracy", "col_cond", "{:.1%}"),
    ("within_class_diversity", "col_div", "{:.2f}"),
    ("class_entropy", "col_entropy", "{:.2f}"),
    ("train_seconds", "col_time", "{:.0f} s"),
    ("device", "col_device", "{}"),
)
OPTIONAL = {"conditional_accuracy", "within_class_diversity", "train_seconds"}  # None = not applicable


def check_scoreboard(evaluate: dict) -> list[str]:
    """Problems in metrics/evaluate.json: missing generators or keys, NaN numbers."""
    problems = []
    rows = evaluate.get("generators", {})
    for name in GENERATOR_ROWS:
        if name not in rows:
            problems.append(f"metrics/evaluate.json: generators.{name} is missing")
            continue
        for key, _, _ in SCORE_COLUMNS:
            value = rows[name].get(key, "<missing>")
            if value == "<missing>":
                problems.append(f"metrics/evaluate.json: generators.{name}.{key} is missing")
            elif value is None and key not in OPTIONAL:
                problems.append(f"metrics/evaluate.json: generators.{name}.{key} is null")
            elif isinstance(value, float) and not math.isfinite(value):
                problems.append(f"metrics/evaluate.json: generators.{name}.{key} is {value}")
    return problems


def scoreboard_frame(inputs: Inputs, lang: str) -> pd.DataFrame:
    """The scoreboard as a pandas DataFrame of display strings (bad cells marked, never blank)."""
    rows = inputs.metrics["evaluate"].get("generators", {})
    records = []
    for name in GENERATOR_ROWS:
        row = rows.get(name, {})
        rec = {text("col_generator", lang): text(f"row_{name}", lang)}
        for key, col, fmt in SCORE_COLUMNS:
            value = row.get(key, "<missing>") if row else "<missing>"
            if value == "<missing>":
                cell = "⚠ " + text("cell_missing", lang)
            elif value is None:
                cell = text("cell_na", lang)
            elif isinstance(value, float) and not math.isfinite(value):
                cell = "⚠ " + text("cell_invalid", lang)
            else:
                cell = fmt.format(value)
            rec[text(col, lang)] = cell
        records.append(rec)
    return pd.DataFrame.from_records(records)


def mlflow_link(p: Page, stage: str) -> str:
    rec = p.inputs.provenance.get(stage)
    if not rec or not rec.get("mlflow_run_id"):
        return text("cell_na", p.lang)
    url = f"{p.cfg.report.mlflow_ui_url.rstrip('/')}/#/experiments/{rec['mlflow_experiment_id']}/runs/{rec['mlflow_run_id']}"
    return f'<a href="{html.escape(url)}">{rec["mlflow_run_id"][:8]}</a>'


def scoreboard(p: Page) -> list[str]:
    e, c = p.inputs.metrics["evaluate"], p.inputs.metrics["cnn"]
    df = scoreboard_frame(p.inputs, p.lang)
    df[text("col_run", p.lang)] = [mlflow_link(p, ROW_STAGE[name]) for name in GENERATOR_ROWS]
    table = df.to_html(index=False, border=0, escape=False, classes="scoreboard")
    for name in GENERATOR_ROWS:  # mark rows for tests and styling: <tr data-generator="vae">
        table = table.replace(
            "<tr>\n      <td>" + html.escape(text(f"row_{name}", p.lang)),
            f'<tr data-generator="{name}">\n      <td>' + html.escape(text(f"row_{name}", p.lang)),
            1,
        )
    table = re.sub(r"<td>(⚠[^<]*)</td>", r'<td class="bad">\1</td>', table)
    grids = [p.fig("evaluate", f"{name}.png", "cap_grids") for name in GENERATOR_ROWS]
    return [
        f"<p>{p.t('p_scoreboard', n=e['n_samples'], accuracy=c['test_accuracy'], floor=c['fid_real_floor'])}</p>",
        table,
        '<div class="grid">',
        *grids,
        "</div>",
        f"<p>{p.t('plots_note')}</p>",
    ]


def promotion_frame(promotion: dict, lang: str) -> pd.DataFrame:
    """One row per registered model: candidate and champion scores on the same test set, the decision."""

    def cell(entry: dict | None) -> str:
        if not entry:
            return text("cell_na", lang)
        again = text("reg_rescored", lang) if entry.get("rescored") else ""
        return f"v{entry['version']}: {entry['score']:.4f}{again}"

    rows = []
    for r in promotion["models"].values():
        arrow = "↑" if r["higher_is_better"] else "↓"
        rows.append(
            {
                text("col_model", lang): r["model"],
                text("col_metric", lang): f"{r['metric']} {arrow}",
                text("col_candidate", lang): cell(r.get("candidate")),
                text("col_champion", lang): cell(r.get("champion")),
                text("col_decision", lang): text(f"reg_{r['decision']}", lang),
                text("col_reason", lang): r["reason"],
            }
        )
    return pd.DataFrame(rows)


def registry(p: Page) -> list[str]:
    if p.inputs.promotion is None:
        return [f'<p class="missing">{p.t("missing_section", stage="promote")}</p>']
    table = promotion_frame(p.inputs.promotion, p.lang).to_html(index=False, border=0, escape=True, classes="promotion")
    return [f"<p>{p.t('p_registry')}</p>", table]


def provenance_rows(p: Page) -> list[str]:
    d, recs = p.inputs.metrics["download"], p.inputs.provenance
    git = provenance.git_state(p.paths.root)
    machine = provenance.machine()
    dirty = text("prov_dirty", p.lang) if git["git_dirty"] else ""
    rows = [
        (
            p.t("prov_dataset"),
            f"{md(d['dataset'])} (<strong>{md(d['source'])}</strong>: {p.t('prov_sources')}), "
            + p.t("prov_rows", n_train=d["n_train"], n_test=d["n_test"]),
        ),
        (p.t("prov_sha"), f"<code>{d['sha256']}</code>"),
        (p.t("prov_built"), f"{provenance.now_iso()}, commit <code>{git['git_commit'][:12]}</code>{md(dirty)}"),
        (p.t("prov_machine"), md(f"{machine['host']}, {machine['platform']}, Python {machine['python']}")),
    ]
    for stage in STAGES:
        rec = recs.get(stage)
        if not rec:
            continue
        stage_dirty = text("prov_dirty", p.lang) if rec.get("git_dirty") else ""
        prefect = f", Prefect flow run <code>{rec['prefect_flow_run_id']}</code>" if rec.get("prefect_flow_run_id") else ""
        overrides = f"; overrides <code>{html.escape(' '.join(rec['overrides']))}</code>" if rec.get("overrides") else ""
        rows.append(
            (
                p.t("prov_stage", stage=stage),
                f"{rec['finished']}, {rec['seconds']:.1f} s, {md(rec['device'])}, commit <code>{rec['git_commit'][:12]}</code>"
                f"{md(stage_dirty)}; MLflow {mlflow_link(p, stage)} (<code>{rec['mlflow_run_id']}</code>){prefect}{overrides}",
            )
        )
    params = ", ".join(f"{k}={v}" for rec in recs.values() if rec for k, v in rec["params"].items())
    rows.append((p.t("prov_params"), f"<code>{html.escape(params)}</code>"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    problems = "".join(f"<li>⚠ {md(x)}</li>" for x in p.inputs.problems)
    return [f"<table>{body}</table>", f'<ul class="problems">{problems}</ul>' if problems else ""]


def metrics_table(p: Page) -> str:
    """Every scalar metric of every stage, one row each (pandas)."""
    rows = []
    for stage, values in p.inputs.metrics.items():
        for key, value in flat_metrics(values or {}, ".").items():
            if isinstance(value, bool) or key.endswith("sha256"):
                continue
            if isinstance(value, float):
                value = f"{value:.4g}" if math.isfinite(value) else "⚠ " + text("cell_invalid", p.lang)
            elif value is None:
                value = text("cell_na", p.lang)
            rows.append({text("col_stage", p.lang): stage, text("col_metric", p.lang): key, text("col_value", p.lang): str(value)})
    return pd.DataFrame(rows).to_html(index=False, border=0, escape=True)


# ------------------------------------------------------------------------------ pages
SECTIONS = (
    ("images-are-numbers", "h_numbers", ("download", "evaluate"), numbers),
    ("painting-contest", "h_contest", ("gmm",), contest),
    ("classification", "h_cnn", ("download", "cnn"), classification),
    ("generation", "h_generation", ("gmm", "vae", "gan"), generation),
    ("scoreboard", "h_scoreboard", ("evaluate", "cnn"), scoreboard),
    ("model-registry", "h_registry", (), registry),
)


def build_page(lang: str, cfg: Config, paths: Paths, inputs: Inputs) -> str:
    p = Page(lang, cfg, paths, inputs)
    title = cfg.report.title if lang == "en" else text("title", lang)
    other = [x for x in cfg.report.languages if x != lang]
    nav = "".join(f'<a href="{paths.report_page(x).name}" hreflang="{x}">{text("other_language", lang)}</a>' for x in other[:1])
    d = inputs.metrics.get("download")
    banner = ""
    if d and d.get("source") == "bundled":
        banner = f'<p class="banner">{p.t("bundled_banner", n_train=d["n_train"], n_test=d["n_test"])}</p>'
    parts = [f'<nav class="lang">{nav}</nav>', f"<h1>{html.escape(title)}</h1>", f'<p class="lead">{p.t("lead")}</p>', banner]
    parts += [p.section(sid, heading, needs, lambda fn=fn: fn(p)) for sid, heading, needs, fn in SECTIONS]
    prov = p.section("provenance", "h_provenance", ("download",), lambda: provenance_rows(p))
    parts.append(prov.replace("</section>", f"<h3>{p.t('h_metrics')}</h3>{metrics_table(p)}</section>"))
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>" + "\n".join(x for x in parts if x) + "</body></html>\n"
    )


def summary_markdown(cfg: Config, inputs: Inputs) -> str:
    """The scoreboard and key numbers as a small Markdown file (committed like the metrics)."""
    lines = [f"# {cfg.report.title}: summary", ""]
    d, c, g, v = (inputs.metrics.get(s) for s in ("download", "cnn", "gmm", "vae"))
    if d:
        sample = " (the small offline sample)" if d["source"] == "bundled" else ""
        lines += [f"Data: {d['dataset']}, source {d['source']}{sample}, {d['n_train']:,} train / {d['n_test']:,} test images.", ""]
    if c:
        lines.append(f"- CNN test accuracy: {c['test_accuracy']:.2%} ({c['epochs']} epochs, {c['train_seconds']:.0f} s on {c['device']})")
    if g:
        lines.append(f"- 2-pixel contest: K = {g['chosen_k']} chosen by BIC (truth {g['true_k']}), held-out gap {g['loglik_gap']:.3f} nats")
    if v:
        lines.append(f"- VAE test loss: {v['test_loss_nats']:.2f} nats per image")
    if inputs.metrics.get("evaluate"):
        e = inputs.metrics["evaluate"]
        lines += ["", f"## Scoreboard ({e['n_samples']:,} samples each, judged by the CNN)", ""]
        df = scoreboard_frame(inputs, "en")
        lines.append("| " + " | ".join(df.columns) + " |")
        lines.append("|" + "---|" * len(df.columns))
        lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in df.itertuples(index=False)]
    if inputs.promotion:
        df = promotion_frame(inputs.promotion, "en")
        lines += ["", "## Promotion gate (candidate vs champion, same test set)", ""]
        lines.append("| " + " | ".join(df.columns) + " |")
        lines.append("|" + "---|" * len(df.columns))
        lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in df.itertuples(index=False)]
    if inputs.missing:
        lines += ["", "Missing stages: " + ", ".join(inputs.missing)]
    return "\n".join(lines) + "\n"


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    r = cfg.report
    inputs = gather(paths)
    if not r.allow_partial:
        if inputs.absent:
            s = inputs.absent[0]
            raise ReportError(
                f"stage {s!r} has no output ({paths.metrics(s).relative_to(paths.root)} or its figures are missing); "
                f"run `dvc repro {s}` first, or set report.allow_partial=true for a report that marks the missing sections"
            )
        if inputs.problems:
            raise ReportError(
                f"{inputs.problems[0]}" + (f" (and {len(inputs.problems) - 1} more)" if len(inputs.problems) > 1 else "")
                + "; re-run `dvc repro evaluate`, or set report.allow_partial=true to publish the report with these cells marked"
            )  # fmt: skip
    pages = {lang: build_page(lang, cfg, paths, inputs) for lang in r.languages}
    for lang in ("ja",):  # dvc.yaml declares every language's page; an unrequested one points to English
        if lang not in pages:
            pages[lang] = (
                f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(r.title)}</title></head>'
                f'<body><p><a href="index.html">{html.escape(r.title)}</a> (report.languages = {list(r.languages)})</p></body></html>\n'
            )
    for lang, page in pages.items():
        write_text(paths.report_page(lang), page)
    write_text(paths.report_summary, summary_markdown(cfg, inputs))
    metrics = {
        **{f"bytes_{lang}": len(page.encode("utf-8")) for lang, page in pages.items()},
        "figures_embedded": pages["en"].count('src="data:image/'),
        "missing_stages": len(inputs.missing),
        "problems": len(inputs.problems),
    }
    figures = [paths.report_page(lang) for lang in pages] + [paths.report_summary]
    return StageResult(metrics=metrics, figures=figures, details={"missing": inputs.missing, "problems": inputs.problems})
