"""The door: which contributed digits are refused before anything is stored, and why.

At the door (`screen`, before anything is stored), a digit is refused with a reason a person can act on when it
cannot be a handwritten digit in MNIST's format: blank or nearly so, mostly ink, scattered dots,
or ink in the outer frame that MNIST's centring keeps empty. The judge's confidence is not a test here:
uniform noise is read as some digit with near certainty. The thresholds are constants, not parameters: they say
what MNIST's format is (measured below), and a contribution must be in MNIST's format.

What is kept but not learned (the quarantine) is decided when the snapshot is taken: oekaki/data/quarantine.py.
"""

from __future__ import annotations

import numpy as np

# Measured on the bundled MNIST sample (5,000), scikit-learn's digits scaled the MNIST way (1,797) and noise
# (uniform 0-255, 10 % salt, Gaussian grey; 500/500/200), as min-max: tests/test_contributions_store.py checks them.
INK = 64  # a pixel at least this bright (0-255, paper 0) counts as ink
MIN_INK_SHARE = 0.02  # blank or nearly: MNIST's least inked digit has 3.6 % ink pixels, scikit-learn's 13.4 %
MAX_INK_SHARE = 0.45  # MNIST's most inked 34.1 %, scikit-learn's 29.7 %; uniform noise 71-79 %, Gaussian grey 93-96 %
MIN_MAIN_STROKE = 0.35  # the largest 8-connected piece holds this share of the ink: MNIST >= 54 %, salt noise <= 16 %
FRAME = 2  # MNIST's digits sit in a 20x20 box centred by mass: the outer FRAME pixels hold little ink ...
MAX_FRAME_SHARE = 0.15  # ... of the ink's brightness: MNIST <= 9.5 %, scikit-learn <= 3.9 %; any noise >= 13 %


class Refused(ValueError):
    """A contribution the door refuses; the message says why, for the person who sent it."""


def check_array(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapes, types and ranges of a batch: (N, 28, 28) integers 0-255 and N labels 0-9; Refused otherwise."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise Refused(f"images: shape {images.shape}; expected (N, 28, 28), white ink on black as in MNIST")
    if labels.shape != (len(images),):
        raise Refused(f"labels: shape {labels.shape}; expected ({len(images)},), one label per image")
    for name, a, hi in (("images", images, 255), ("labels", labels, 9)):
        if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.isfinite(a).all() and (a == np.round(a)).all()):
            raise Refused(f"{name}: {a.dtype} values; expected integers 0-{hi}")
        if a.size and (a.min() < 0 or a.max() > hi):
            raise Refused(f"{name}: values from {a.min()} to {a.max()}; expected 0-{hi}")
    return images.astype(np.uint8), labels.astype(np.int64)


def measures(image: np.ndarray) -> dict[str, float]:
    """The door's measures of one (28, 28) uint8 digit."""
    from scipy import ndimage

    ink = image >= INK
    n_ink = int(ink.sum())
    pieces, n = ndimage.label(ink, structure=np.ones((3, 3), bool))
    main = int(np.bincount(pieces.ravel())[1:].max()) if n else 0
    total = float(image.sum())
    inner = float(image[FRAME:-FRAME, FRAME:-FRAME].sum())
    return {
        "ink_share": n_ink / image.size,
        "main_stroke": main / n_ink if n_ink else 0.0,
        "frame_share": (total - inner) / total if total else 0.0,
    }


def screen(image: np.ndarray) -> str | None:
    """Why a (28, 28) uint8 digit is refused at the door, or None when it may come in."""
    m = measures(image)
    if m["ink_share"] < MIN_INK_SHARE:
        return f"blank or nearly blank: {m['ink_share']:.1%} of the pixels are ink (at least {MIN_INK_SHARE:.0%})"
    if m["ink_share"] > MAX_INK_SHARE:
        return f"mostly ink, not a digit: {m['ink_share']:.0%} of the pixels are ink (at most {MAX_INK_SHARE:.0%})"
    if m["main_stroke"] < MIN_MAIN_STROKE:
        return f"scattered dots, not strokes: the largest stroke holds {m['main_stroke']:.0%} of the ink (at least {MIN_MAIN_STROKE:.0%})"
    if m["frame_share"] > MAX_FRAME_SHARE:
        return (
            f"not centred as in MNIST: {m['frame_share']:.0%} of the ink lies in the outer {FRAME} pixels "
            f"(at most {MAX_FRAME_SHARE:.0%}); scale the digit into a 20x20 box centred by its mass"
        )
    return None
