"""The one way contributions come in (oekaki/data/intake.py), as the app and the CLI call it: every refusal is a
clear 4xx with a message and stores nothing; a batch answers per digit; duplicates within and across requests
are stored once; the judge's reading is stored beside the label, and a digit it contradicts is still stored."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from oekaki.core.config import load_config
from oekaki.core.paths import project_paths
from oekaki.data import intake
from oekaki.data.contributions import Store

TOKEN = "tok_" + "a" * 28
OTHER = "tok_" + "b" * 28
NOISE = np.random.default_rng(0).integers(0, 256, (28, 28))


def digits(n: int, seed: int = 0) -> np.ndarray:
    """n distinct digit-like strokes (28, 28) uint8 that the door lets in, as the app prepares a drawing."""
    from PIL import Image, ImageDraw

    from oekaki.app.drawing import to_mnist

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("L", (280, 280), 0)
        pts = [tuple(int(v) for v in rng.integers(60, 220, 2)) for _ in range(4)]
        ImageDraw.Draw(img).line(pts, fill=255, width=22, joint="curve")
        out.append(to_mnist(np.asarray(img)))
    return np.stack(out)


@pytest.fixture(scope="module")
def rules():
    return load_config(project_paths().params).contributions


@pytest.fixture
def store(tmp_path):
    return Store.of_project(None, tmp_path / "store.sqlite")


def reader(images):
    """A judge that reads every digit as a 7, with 0.9 confidence."""
    return [7] * len(images), [0.9] * len(images), "cnn-classifier/3"


def test_a_batch_is_stored_with_the_judges_reading_and_answered_per_digit(store, rules):
    images = digits(3)
    result = intake.contribute(store, rules, TOKEN, images, [1, 7, 2], ["w1", "w1", ""], read=reader)
    assert result.status == 201 and result.error is None and result.accepted == 3 and len(set(result.ids)) == 3
    assert [(o.index, o.status, o.judge_label, o.judge_confidence) for o in result.outcomes] == [(i, 201, 7, 0.9) for i in range(3)]
    rows = store.list(TOKEN)
    assert [(r["id"], r["label"], r["judge_label"], r["model_version"], r["writer"]) for r in rows] == [
        (result.ids[0], 1, 7, "cnn-classifier/3", "w1"),  # the judge contradicts the label: stored all the same
        (result.ids[1], 7, 7, "cnn-classifier/3", "w1"),
        (result.ids[2], 2, 7, "cnn-classifier/3", None),
    ]
    body = result.as_json()
    assert body["accepted"] == 3 and body["read_by"] == "cnn-classifier/3" and "error" not in body and len(body["items"]) == 3


def test_without_a_judge_the_digits_are_stored_unread(store, rules):
    result = intake.contribute(store, rules, TOKEN, digits(1), [4])
    assert result.status == 201 and result.read_by is None
    row = store.list(TOKEN)[0]
    assert (row["label"], row["judge_label"], row["judge_confidence"], row["model_version"], row["writer"]) == (4, None, None, None, None)


@pytest.mark.parametrize(
    "image, reason",
    [(np.zeros((28, 28)), "blank or nearly blank"), (NOISE, "mostly ink, not a digit")],
)
def test_the_door_refuses_blanks_and_noise_and_stores_nothing(store, rules, image, reason):
    result = intake.contribute(store, rules, TOKEN, [image], [3], read=reader)
    assert result.status == 422 and result.error.startswith(reason) and result.accepted == 0
    assert result.outcomes[0].status == 422 and result.outcomes[0].judge_label is None  # not read, not stored
    assert store.count() == 0


@pytest.mark.parametrize(
    "token, images, labels, writers, status, message",
    [
        (TOKEN, np.zeros((1, 28, 27)), [1], None, 422, r"images: shape \(1, 28, 27\); expected \(N, 28, 28\)"),
        (TOKEN, [[[0] * 28] * 28, [[0] * 28] * 27], [1, 2], None, 422, "images: not an \\(N, 28, 28\\) array of integers"),
        (TOKEN, np.full((1, 28, 28), 0.5), [1], None, 422, "images: float64 values; expected integers 0-255"),
        (TOKEN, np.full((1, 28, 28), 256), [1], None, 422, "images: values from 256 to 256; expected 0-255"),
        (TOKEN, 1, [10], None, 422, "labels: values from 10 to 10; expected 0-9"),
        (TOKEN, 1, [-1], None, 422, "labels: values from -1 to -1; expected 0-9"),
        (TOKEN, 2, [1], None, 422, r"labels: shape \(1,\); expected \(2,\)"),
        (TOKEN, np.zeros((0, 28, 28)), [], None, 422, "images: no digit in the request"),
        (TOKEN, 2, [1, 2], ["a"], 422, r"writers: shape \(1,\); expected \(2,\)"),
        (TOKEN, 1, [1], ["w" * 65], 422, "writers: an id of 65 characters; at most 64"),
        (None, 1, [1], None, 422, "token: missing"),
        ("short", 1, [1], None, 422, "token: 5 characters, not 16 to 128 characters"),
        ("a" * 129, 1, [1], None, 422, "token: 129 characters"),
        ("a b" * 10, 1, [1], None, 422, "token: 30 characters, not 16 to 128 characters of A-Z"),
    ],
)
def test_a_request_that_cannot_be_read_is_refused_whole(store, rules, token, images, labels, writers, status, message):
    images = digits(images) if isinstance(images, int) else images  # n: n digits the door lets in
    result = intake.contribute(store, rules, token, images, labels, writers, read=reader)
    assert result.status == status and result.outcomes == ()
    assert store.count() == 0
    assert re.search(message, result.error), result.error
    assert result.as_json() == {"error": result.error}


def test_a_batch_over_max_batch_is_refused_before_it_is_screened(store, rules):
    small = rules.model_copy(update={"max_batch": 2})
    result = intake.contribute(store, small, TOKEN, digits(3), [1, 2, 3], read=reader)
    assert result.status == 413 and "3 digits in one request, over contributions.max_batch = 2: split it" == result.error
    assert store.count() == 0


def test_duplicates_within_and_across_requests_are_stored_once(store, rules):
    a, b = digits(2)
    first = intake.contribute(store, rules, TOKEN, [a, b, a], [1, 2, 1])
    assert first.status == 200 and [o.status for o in first.outcomes] == [201, 201, 409]  # partly stored: 200
    assert first.refused() == {"a duplicate": 1} and "a duplicate" in first.outcomes[2].reason
    again = intake.contribute(store, rules, TOKEN, [a], [1])
    assert again.status == 409 and again.error.startswith("a duplicate") and again.accepted == 0
    both = intake.contribute(store, rules, TOKEN, [a, b], [1, 2])
    assert both.status == 409 and both.error == "none of the 2 digits was stored: a duplicate (2)"
    assert intake.contribute(store, rules, OTHER, [a], [1]).status == 201  # another contributor may give the same image
    assert store.count() == 3


def test_a_mixed_refusal_names_every_reason_and_the_most_specific_status(store, rules):
    (a,) = digits(1)
    intake.contribute(store, rules, TOKEN, [a], [1])
    result = intake.contribute(store, rules, TOKEN, [a, np.zeros((28, 28)), NOISE], [1, 2, 3])
    assert result.status == 422 and result.accepted == 0
    assert result.error == "none of the 3 digits was stored: a duplicate (1), blank or nearly blank (1), mostly ink, not a digit (1)"
    assert [(o.index, o.status) for o in result.outcomes] == [(0, 409), (1, 422), (2, 422)]


def test_over_the_rate_limit_is_a_429(store, rules):
    tight = rules.model_copy(update={"rate_per_token_hour": 2})
    result = intake.contribute(store, tight, TOKEN, digits(3), [1, 2, 3])
    assert result.status == 200 and [o.status for o in result.outcomes] == [201, 201, 429]
    late = intake.contribute(store, tight, TOKEN, digits(1, seed=5), [1])
    assert late.status == 429 and "over 2 digits from one contributor in an hour" in late.error


def test_erase_then_list(store, rules):
    mine = intake.contribute(store, rules, TOKEN, digits(3), [1, 2, 3]).ids
    theirs = intake.contribute(store, rules, OTHER, digits(1), [4]).ids
    assert [r["id"] for r in store.list(TOKEN)] == mine
    assert store.erase(TOKEN, [mine[0], theirs[0]]) == 1  # only one's own
    assert [r["id"] for r in store.list(TOKEN)] == mine[1:]
    assert store.erase(TOKEN) == 2 and store.list(TOKEN) == [] and [r["id"] for r in store.list(OTHER)] == theirs


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def test_npz_files_are_read_with_their_keys_named(tmp_path):
    images, labels = digits(2), np.array([1, 2])
    got = intake.read_npz(_npz(images=images, labels=labels, writers=np.array(["x", "y"])), "a.npz", 10**6)
    assert np.array_equal(got[0], images) and np.array_equal(got[1], labels) and got[2].tolist() == ["x", "y"]
    path = tmp_path / "b.npz"
    path.write_bytes(_npz(images=images, labels=labels))
    assert intake.read_npz(path, str(path), 10**6)[2] is None
    with pytest.raises(intake.Refused, match=r"a.npz: no key 'labels' \(it has images\)"):
        intake.read_npz(_npz(images=images), "a.npz", 10**6)
    with pytest.raises(intake.Refused, match="a.npz: not an .npz file"):
        intake.read_npz(b"not a zip", "a.npz", 10**6)
    with pytest.raises(intake.Refused, match=r"a.npz: key 'writers' holds Python objects"):
        intake.read_npz(_npz(images=images, labels=labels, writers=np.array(["x", None], dtype=object)), "a.npz", 10**6)
    bomb = _npz(images=np.zeros((5000, 28, 28), np.uint8), labels=np.zeros(5000, np.int64))  # tiny compressed, 3.9 MB unpacked
    assert len(bomb) < 50_000
    with pytest.raises(intake.Refused, match=r"a.npz: its arrays unpack to 3,960,\d+ bytes, over 1,000,000"):
        intake.read_npz(bomb, "a.npz", 10**6)


def test_model_versions_name_the_registry_version_or_the_dvc_checkpoint():
    assert intake.model_version("cnn-classifier", "7", None) == "cnn-classifier/7"
    assert intake.model_version("cnn-classifier", None, "models/cnn/model.pt") == "dvc:models/cnn/model.pt"
    assert intake.model_version(None, None, None) is None
