"""Stage `gmm`: the 2-pixel painting contest, and the same idea on real digits.

A "painting" of two pixels is a point in [0, 255]^2. Artists paint from a hidden mixture of
Gaussians; we fit scikit-learn's GaussianMixture for K = 1..max_components, choose K by BIC,
sample new paintings, and sample "landscapes" (pixel 2) for a fixed "style" (pixel 1) from the
exact conditional mixture p(x2 | x1). On real digits, a Gaussian mixture per class in PCA space
is the classical generator the deep models must beat.
"""

from __future__ import annotations

import numpy as np

from oekaki.core.config import Config
from oekaki.core.contract import NULL_MONITOR, Monitor, StageResult, get_logger
from oekaki.core.io import atomic_path
from oekaki.core.paths import Paths
from oekaki.core.timing import phase
from oekaki.models.gmm import Mixture, digit_model_arrays, fit_by_bic, fit_digit_generator, sample_digits
from oekaki.stages.gmm import figures as gmm_figures

log = get_logger("gmm")


def run(cfg: Config, paths: Paths, monitor: Monitor = NULL_MONITOR) -> StageResult:
    g = cfg.gmm
    rng = np.random.default_rng(g.seed)
    truth = Mixture.from_config(g)
    contest = truth.sample(g.n_artworks, rng)
    heldout = truth.sample(g.n_artworks, rng)
    with phase("optimiser_steps"):  # EM, the mixtures' optimiser
        model, bics = fit_by_bic(contest, g.max_components, g.n_init, g.seed)
    fitted = Mixture.from_sklearn(model)
    heldout_ll = float(model.score(heldout))
    true_ll = float(truth.logpdf(heldout).mean())
    log.info(
        "chose K=%d by BIC (truth %d); held-out log-likelihood %.3f vs true %.3f",
        model.n_components,
        len(truth.weights),
        heldout_ll,
        true_ll,
    )
    with phase("final_sampling"):
        generated = fitted.sample(g.n_generated, rng)
        styled = fitted.sample_conditional(g.style_pixel1, g.n_generated, rng)
        uniform = rng.uniform(0, 255, size=(g.n_generated, 2))

    data = np.load(paths.prepared)
    with phase("optimiser_steps"):  # PCA, then EM per class
        pca, mixtures = fit_digit_generator(data["train_images"], data["train_labels"], g, g.seed)
    with phase("final_sampling"):
        digit_images, digit_labels = sample_digits(pca, mixtures, g.digits_n_samples, g.seed)
    with atomic_path(paths.gmm_digit_samples) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, images=digit_images, labels=digit_labels)
    with atomic_path(paths.gmm_digit_model) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **digit_model_arrays(pca, mixtures))

    with phase("figures"):
        figures = gmm_figures.save_all(
            cfg.gmm,
            paths.figure_data("gmm"),
            truth=truth,
            fitted=fitted,
            contest=contest,
            generated=generated,
            styled=styled,
            uniform=uniform,
            bics=bics,
            digit_images=digit_images,
            digit_labels=digit_labels,
        )
    metrics = {
        "chosen_k": int(model.n_components),
        "true_k": len(truth.weights),
        "heldout_loglik": heldout_ll,
        "true_heldout_loglik": true_ll,
        "loglik_gap": true_ll - heldout_ll,
        "n_artworks": g.n_artworks,
        "digits_pca_explained_variance": float(pca.explained_variance_ratio_.sum()),
        "digits_n_samples": int(len(digit_labels)),
    }
    history = {"gmm_bic": [{"step": k, "bic": b} for k, b in enumerate(bics, start=1)]}
    return StageResult(metrics=metrics, figures=figures, history=history)
