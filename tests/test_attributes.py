"""Digit attributes measured on synthetic strokes whose thickness, slant and width are known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oekaki.data.attributes import ATTRIBUTES, LEVELS, Bins, measure

SUPERSAMPLE = 8  # sub-samples per pixel side when rendering anti-aliased shapes, as MNIST's are


def render(inside) -> np.ndarray:
    """(28, 28) uint8 ink coverage of the region `inside(x, y)` (pixel centres at integers, y down)."""
    c = (np.arange(28 * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    y, x = np.meshgrid(c, c, indexing="ij")
    cover = inside(x, y).reshape(28, SUPERSAMPLE, 28, SUPERSAMPLE).mean(axis=(1, 3))
    return np.round(cover * 255).astype(np.uint8)


def sheared_bar(width: float, degrees: float, length: float = 18.0, centre: float = 13.5) -> np.ndarray:
    """A bar `width` px wide across (horizontally), sheared so its top leans right by `degrees` (italic if > 0)."""
    shear = np.tan(np.radians(degrees))
    return render(lambda x, y: (np.abs(x - centre - shear * (centre - y)) <= width / 2) & (np.abs(y - centre) <= length / 2))


def rectangle(width: int, height: int = 16, horizontal: bool = False) -> np.ndarray:
    """A pixel-aligned rectangle, hard edges, upright (or lying down)."""
    image = np.zeros((28, 28), dtype=np.uint8)
    top, left = (28 - height) // 2, (28 - width) // 2
    image[top : top + height, left : left + width] = 255
    return image.T.copy() if horizontal else image


@pytest.mark.parametrize("width", range(1, 7))
def test_thickness_of_upright_and_lying_bars_is_their_width(width):
    images = np.stack([rectangle(width), rectangle(width, horizontal=True), sheared_bar(width, 0.0, centre=13.3)])
    assert measure(images)["thickness"] == pytest.approx([width] * 3, abs=0.5)


@pytest.mark.parametrize("degrees", [-25.0, -15.0, 15.0, 25.0])
def test_thickness_of_sheared_bars_is_their_width_across_the_stroke(degrees):
    widths = np.arange(1, 7)
    measured = measure(np.stack([sheared_bar(w, degrees) for w in widths]))["thickness"]
    across = widths * np.cos(np.radians(degrees))  # shearing keeps the horizontal width; the stroke gets thinner
    assert measured == pytest.approx(np.maximum(across, 1.0), abs=0.5)


def test_thickness_hardly_depends_on_slant():
    degrees = np.array([-20, -10, 0, 10, 20])
    for width in (2, 3, 5):
        measured = measure(np.stack([sheared_bar(width, d) for d in degrees]))["thickness"]
        expected = width * np.cos(np.radians(degrees))
        assert np.abs(measured - expected).max() < 0.35, (width, measured)


@pytest.mark.parametrize("degrees", [-25.0, -15.0, 0.0, 15.0, 25.0])
def test_slant_is_the_shear_angle_with_italic_positive(degrees):
    slant = measure(np.stack([sheared_bar(w, degrees) for w in (1, 3, 5)]))["slant"]
    assert slant == pytest.approx([degrees] * 3, abs=3.0)
    assert np.all(np.sign(np.round(slant)) == np.sign(degrees))


def test_a_slash_leans_right_and_a_backslash_left():
    slash = render(lambda x, y: np.abs((x - 13.5) + (y - 13.5)) <= 1.0)  # top right to bottom left, clipped by the frame
    slant = measure(np.stack([slash, slash[:, ::-1]]))["slant"]
    assert slant[0] > 20 and slant[1] < -20


@pytest.mark.parametrize("width", [1, 2, 3, 6, 9, 12, 16])
def test_width_of_an_upright_rectangle_is_exact(width):
    assert measure(rectangle(width)[None])["width"][0] == pytest.approx(width, abs=1e-9)


@pytest.mark.parametrize("degrees", [-20.0, 20.0])
def test_width_is_measured_after_unshearing(degrees):
    widths = np.array([4, 8, 12])
    measured = measure(np.stack([sheared_bar(w, degrees) for w in widths]))["width"]
    assert measured == pytest.approx(widths, abs=0.5)


def test_blank_and_degenerate_images_measure_zero_not_nan():
    line = np.zeros((28, 28), dtype=np.uint8)
    line[14, 5:20] = 255  # ink on one row: no vertical spread, slant undefined
    got = measure(np.stack([np.zeros((28, 28), dtype=np.uint8), line]))
    assert all(np.isfinite(v).all() and v.dtype == np.float64 and v.shape == (2,) for v in got.values())
    assert [got[a][0] for a in ATTRIBUTES] == [0.0, 0.0, 0.0]
    assert got["slant"][1] == 0.0 and got["thickness"][1] == pytest.approx(1.0)


def test_measure_refuses_a_single_image_without_batch_axis():
    with pytest.raises(ValueError, match="expected"):
        measure(np.zeros((28, 28), dtype=np.uint8))


def known_values(n_per_class: int = 300) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Class c holds values c * 100 + (0 .. n-1), shuffled; each attribute scaled differently."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), n_per_class)
    base = labels * 100.0 + np.tile(np.arange(n_per_class, dtype=np.float64), 3)
    order = rng.permutation(len(labels))
    return {a: base[order] * (i + 1) for i, a in enumerate(ATTRIBUTES)}, labels[order]


def test_bins_are_per_class_tertiles():
    values, labels = known_values()
    bins = Bins.fit(values, labels, n_classes=3)
    assert bins.edges.shape == (3, len(ATTRIBUTES), 2) and bins.edges.dtype == np.float64
    for c in range(3):
        for i, a in enumerate(ATTRIBUTES):
            assert bins.edges[c, i] == pytest.approx(np.quantile(values[a][labels == c], [1 / 3, 2 / 3]))
    assert bins.edges[1, 0] == pytest.approx([100 + 299 / 3, 100 + 2 * 299 / 3])


def test_levels_split_each_class_in_thirds():
    values, labels = known_values()
    levels = Bins.fit(values, labels, n_classes=3).levels(values, labels)
    for a in ATTRIBUTES:
        assert levels[a].dtype == np.int64 and set(np.unique(levels[a])) == set(range(LEVELS))
        for c in range(3):
            shares = np.bincount(levels[a][labels == c], minlength=LEVELS) / np.sum(labels == c)
            assert shares == pytest.approx([1 / 3] * 3, abs=0.01)


def test_level_edges_belong_to_the_level_above():
    bins = Bins(np.array([[[1.0, 2.0]] * len(ATTRIBUTES)]))
    values = {a: np.array([0.5, 1.0, 1.5, 2.0, 9.0]) for a in ATTRIBUTES}
    assert bins.levels(values, np.zeros(5, dtype=np.int64))["slant"].tolist() == [0, 1, 1, 2, 2]


def test_a_class_without_images_borrows_the_overall_tertiles():
    values, labels = known_values()
    bins = Bins.fit(values, labels, n_classes=4)
    assert bins.edges[3] == pytest.approx(np.stack([np.quantile(values[a], [1 / 3, 2 / 3]) for a in ATTRIBUTES]))
    with pytest.raises(ValueError, match="4 classes"):
        bins.levels(values, np.full(len(labels), 4))


def test_bins_round_trip_through_json():
    values, labels = known_values()
    bins = Bins.fit(values, labels, n_classes=3)
    d = json.loads(json.dumps(bins.as_dict()))
    assert d["attributes"] == list(ATTRIBUTES)
    again = Bins.from_dict(d)
    assert again == bins and np.array_equal(again.edges, bins.edges)
    with pytest.raises(ValueError, match="attributes"):
        Bins.from_dict({**d, "attributes": ["thickness"]})
    with pytest.raises(ValueError, match="shape"):
        Bins.from_dict({**d, "edges": [[1.0, 2.0]]})
