from __future__ import annotations

import numpy as np
import pytest

from oekaki.core.config import load_config
from oekaki.core.paths import project_paths
from oekaki.models.gmm import Mixture, fit_by_bic, fit_digit_generator, sample_digits


@pytest.fixture(scope="module")
def cfg():
    return load_config(project_paths().params)


@pytest.fixture(scope="module")
def truth(cfg):
    return Mixture.from_config(cfg.gmm)


@pytest.mark.parametrize("x1", [60.0, 120.0, 185.0])
def test_conditional_density_matches_the_joint_density(truth, x1):
    """p(x2 | x1) in closed form equals p(x1, x2) / integral of p(x1, x2) dx2 (numerically)."""
    x2 = np.linspace(-300, 600, 20001)
    joint = np.exp(truth.logpdf(np.column_stack([np.full_like(x2, x1), x2])))
    numeric = joint / np.trapezoid(joint, x2)
    np.testing.assert_allclose(truth.conditional_pdf(x1, x2), numeric, atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize("x1", [60.0, 185.0])
def test_conditional_sampler_matches_brute_force(truth, x1):
    """Samples of p(x2 | x1) look like joint samples whose pixel 1 falls near x1."""
    rng = np.random.default_rng(0)
    joint = truth.sample(2_000_000, rng)
    near = joint[np.abs(joint[:, 0] - x1) < 1.0, 1]
    sampled = truth.sample_conditional(x1, 200_000, rng)
    assert len(near) > 5000
    bins = np.linspace(0, 255, 18)
    h_near, _ = np.histogram(near, bins=bins, density=True)
    h_samp, _ = np.histogram(sampled, bins=bins, density=True)
    assert np.abs(h_near - h_samp).max() < 0.15 * h_near.max()
    assert abs(near.mean() - sampled.mean()) < 1.5 and abs(near.std() - sampled.std()) < 1.5


def test_bic_recovers_the_true_number_of_clusters(cfg, truth):
    rng = np.random.default_rng(cfg.gmm.seed)
    contest, heldout = truth.sample(300, rng), truth.sample(300, rng)
    model, bics = fit_by_bic(contest, cfg.gmm.max_components, cfg.gmm.n_init, cfg.gmm.seed)
    assert model.n_components == 3 and len(bics) == cfg.gmm.max_components
    gap = truth.logpdf(heldout).mean() - model.score(heldout)
    assert 0 <= gap < 0.3  # nats per painting: the fitted model is close to, and not above, the truth


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
    assert (nearest == requested).mean() > 0.95
    with pytest.raises(ValueError, match="without label 11"):
        sample_digit_model(digit_model_arrays(pca, mixtures), np.array([11]), seed=1)
