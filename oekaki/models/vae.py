"""The variational autoencoder: image -> latent Gaussian -> image.

The encoder (two stride-2 convolutions, 28 -> 14 -> 7 pixels, then a hidden layer) turns an
image into the mean and log-variance of a Gaussian over a small latent vector: its "style".
The decoder mirrors it with transposed convolutions and returns one logit per pixel, the
Bernoulli parameter of that pixel's grey level. When `conditional`, both also see the label
as a one-hot vector, so the latent vector only has to carry what the label does not (slant,
thickness, loops), and decoding one latent vector with another label keeps the style.

Where new drawings start (`prior`): `standard` draws the latent vector from N(0, I), the prior
the loss pulls the codes towards; `class_fit` (conditional only) draws it from a Gaussian per
label fitted, after training, to the latent means of that label's training images (ex-post
density estimation, Ghosh et al. 2020), so a drawing of a "7" starts where the encoder puts
real 7s. Both map a standard-normal draw through `latent`, so truncation, seeds and the served
model's input stay the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oekaki.core.config import VaeConfig
from oekaki.core.constants import INFERENCE_BATCH, N_CLASSES
from oekaki.data import dataset
from oekaki.models import sampling


@dataclass(frozen=True)
class VaeArgs:
    """Everything needed to rebuild the network (stored in every checkpoint); no defaults: see from_config."""

    latent_size: int
    channels: tuple[int, int]
    hidden: int
    conditional: bool
    film: bool  # the label also scales and shifts the decoder's feature maps at 7x7 and 14x14
    truncation: float  # sampling: latent entries beyond +-truncation redrawn (0 = plain N(0, I))
    prior: str  # standard (N(0, I)) | class_fit (a Gaussian per label fitted to the training codes)

    @classmethod
    def from_config(cls, c: VaeConfig) -> VaeArgs:
        film = c.conditional and c.label_film
        return cls(c.latent_size, tuple(c.channels), c.hidden, c.conditional, film, float(c.truncation), c.prior)

    def as_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @property
    def n_cond(self) -> int:
        return N_CLASSES if self.conditional else 0


class LabelFilm(nn.Module):
    """FiLM (Perez et al. 2018): h * (1 + gamma(y)) + beta(y) per channel, from the (soft) one-hot label."""

    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Linear(N_CLASSES, 2 * channels)
        nn.init.zeros_(self.proj.weight)  # starts as the identity: the label enters gradually
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(onehot).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return h * (1 + gamma) + beta


class ConvVAE(nn.Module):
    def __init__(self, args: VaeArgs):
        super().__init__()
        self.args = args
        c1, c2 = args.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.SiLU(),  # 28 -> 14
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.SiLU(),  # 14 -> 7
            nn.Flatten(),
        )  # fmt: skip
        self.enc_hidden = nn.Sequential(nn.Linear(c2 * 49 + args.n_cond, args.hidden), nn.SiLU())
        self.mu = nn.Linear(args.hidden, args.latent_size)
        self.logvar = nn.Linear(args.hidden, args.latent_size)
        self.dec_hidden = nn.Sequential(
            nn.Linear(args.latent_size + args.n_cond, args.hidden), nn.SiLU(), nn.Linear(args.hidden, c2 * 49), nn.SiLU()
        )
        self.up1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)  # 7 -> 14
        self.up2 = nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1)  # 14 -> 28, logits
        if args.film:
            self.film7, self.film14 = LabelFilm(c2), LabelFilm(c1)
        if args.prior == "class_fit":  # N(0, I) per label until fit_class_prior replaces it (saved with the weights)
            if not args.conditional:
                raise ValueError("prior class_fit needs the conditional VAE")
            self.register_buffer("prior_mean", torch.zeros(N_CLASSES, args.latent_size))
            self.register_buffer("prior_scale", torch.eye(args.latent_size).repeat(N_CLASSES, 1, 1))

    def _onehot(self, labels: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        """The (B, 10) one-hot label of the conditional model (labels may already be soft (B, 10))."""
        if not self.args.conditional:
            return None
        if labels is None:
            raise ValueError("the conditional VAE needs labels")
        return (labels if labels.dim() == 2 else F.one_hot(labels, N_CLASSES)).to(dtype)

    def _cond(self, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Append the one-hot label (B, 10) for the conditional model."""
        onehot = self._onehot(labels, h.dtype)
        return h if onehot is None else torch.cat([h, onehot], 1)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 1, 28, 28) in [0, 1] -> (mu, logvar), each (B, latent_size)."""
        h = self.enc_hidden(self._cond(self.encoder(x), labels))
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, latent_size) -> pixel logits (B, 1, 28, 28)."""
        onehot = self._onehot(labels, z.dtype)
        h = self.dec_hidden(z if onehot is None else torch.cat([z, onehot], 1)).view(len(z), -1, 7, 7)
        if self.args.film:
            h = self.film7(h, onehot)
        h = self.up1(h)
        if self.args.film:
            h = self.film14(h, onehot)
        return self.up2(F.silu(h))

    def latent(self, eps: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Latent vectors from standard-normal draws eps (B, latent): eps itself with the standard prior,
        mean + scale @ eps of each requested label's fitted Gaussian with class_fit (labels may be one-hot)."""
        if self.args.prior != "class_fit":
            return eps
        onehot = self._onehot(labels, eps.dtype)
        scale = torch.einsum("bk,kij->bij", onehot, self.prior_scale)
        return onehot @ self.prior_mean + (scale @ eps.unsqueeze(-1)).squeeze(-1)

    def standardise(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The inverse of `latent`: where latent vectors z (B, latent) of images of `labels` sit in their label's Gaussian."""
        if self.args.prior != "class_fit":
            return z
        onehot = self._onehot(labels, z.dtype)
        scale = torch.einsum("bk,kij->bij", onehot, self.prior_scale)
        return torch.linalg.solve_triangular(scale, (z - onehot @ self.prior_mean).unsqueeze(-1), upper=False).squeeze(-1)

    @staticmethod
    def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw z = mu + eps * sigma from the encoder's Gaussian (eps from `generator` when given)."""
        eps = torch.randn(mu.shape, generator=generator).to(mu.device) if generator is not None else torch.randn_like(mu)
        return mu + eps * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None):
        """Reconstruction logits, mu and logvar, with z drawn by the reparameterisation trick."""
        mu, logvar = self.encode(x, labels)
        return self.decode(self.reparameterise(mu, logvar, generator), labels), mu, logvar

    @torch.no_grad()
    def images(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoded images as uint8 (B, 28, 28): each pixel's expected grey level."""
        return (torch.sigmoid(self.decode(z, labels))[:, 0] * 255).round().to(torch.uint8)


def loss_terms(logits: torch.Tensor, target: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image reconstruction and KL terms in nats, each (B,).

    Reconstruction: binary cross-entropy of the pixel logits against the grey levels in
    [0, 1], summed over the 784 pixels (as pytorch/examples' VAE). KL: of the encoder's
    diagonal Gaussian from N(0, I), analytically (Kingma & Welling 2014, appendix B):
    -1/2 * sum(1 + logvar - mu^2 - exp(logvar)).
    """
    recon = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return recon, kl


class VaeSampler(nn.Module):
    """The decoder as one-input module for serving: code (B, latent [+ 10 one-hot]) -> images (B, 28, 28) in [0, 1]."""

    def __init__(self, vae: ConvVAE):
        super().__init__()
        self.vae = vae

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        n = self.vae.args.latent_size
        labels = code[:, n:] if self.vae.args.conditional else None
        return torch.sigmoid(self.vae.decode(self.vae.latent(code[:, :n], labels), labels))[:, 0]


class _Painter(nn.Module):
    """The VAE as `sampling.sample_images` sees a generator: images(eps, labels) start at the sampling prior."""

    def __init__(self, vae: ConvVAE):
        super().__init__()
        self.vae = vae

    def images(self, eps: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.vae.images(self.vae.latent(eps, labels), labels)


OLD_DECODER_KEYS = {"decoder.1.": "up1.", "decoder.3.": "up2."}  # checkpoints from before FiLM (film = false)


def _renamed(key: str) -> str:
    return next((new + key[len(old) :] for old, new in OLD_DECODER_KEYS.items() if key.startswith(old)), key)


def build(model_args: dict) -> ConvVAE:
    """Rebuild from a checkpoint's `model_args` (checkpoints from before FiLM have no `film`: false)."""
    old = {"film": False, "truncation": 0.0, "prior": "standard"}  # keys older checkpoints lack
    return ConvVAE(VaeArgs(**{**old, **model_args, "channels": tuple(model_args["channels"])}))


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) grey levels in [0, 1] (the Bernoulli targets)."""
    return images.float().div(255.0).unsqueeze(1)


@torch.no_grad()
def test_elbo(model: ConvVAE, x: torch.Tensor, y: torch.Tensor, c: VaeConfig, seed: int) -> dict[str, float]:
    """Negative ELBO per test image (one latent draw per image, fixed seed): recon + KL, in nats."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    recon_sum = kl_sum = 0.0
    for idx in dataset.batch_indices(len(y), c.eval_batch_size, None):
        xb = as_input(x[idx])
        logits, mu, logvar = model(xb, y[idx] if c.conditional else None, gen)
        recon, kl = loss_terms(logits, xb, mu, logvar)
        recon_sum += recon.sum().item()
        kl_sum += kl.sum().item()
    n = len(y)
    return {"test_loss_nats": (recon_sum + kl_sum) / n, "test_recon_nats": recon_sum / n, "test_kl_nats": kl_sum / n}


def generate(model: ConvVAE, n: int, labels: np.ndarray | None, seed: int) -> np.ndarray:
    """n new images from the sampling prior (with the requested labels when conditional): uint8 (n, 28, 28).

    The standard-normal draws are truncated at args.truncation before `latent` maps them.
    """
    return sampling.sample_images(_Painter(model), model.args.latent_size, n, labels, seed, truncation=model.args.truncation)


CLASS_FIT_JITTER = 1e-4  # added to each label's covariance so that its Cholesky factor exists


@torch.no_grad()
def fit_class_prior(model: ConvVAE, x: torch.Tensor, y: torch.Tensor) -> dict[int, int]:
    """Fit each label's sampling Gaussian to the latent means of its images (the training set); returns images per label.

    A label with fewer than 2 images keeps N(0, I). Does nothing for the standard prior.
    """
    if model.args.prior != "class_fit":
        return {}
    mu = encode_means(model, x, y).double()
    counts = {}
    for c in range(N_CLASSES):
        m = mu[y == c]
        counts[c] = len(m)
        if len(m) < 2:
            continue
        cov = torch.cov(m.T) + CLASS_FIT_JITTER * torch.eye(m.shape[1], dtype=m.dtype, device=m.device)
        model.prior_mean[c] = m.mean(0).to(model.prior_mean.dtype)
        model.prior_scale[c] = torch.linalg.cholesky(cov).to(model.prior_scale.dtype)
    return counts


@torch.no_grad()
def encode_means(model: ConvVAE, x: torch.Tensor, y: torch.Tensor, batch_size: int = INFERENCE_BATCH) -> torch.Tensor:
    """Latent means (N, latent_size) of uint8 images (N, 28, 28)."""
    model.eval()
    return torch.cat(
        [model.encode(as_input(x[i]), y[i] if model.args.conditional else None)[0] for i in dataset.batch_indices(len(x), batch_size, None)]
    )


@torch.no_grad()
def style_transfer(model: ConvVAE, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Each source digit's latent "style" decoded with every label: uint8 (N, 10, 28, 28).

    The seed's "same style, another landscape": the encoder sees the image and its label, so
    the latent mean holds what the label does not; the decoder redraws it as each digit. With
    the class_fit prior the style is the code's place in its own label's Gaussian
    (`standardise`), redrawn at the same place in every label's Gaussian (`latent`).
    """
    if not model.args.conditional:
        raise ValueError("style transfer needs the conditional VAE (vae.conditional = true)")
    style = model.standardise(encode_means(model, x, y), y)  # (N, latent)
    labels = torch.arange(N_CLASSES, device=style.device)
    rows = [model.images(model.latent(s.expand(N_CLASSES, -1), labels), labels).cpu() for s in style]
    return torch.stack(rows).numpy()


def from_checkpoint(ckpt: dict) -> ConvVAE:
    """The trained VAE a loaded checkpoint holds (weights only), in eval mode."""
    model = build(ckpt["model_args"])
    model.load_state_dict({_renamed(k): v for k, v in ckpt["model"].items()})
    return model.eval()


@torch.no_grad()
def prior_gap_nats(model: ConvVAE, x: torch.Tensor, y: torch.Tensor) -> float:
    """How far the aggregate posterior is from N(0, I), the loss's prior, in nats.

    KL(N(m, S) || N(0, I)) of the Gaussian matched to the aggregate posterior of the images
    (m = mean of the latent means; S = their covariance + the mean posterior variance): 0 when
    z ~ N(0, I) lands where the encoder puts real digits, large when sampling from N(0, I)
    visits regions the decoder never saw in training (what the class_fit prior avoids).
    """
    mus, variances = [], []
    for idx in dataset.batch_indices(len(x), 1000, None):
        mu, logvar = model.eval().encode(as_input(x[idx]), y[idx] if model.args.conditional else None)
        mus.append(mu.double())
        variances.append(logvar.double().exp())
    mu, var = torch.cat(mus), torch.cat(variances)
    m, cov = mu.mean(0), torch.cov(mu.T) + torch.diag(var.mean(0))
    return float(0.5 * (torch.trace(cov) + m @ m - len(m) - torch.logdet(cov)))


def label_probe_accuracy(model: ConvVAE, data: dataset.TensorData, seed: int) -> float:
    """Accuracy of a linear probe predicting the label from the latent means (fit on train, scored on test).

    Near chance (0.1) means the latent vector holds style only and the label lives in the
    conditioning, as the conditional VAE intends; high means z carries the digit too, and the
    decoder can ignore the label it is asked for.
    """
    from sklearn.linear_model import LogisticRegression

    train = encode_means(model, data.train_x, data.train_y).cpu().numpy()
    test = encode_means(model, data.test_x, data.test_y).cpu().numpy()
    probe = LogisticRegression(max_iter=1000, random_state=seed).fit(train, data.train_y.cpu().numpy())
    return float(probe.score(test, data.test_y.cpu().numpy()))
