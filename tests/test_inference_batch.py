"""Inference in small batches (oekaki.core.constants.INFERENCE_BATCH) is a speed choice only: the outputs do not depend on it."""

from __future__ import annotations

import numpy as np
import torch

from oekaki.core.constants import INFERENCE_BATCH
from oekaki.models.cnn import CnnArgs, DigitCNN
from oekaki.models.diffusion import Denoiser, DiffusionArgs, generate
from oekaki.models.judge import Judge


def test_the_judge_reads_every_image_alike_at_any_batch_size():
    torch.manual_seed(0)
    model = DigitCNN(CnnArgs((8, 16), 32, 0.1, 0.13, 0.31))
    with torch.no_grad():  # running statistics away from 0/1, as after training, so batch norm's eval path is exercised
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    images = np.random.default_rng(0).integers(0, 256, (300, 28, 28), dtype=np.uint8)
    small, large = Judge(model, batch_size=INFERENCE_BATCH).judge(images), Judge(model, batch_size=300).judge(images)
    assert INFERENCE_BATCH < 300
    np.testing.assert_allclose(small.features, large.features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(small.probs, large.probs, rtol=1e-5, atol=1e-7)
    assert np.array_equal(small.probs.argmax(1), large.probs.argmax(1))


def test_the_diffusion_sampler_draws_the_same_images_at_any_batch_size():
    torch.manual_seed(0)
    model = Denoiser(DiffusionArgs((8, 16, 16), 16, "flow_matching", "euler", 3, 2.0, 0.5, 1.0)).eval()
    labels = np.arange(150) % 10
    a = generate(model, 150, labels, seed=3, batch_size=INFERENCE_BATCH)
    b = generate(model, 150, labels, seed=3, batch_size=150)
    assert a.shape == (150, 28, 28) and a.dtype == np.uint8
    assert int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1  # rounding to uint8 may flip at most one level
    assert (a != b).mean() < 1e-3
