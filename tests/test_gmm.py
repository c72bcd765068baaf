"""The Gaussian-mixture painters, checked by what they must do: draws follow the mixture they come from,
the fixed-style draws follow p(pixel 2 | pixel 1), BIC finds a known number of clusters. Distributions
are compared with Kolmogorov-Smirnov tests on fixed seeds, not against numbers a run once printed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest, norm

from oekaki.core.config import load_config
from oekaki.core.paths import project_paths
from oekaki.models.gmm import Mixture, fit_by_bic, fit_digit_generator, sample_digits

N = 20_000  # draws per distribution test: a wrong law (another component's weight, a wrong variance) is far outside chance
P_MIN = 1e-3  # a KS p-value below this rejects "these draws follow that law"


@pytest.fixture(scope="module")
def cfg():
    return load_config(project_paths().params)


@pytest.fixture(scope="module")
def truth(cfg):
    return Mixture.from_config(cfg.gmm)


def mixture_cdf(weights: np.ndarray, means: np.ndarray, variances: np.ndarray):
    """The CDF of a 1-D Gaussian mixture, for kstest."""
    return lambda x: (weights * norm.cdf(np.asarray(x)[:, None], means, np.sqrt(variances))).sum(axis=1)


def well_separated(k: int) -> Mixture:
    """k round clusters on a circle of radius 100 around (128, 128), 50 pixels apart or more, standard deviation 8."""
    angles = 2 * np.pi * np.arange(k) / k
    means = 128 + 100 * np.column_stack([np.cos(angles), np.sin(angles)]) if k > 1 else np.array([[128.0, 128.0]])
    return Mixture(np.full(k, 1 / k), means, np.repeat(64 * np.eye(2)[None], k, axis=0))


@pytest.mark.parametrize("x1", [60.0, 120.0, 185.0])
def test_conditional_density_matches_the_joint_density(truth, x1):
    """p(x2 | x1) in closed form equals p(x1, x2) / integral of p(x1, x2) dx2 (numerically)."""
    x2 = np.linspace(-300, 600, 20001)
    joint = np.exp(truth.logpdf(np.column_stack([np.full_like(x2, x1), x2])))
    numeric = joint / np.trapezoid(joint, x2)
    np.testing.assert_allclose(truth.conditional_pdf(x1, x2), numeric, atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize("x1", [60.0, 120.0, 185.0])
def test_fixed_style_draws_follow_the_conditional_law(truth, x1):
    """With pixel 1 held at x1 (the stage's `style_pixel1`), pixel 2 is drawn from p(x2 | x1), not from its marginal."""
    x2 = truth.sample_conditional(x1, N, np.random.default_rng(0))
    assert kstest(x2, mixture_cdf(*truth.conditional(x1))).pvalue > P_MIN
    marginal = mixture_cdf(truth.weights, truth.means[:, 1], truth.covs[:, 1, 1])
    assert kstest(x2, marginal).pvalue < P_MIN  # the test can tell: holding pixel 1 changes pixel 2's law


def test_fixed_style_draws_match_joint_draws_whose_pixel_1_falls_near_it(truth):
    """The same law by brute force: joint draws with pixel 1 within half a grey level of x1."""
    rng = np.random.default_rng(1)
    joint = truth.sample(2_000_000, rng)
    near = joint[np.abs(joint[:, 0] - 185.0) < 0.5, 1]
    assert kstest(near, truth.sample_conditional(185.0, N, rng)).pvalue > P_MIN


def test_paintings_follow_the_mixture_they_are_drawn_from(truth):
    """Each pixel of the joint draws has the mixture's marginal law, and their correlation its sign."""
    x = truth.sample(N, np.random.default_rng(2))
    for d in (0, 1):
        assert kstest(x[:, d], mixture_cdf(truth.weights, truth.means[:, d], truth.covs[:, d, d])).pvalue > P_MIN
    expected = truth.weights @ (truth.covs[:, 0, 1] + truth.means[:, 0] * truth.means[:, 1])
    expected -= (truth.weights @ truth.means[:, 0]) * (truth.weights @ truth.means[:, 1])
    assert np.sign(np.cov(x.T)[0, 1]) == np.sign(expected)


def test_a_fitted_mixture_keeps_sklearns_density(truth):
    """Mixture.from_sklearn describes the very density scikit-learn fitted (the figures and samples use it)."""
    x = truth.sample(300, np.random.default_rng(3))
    model, _ = fit_by_bic(x, len(truth.weights), 1, seed=0)
    np.testing.assert_allclose(Mixture.from_sklearn(model).logpdf(x), model.score_samples(x), rtol=1e-9)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_bic_finds_the_number_of_well_separated_clusters(k):
    x = well_separated(k).sample(300, np.random.default_rng(k))
    model, bics = fit_by_bic(x, 6, 1, seed=0)
    assert model.n_components == k and len(bics) == 6 and int(np.argmin(bics)) == k - 1


def test_bic_on_the_contest_finds_the_true_count_and_generalises(cfg, truth):
    """The stage's contest (params.yaml's truth, its seed and size): BIC's K is the truth's, and on held-out
    paintings the chosen mixture explains the data better than one Gaussian does."""
    rng = np.random.default_rng(cfg.gmm.seed)
    contest, heldout = truth.sample(cfg.gmm.n_artworks, rng), truth.sample(cfg.gmm.n_artworks, rng)
    model, bics = fit_by_bic(contest, cfg.gmm.max_components, cfg.gmm.n_init, cfg.gmm.seed)
    assert model.n_components == len(truth.weights) and len(bics) == cfg.gmm.max_components
    one, _ = fit_by_bic(contest, 1, 1, cfg.gmm.seed)
    assert model.score(heldout) > one.score(heldout)


def test_true_mixture_mass_lies_inside_the_pixel_range(truth):
    x = truth.sample(200_000, np.random.default_rng(1))
    assert ((x >= 0) & (x <= 255)).all(axis=1).mean() > 0.999


def test_digit_generator_gives_balanced_uint8_digits(cfg):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (400, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10), 40)
    pca, mixtures = fit_digit_generator(images, labels, cfg.gmm, seed=0)
    out, out_labels = sample_digits(pca, mixtures, 50, seed=0)
    assert out.shape == (50, 28, 28) and out.dtype == np.uint8
    assert np.bincount(out_labels).tolist() == [5] * 10


def test_saved_digit_model_samples_like_the_fitted_one(cfg):
    from oekaki.models.gmm import digit_model_arrays, sample_digit_model

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 60)
    centres = rng.integers(0, 256, (10, 28, 28))
    images = np.clip(centres[labels] + rng.normal(0, 20, (600, 28, 28)), 0, 255).astype(np.uint8)
    pca, mixtures = fit_digit_generator(images, labels, cfg.gmm, seed=0)
    requested = np.array([3, 3, 7, 0, 9] * 40)
    out = sample_digit_model(digit_model_arrays(pca, mixtures), requested, seed=1)
    assert out.shape == (200, 28, 28) and out.dtype == np.uint8
    # each sample is closest to its requested class's centre (classes are far apart here)
    nearest = ((out[:, None].astype(float) - centres[None]) ** 2).sum((2, 3)).argmin(1)
    assert (nearest == requested).all()
    with pytest.raises(ValueError, match="without label 11"):
        sample_digit_model(digit_model_arrays(pca, mixtures), np.array([11]), seed=1)
