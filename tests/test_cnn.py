"""The cnn stage on tiny data, the judge's behaviour, and resume after SIGKILL."""

from __future__ import annotations

import numpy as np
import pytest

from oekaki.core.config import load_config
from oekaki.core.contract import stage_results
from oekaki.core.errors import TrainingError
from oekaki.core.io import read_json
from oekaki.core.paths import Paths, project_paths
from oekaki.data.dataset import TensorData
from oekaki.models import judge
from oekaki.stages.cnn import stage as cnn


def cfg_with(*overrides):
    return load_config(project_paths().params, list(overrides))


@pytest.fixture(scope="module")
def trained(tiny_judge):
    """The tiny pipeline's cnn stage: its workspace and what it wrote (metrics joined with the provenance facts)."""
    return tiny_judge, stage_results(tiny_judge, "cnn")


def test_tiny_training_writes_model_metrics_and_figures(trained):
    paths, m = trained
    assert m["test_accuracy"] > 0.85 and m["epochs"] == 3 and m["device"] == "cpu"
    assert m["fid_real_floor"] < m["fid_noise_ceiling"] / 10 and 5 < m["inception_score_real"] <= 10
    assert m["calibration_n_samples"] == 1000  # the scoreboard's n (evaluate.n_samples, at most the 1,000 test images)
    assert paths.cnn_model.is_file() and paths.checkpoint("cnn").is_file()
    assert [h["step"] for h in read_json(paths.plots_dir / "cnn_history.json")] == [1, 2, 3]
    assert {p.name for p in paths.figure_data("cnn").iterdir()} == {
        "filters.npz",
        "feature_maps.npz",
        "feature_space.npz",
        "confusion.npz",
        "wrong.npz",
    }


def test_judge_behaves(trained):
    paths, m = trained
    j = judge.Judge.load(paths.cnn_model)
    data = TensorData.load(paths.prepared, "cpu")
    test_x, test_y = data.test_x.numpy(), data.test_y.numpy()
    real = j.judge(test_x)
    # a "perfect conditional generator": real test images with their labels
    perfect = judge.score(real, real, test_y, test_y)
    assert perfect["conditional_accuracy"] == pytest.approx(m["test_accuracy"], abs=1e-12)
    # only the correctly read ones count: the misread few change the spread a little, never to 0 or far above 1
    assert 0.9 < perfect["within_class_diversity"] < 1.1
    assert perfect["fid"] == pytest.approx(0.0, abs=1e-6)
    noise = j.judge(np.random.default_rng(0).integers(0, 256, test_x.shape, dtype=np.uint8))
    train = j.judge(data.train_x.numpy())
    assert judge.frechet_distance(real.features, train.features) < judge.frechet_distance(noise.features, real.features)
    # ten copies of one image per class: collapse
    copies = np.concatenate([np.repeat(test_x[test_y == c][:1], 10, axis=0) for c in range(10)])
    collapsed = judge.score(j.judge(copies), real, np.repeat(np.arange(10), 10), test_y)
    assert collapsed["within_class_diversity"] < 0.01
    one = judge.score(j.judge(np.repeat(test_x[:1], 10, axis=0)), real)
    assert one["class_entropy"] == 0.0 and judge.class_entropy(real.probs) > 0.95


def test_batch_larger_than_data_is_refused_before_writing(tmp_path, trained):
    paths = Paths(tmp_path)
    paths.prepared.parent.mkdir(parents=True)
    paths.prepared.write_bytes(trained[0].prepared.read_bytes())
    with pytest.raises(TrainingError, match="cnn.batch_size = 5000 is larger than the 1500 training images"):
        cnn.run(cfg_with("cnn.batch_size=5000"), paths)
    assert not paths.cnn_model.exists() and not paths.checkpoint("cnn").exists()


def test_corrupt_prepared_data_names_the_file(tmp_path):
    paths = Paths(tmp_path)
    paths.prepared.parent.mkdir(parents=True)
    paths.prepared.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TrainingError, match="prepared.npz: not a readable prepared-data file"):
        cnn.run(cfg_with(), paths)
