"""A person's drawing as an MNIST digit: the canvas PNG the page posts -> 28x28 grey, white ink on black.

MNIST's digits were prepared this way (LeCun et al.): the writer's strokes were scaled to fit a
20x20 box keeping their aspect ratio (anti-aliasing gives the grey levels), then placed in a
28x28 field so that their centre of mass sits at the centre. Here: the ink's bounding box on
the canvas, scaled so its longer side is 20 pixels, then shifted by whole pixels so that the
centre of mass lands on pixel (14, 14), where MNIST's training digits have theirs on average
(13.99, 14.00 over the bundled sample; a whole-pixel shift keeps the 20-pixel box intact).
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np

CANVAS = 280  # the page's canvas, pixels per side: what a request must hold
BOX = 20  # the longer side of the digit after scaling
SIZE = 28  # the field it is centred in
CENTRE = 14.0  # where the centre of mass goes (row, column)
INK = 32  # ink darker than this (0-255, paper = 0) bounds the drawing; fainter edge pixels outside are dropped
PNG_PREFIX = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class BadDrawing(ValueError):
    """The posted drawing cannot be read as one digit (the message says why, for the person)."""


def decode_canvas(data_url: str) -> np.ndarray:
    """A `canvas.toDataURL('image/png')` of the page's 280x280 canvas -> ink (280, 280) uint8, paper 0.

    The page draws dark ink on light paper; transparent pixels count as paper. Refused: anything
    but a PNG data URL, an image of another size, a corrupt file.
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data_url, str) or not data_url.startswith(PNG_PREFIX):
        raise BadDrawing(f"image: expected a PNG data URL ({PNG_PREFIX}...)")
    try:
        raw = base64.b64decode(data_url[len(PNG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadDrawing(f"image: not valid base64 ({exc})") from exc
    if not raw.startswith(PNG_MAGIC):
        raise BadDrawing("image: the data is not a PNG file")
    try:
        img = Image.open(io.BytesIO(raw))
        if img.format != "PNG":
            raise BadDrawing(f"image: a {img.format} file, not a PNG")
        if img.size != (CANVAS, CANVAS):  # checked on the header, before any pixel is decoded
            raise BadDrawing(f"image: {img.size[0]}x{img.size[1]} pixels; the canvas is {CANVAS}x{CANVAS}")
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise BadDrawing(f"image: not a readable PNG ({exc})") from exc
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ink = (255.0 - grey) * (rgba[..., 3] / 255.0)  # dark on light, over transparent paper
    return np.clip(ink.round(), 0, 255).astype(np.uint8)


def bounding_box(ink: np.ndarray, threshold: int = 1) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), bottom and right exclusive, of pixels >= threshold; None when there are none."""
    rows, cols = np.flatnonzero((ink >= threshold).any(1)), np.flatnonzero((ink >= threshold).any(0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of an image's intensity-weighted centre; the image must not be blank."""
    w = image.astype(np.float64)
    total = w.sum()
    return float((w.sum(1) * np.arange(w.shape[0])).sum() / total), float((w.sum(0) * np.arange(w.shape[1])).sum() / total)


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """Ink (H, W) uint8, paper 0 -> an MNIST-style digit (28, 28) uint8; BadDrawing when nothing is drawn."""
    from PIL import Image

    box = bounding_box(ink, INK)
    if box is None:
        raise BadDrawing("the canvas is empty: draw a digit first")
    top, bottom, left, right = box
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL: (width, height)
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
    if not small.any():
        raise BadDrawing("the drawing is too faint to read: draw with the brush")
    cy, cx = centre_of_mass(small)
    sh, sw = small.shape
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - sh))  # keep the whole box inside the field
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - sw))
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    out[top : top + sh, left : left + sw] = small
    return out


def read_drawing(data_url: str) -> np.ndarray:
    """The posted canvas as the digit the models read: (28, 28) uint8."""
    return to_mnist(decode_canvas(data_url))


def encode_canvas(ink: np.ndarray) -> str:
    """The inverse of decode_canvas for tests and the benchmark: ink (280, 280) -> a PNG data URL, dark on light."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(255 - ink.astype(np.uint8)).save(buf, format="PNG")
    return PNG_PREFIX + base64.b64encode(buf.getvalue()).decode()
