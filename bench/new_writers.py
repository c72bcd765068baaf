"""The "new artists" of issue 36: scikit-learn's 1,797 handwritten digits (8x8, 0-16) as MNIST digits.

Each 8x8 image is scaled to 0-255 and up to 80x80 (bilinear), then prepared exactly as the app prepares
a drawing (oekaki/app/drawing.py `to_mnist`: the ink's box scaled to 20 pixels, centred by mass in 28x28).
They come from other writers, another scanner and another resolution than MNIST's: today's judge reads
about two in three correctly, which is what the contribution loop has to fix.
"""

from __future__ import annotations

import numpy as np


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 28, 28) uint8 white ink on black, labels (1797,) int64)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from oekaki.app.drawing import to_mnist

    d = load_digits()
    up = [Image.fromarray((img * 255 / 16).round().astype(np.uint8)).resize((80, 80), Image.Resampling.BILINEAR) for img in d.images]
    return np.stack([to_mnist(np.asarray(u)) for u in up]), d.target.astype(np.int64)


def halves(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random half of the indices to contribute and the other half to score on (stratified by label)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    give, keep = train_test_split(idx, test_size=0.5, random_state=seed, stratify=labels)
    return np.sort(give), np.sort(keep)
