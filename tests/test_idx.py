from __future__ import annotations

import gzip

import numpy as np
import pytest

from oekaki.data import idx
from oekaki.data.sources import IDX_FILES
from oekaki.stages.download.stage import DataError, load_idx_set


def write_set(folder, n_train=20, n_test=10, gz=True, seed=0):
    """Four valid IDX files (gzipped or not) with random digits; returns {key: path}."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    files = {}
    for key, stem in IDX_FILES.items():
        content = idx.encode_idx(arrays[key])
        path = folder / (stem + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(content) if gz else content)
        files[key] = path
    return files, arrays


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path, gz):
    files, arrays = write_set(tmp_path, gz=gz)
    loaded, hashes = load_idx_set(files)
    for key in arrays:
        np.testing.assert_array_equal(loaded[key], arrays[key])
    assert len(hashes) == 4 and all(len(h) == 64 for h in hashes.values())


def test_hash_is_of_decompressed_content(tmp_path):
    files, _ = write_set(tmp_path, gz=True)
    (tmp_path / "plain").mkdir()
    plain, _ = write_set(tmp_path / "plain", gz=False)
    assert sorted(load_idx_set(files)[1].values()) == sorted(load_idx_set(plain)[1].values())


def test_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 100)
    with pytest.raises(idx.IdxError, match=r"x-idx3-ubyte: wrong magic number 0x00000d03"):
        idx.read_idx(path, expected_ndim=3)


def test_labels_file_given_as_images(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx.encode_idx(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(idx.IdxError, match="has 1 dimensions; expected images"):
        idx.read_idx(path, expected_ndim=3)


def test_truncated_data_names_the_file(tmp_path):
    path = tmp_path / "imgs"
    path.write_bytes(idx.encode_idx(np.zeros((3, 28, 28), dtype=np.uint8))[:-10])
    with pytest.raises(idx.IdxError, match=r"imgs: truncated: header promises \(3, 28, 28\)"):
        idx.read_idx(path, expected_ndim=3)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "imgs.gz"
    path.write_bytes(gzip.compress(idx.encode_idx(np.zeros((3, 28, 28), dtype=np.uint8)))[:40])
    with pytest.raises(idx.IdxError, match=r"imgs.gz: corrupt or truncated gzip"):
        idx.read_idx(path, expected_ndim=3)


def test_corrupt_gzip_names_the_file(tmp_path):
    data = bytearray(gzip.compress(idx.encode_idx(np.arange(784 * 3, dtype=np.uint8).reshape(3, 28, 28) % 7)))
    data[20:30] = b"\xff" * 10
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(idx.IdxError, match="bad.gz: corrupt or truncated gzip"):
        idx.read_idx(path, expected_ndim=3)


def test_mismatched_counts_name_both_files(tmp_path):
    files, _ = write_set(tmp_path)
    files["train_labels"].write_bytes(gzip.compress(idx.encode_idx(np.zeros(19, dtype=np.uint8))))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: 20 images but .*train-labels-idx1-ubyte.gz has 19 labels"):
        load_idx_set(files)
