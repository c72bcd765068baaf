"""Gaussian mixtures, the classical painters: the 2-pixel contest's mixture and one mixture per digit class.

The `gmm` stage fits them; figures, the scoreboard and the app sample them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from oekaki.core.config import GmmConfig


@dataclass(frozen=True)
class Mixture:
    """A Gaussian mixture in 2-D: weights (K,), means (K, 2), covariances (K, 2, 2)."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @classmethod
    def from_config(cls, cfg: GmmConfig) -> Mixture:
        return cls(np.array(cfg.true_weights), np.array(cfg.true_means), np.array(cfg.true_covs))

    @classmethod
    def from_sklearn(cls, model: GaussianMixture) -> Mixture:
        return cls(model.weights_.copy(), model.means_.copy(), model.covariances_.copy())

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) continuous pixel values (never clipped, so likelihoods stay exact)."""
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, 2))
        chol = np.linalg.cholesky(self.covs)  # (K, 2, 2)
        return self.means[comp] + np.einsum("nij,nj->ni", chol[comp], noise)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """log p(x) for x of shape (n, 2)."""
        parts = [np.log(w) + multivariate_normal(m, c).logpdf(x) for w, m, c in zip(self.weights, self.means, self.covs, strict=True)]
        return logsumexp(np.stack(parts, axis=-1), axis=-1)

    def conditional(self, x1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """p(x2 | x1) as a 1-D mixture: weights (K,), means (K,), variances (K,).

        Weights are proportional to pi_k N(x1; mu_k1, S_k11); each component's conditional
        mean is mu_k2 + S_k21 / S_k11 (x1 - mu_k1), its variance S_k22 - S_k21^2 / S_k11.
        """
        s11, s21, s22 = self.covs[:, 0, 0], self.covs[:, 1, 0], self.covs[:, 1, 1]
        log_w = np.log(self.weights) - 0.5 * (np.log(2 * np.pi * s11) + (x1 - self.means[:, 0]) ** 2 / s11)
        weights = np.exp(log_w - logsumexp(log_w))
        means = self.means[:, 1] + s21 / s11 * (x1 - self.means[:, 0])
        variances = s22 - s21**2 / s11
        return weights, means, variances

    def sample_conditional(self, x1: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) samples of pixel 2 given pixel 1 = x1."""
        weights, means, variances = self.conditional(x1)
        comp = rng.choice(len(weights), size=n, p=weights)
        return means[comp] + np.sqrt(variances[comp]) * rng.standard_normal(n)

    def conditional_pdf(self, x1: float, x2: np.ndarray) -> np.ndarray:
        weights, means, variances = self.conditional(x1)
        z = (x2[:, None] - means) ** 2 / variances
        return (weights * np.exp(-0.5 * z) / np.sqrt(2 * np.pi * variances)).sum(axis=1)


def fit_by_bic(x: np.ndarray, max_components: int, n_init: int, seed: int) -> tuple[GaussianMixture, list[float]]:
    """Fit K = 1..max_components full-covariance mixtures; return the lowest-BIC one and all BICs."""
    models = [GaussianMixture(k, covariance_type="full", n_init=n_init, random_state=seed).fit(x) for k in range(1, max_components + 1)]
    bics = [float(m.bic(x)) for m in models]
    return models[int(np.argmin(bics))], bics


def fit_digit_generator(images: np.ndarray, labels: np.ndarray, cfg: GmmConfig, seed: int) -> tuple[PCA, dict[int, GaussianMixture]]:
    """PCA on all training digits, then one Gaussian mixture per class in PCA space."""
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0  # (N, 784)
    n_comp = min(cfg.digits_pca_components, x.shape[0] - 1, x.shape[1])
    pca = PCA(n_components=n_comp, random_state=seed).fit(x)
    z = pca.transform(x)
    mixtures = {}
    for digit in np.unique(labels):
        zd = z[labels == digit]
        k = max(1, min(cfg.digits_components_per_class, len(zd) // (2 * n_comp)))
        mixtures[int(digit)] = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(zd)
    return pca, mixtures


def sample_digits(pca: PCA, mixtures: dict[int, GaussianMixture], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n new digits, balanced over classes: (n, 28, 28) uint8 images and their requested labels."""
    digits = sorted(mixtures)
    labels = np.resize(np.array(digits), n)
    images = np.zeros((n, 784))
    for i, digit in enumerate(digits):
        idx = np.flatnonzero(labels == digit)
        model = mixtures[digit]
        model.random_state = seed + i
        z, _ = model.sample(len(idx))
        images[idx] = pca.inverse_transform(z[np.random.default_rng(seed + i).permutation(len(idx))])
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8).reshape(n, 28, 28), labels.astype(np.int64)


def digit_model_arrays(pca: PCA, mixtures: dict[int, GaussianMixture]) -> dict[str, np.ndarray]:
    """The fitted digit generator as plain arrays (no pickles): PCA basis + one mixture per class."""
    arrays = {"classes": np.array(sorted(mixtures)), "pca_mean": pca.mean_, "pca_components": pca.components_}
    for digit, m in mixtures.items():
        arrays |= {f"c{digit}_weights": m.weights_, f"c{digit}_means": m.means_, f"c{digit}_covs": m.covariances_}
    return arrays


def sample_digit_model(arrays: dict[str, np.ndarray], labels: np.ndarray, seed: int) -> np.ndarray:
    """New digits of the requested labels from `digit_model_arrays`: (n, 28, 28) uint8."""
    rng = np.random.default_rng(seed)
    z = np.zeros((len(labels), arrays["pca_components"].shape[0]))
    for digit in np.unique(labels):
        if digit not in arrays["classes"]:
            raise ValueError(f"the digit mixtures were fitted without label {digit}")
        idx = np.flatnonzero(labels == digit)
        w, mu, cov = arrays[f"c{digit}_weights"], arrays[f"c{digit}_means"], arrays[f"c{digit}_covs"]
        comp = rng.choice(len(w), size=len(idx), p=w / w.sum())
        chol = np.linalg.cholesky(cov)  # (K, D, D)
        eps = rng.standard_normal((len(idx), mu.shape[1]))
        z[idx] = mu[comp] + np.einsum("nij,nj->ni", chol[comp], eps)
    images = z @ arrays["pca_components"] + arrays["pca_mean"]
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8).reshape(len(labels), 28, 28)
