"""The judge's measures against independent references, the scoreboard's protocol and its second judge (no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from oekaki.core.checkpoints import load_checkpoint, save_checkpoint
from oekaki.core.contract import merge_facts, split_numbers
from oekaki.core.errors import DataError, MissingInputError, TrainingError
from oekaki.models import cnn, judge, scoreboard, two_judges, vit


def test_frechet_distance_matches_scipy_sqrtm_on_features_of_known_covariance():
    rng = np.random.default_rng(0)
    d = 6
    a_factor, b_factor = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    a = rng.normal(size=(4000, d)) @ a_factor.T + 1.0  # covariance a_factor a_factor^T, mean 1
    b = rng.normal(size=(4000, d)) @ b_factor.T - 0.5
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean)
    assert judge.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    # and against the population values: the covariances are known, so is the distance (to sampling error)
    cov_a, cov_b = a_factor @ a_factor.T, b_factor @ b_factor.T
    truth = d * 1.5**2 + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real)
    assert judge.frechet_distance(a, b) == pytest.approx(truth, rel=0.1)
    assert judge.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_inception_score_is_ten_for_confident_balanced_and_one_for_uniform_predictions():
    one_hot = np.eye(10)[np.arange(1000) % 10]
    assert judge.inception_score(one_hot) == pytest.approx(10.0, rel=1e-6)
    assert judge.inception_score(np.full((1000, 10), 0.1)) == pytest.approx(1.0, abs=1e-9)
    assert judge.inception_score(np.eye(10)[np.zeros(1000, int)]) == pytest.approx(1.0, abs=1e-6)  # confident, one class


def _judged(features: np.ndarray, predicted: np.ndarray) -> judge.Judged:
    return judge.Judged(features, np.eye(10)[predicted])


def test_wrong_class_samples_do_not_raise_within_class_diversity():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), 50)
    real = _judged(rng.normal(size=(500, 8)), labels)
    # a collapsed painter: every sample of a label the same point, read correctly
    collapsed = _judged(np.repeat(rng.normal(size=(10, 8)), 50, axis=0), labels)
    low = judge.within_class_diversity(collapsed, labels, real, labels)
    assert low == pytest.approx(0.0, abs=1e-6)  # cdist rounding
    # the same painter with half its samples replaced by widely scattered wrong digits (or noise)
    features, predicted = collapsed.features.copy(), labels.copy()
    wrong = np.arange(500) % 2 == 1
    features[wrong] = rng.normal(scale=10, size=(wrong.sum(), 8))
    predicted[wrong] = (labels[wrong] + 1) % 10
    faked = judge.within_class_diversity(_judged(features, predicted), labels, real, labels)
    assert faked < 1e-6 and faked <= low + 1e-9  # they are left out, not counted as variety
    # counted only when read as asked: the share counted is the conditional accuracy
    assert judge.conditional_accuracy(np.eye(10)[predicted], labels) == pytest.approx(0.5)
    # a label with fewer than 2 correct samples contributes 0
    none_right = _judged(real.features, (labels + 1) % 10)
    assert judge.within_class_diversity(none_right, labels, real, labels) == 0.0
    assert judge.within_class_diversity(real, labels, real, labels) == pytest.approx(1.0)


def test_protocol_seeds_labels_and_the_real_row_are_fixed_and_distinct():
    test_y = np.repeat(np.arange(10), 30)
    proto = scoreboard.protocol(test_y, 100, 42, 3)
    assert proto.n == 100 and proto.seeds == (42, 43, 44) and proto.requested.shape == (3, 100)
    assert not np.array_equal(proto.requested[0], proto.requested[1])
    assert scoreboard.protocol(test_y, 10_000, 42, 1).n == 300  # at most the test set's size
    train_y = np.repeat(np.arange(10), 40)
    train_x = np.arange(400, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)  # image i is filled with i % 256
    board = scoreboard.real_board((train_x, train_y), proto)
    for images, labels in zip(board.images, board.requested, strict=True):
        picked = scoreboard.real_indices(train_y, labels, 0)
        assert np.array_equal(train_y[picked], labels) and len(set(picked.tolist())) == len(picked)  # distinct, of the label
        assert len(np.unique(images[:, 0, 0])) > 50
    with pytest.raises(DataError, match="asks for 30 images of label 0 but the pool has 2"):
        scoreboard.real_indices(np.array([0, 0, 1]), np.zeros(30, int), 0)


def test_saved_boards_must_answer_the_same_request(tmp_path):
    proto = scoreboard.protocol(np.repeat(np.arange(10), 20), 100, 42, 3)
    board = scoreboard.noise_board(proto)
    path = tmp_path / "models" / "gan" / "scoreboard.npz"
    scoreboard.save_board(path, board)
    loaded = scoreboard.load_board(path, proto, "gan")
    assert np.array_equal(loaded.images, board.images) and loaded.conditional is False
    other = scoreboard.protocol(np.repeat(np.arange(10), 20), 100, 7, 3)
    with pytest.raises(MissingInputError, match=r"scoreboard.npz: drawn for seeds \[42, 43, 44\].*rerun stage 'gan' \(`dvc repro gan`\)"):
        scoreboard.load_board(path, other, "gan")
    with pytest.raises(MissingInputError, match="rerun stage 'vae'"):
        scoreboard.load_board(tmp_path / "missing.npz", proto, "vae")


def test_split_numbers_keeps_numbers_and_moves_the_rest_reversibly():
    metrics = {"fid": 1.5, "n": 3, "device": "cpu", "ema": True, "run": None, "sweep": [{"a": 1}], "row": {"x": 2.0, "id": "abc"}}
    numbers, facts = split_numbers(metrics)
    assert numbers == {"fid": 1.5, "n": 3, "row": {"x": 2.0}}
    assert facts == {"device": "cpu", "ema": True, "run": None, "sweep": [{"a": 1}], "row": {"id": "abc"}}
    assert merge_facts(numbers, facts) == metrics


def test_the_second_judges_numbers_and_disagreements_are_counted_right():
    """Two seeds of five samples, readings chosen by hand: every number `compare` gives, worked out on paper."""
    asked = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]])
    cnn = np.array([[1, 2, 3, 4, 0], [1, 2, 9, 4, 5]])  # right 4/5, then 4/5
    vit = np.array([[1, 2, 3, 7, 0], [1, 8, 3, 4, 5]])  # right 3/5, then 4/5
    got = two_judges.compare(asked, cnn, vit)
    assert got["conditional_accuracy_vit"] == pytest.approx(0.7) and got["conditional_accuracy_vit_std"] == pytest.approx(0.2 / np.sqrt(2))
    # seed 0: they differ on sample 3 (CNN right); seed 1: on samples 1 (CNN right) and 2 (ViT right); sample 4 of seed 0
    # is wrong for both, read alike: no disagreement
    assert got["judges_disagree"] == pytest.approx(0.3) and got["judges_disagree_std"] == pytest.approx(0.2 / np.sqrt(2))
    assert (got["judges_disagree_n"], got["judges_disagree_cnn_asked"], got["judges_disagree_vit_asked"]) == (3, 2, 1)
    # where they agree both are right or both wrong: the accuracies differ by exactly (cnn_asked - vit_asked) / samples
    assert judge.conditional_accuracy(np.eye(10)[cnn.ravel()], asked.ravel()) - got["conditional_accuracy_vit"] == pytest.approx(1 / 10)
    assert set(got) == set(two_judges.SECOND_JUDGE_KEYS)
    images = np.arange(10, dtype=np.uint8)[:, None, None].repeat(28, 1).repeat(28, 2).reshape(2, 5, 28, 28)  # image i filled with i
    board = scoreboard.Board(images, asked, np.array([0, 1]), True)
    shown = two_judges.disagreements(board, cnn, vit)
    assert shown.images[:, 0, 0].tolist() == [3, 6, 7]  # seed 0's sample 3, seed 1's samples 1 and 2, in that order
    assert (shown.asked.tolist(), shown.cnn.tolist(), shown.vit.tolist()) == ([4, 2, 3], [4, 2, 9], [7, 8, 3])
    assert len(two_judges.disagreements(board, cnn, vit, limit=2).asked) == 2
    assert len(two_judges.disagreements(board, cnn, cnn).asked) == 0
    one = two_judges.compare(asked[:1], cnn[:1], vit[:1])  # one seed: no spread
    assert one["conditional_accuracy_vit_std"] == 0.0 and one["judges_disagree"] == pytest.approx(0.2)


def _tiny_judges(tmp_path, vit_data: str = "same") -> tuple[Path, Path]:
    """An untrained CNN and ViT saved as the cnn and vit stages save theirs (random weights, fixed seed)."""
    torch.manual_seed(0)
    cnn_net = cnn.build({"channels": [4, 8], "hidden": 16, "dropout": 0.0, "mean": 0.13, "std": 0.31})
    vit_args = {"patch": 7, "width": 16, "depth": 1, "heads": 2, "mlp_ratio": 2, "stem": 0, "mean": 0.13, "std": 0.31}
    vit_net = vit.build(vit_args)
    paths = tmp_path / "cnn.pt", tmp_path / "vit.pt"
    save_checkpoint(paths[0], {"kind": "cnn", "model_args": cnn_net.args.as_dict(), "model": cnn_net.state_dict(), "data_sha256": "same"})
    save_checkpoint(paths[1], {"kind": "vit", "model_args": vit_args, "model": vit_net.state_dict(), "data_sha256": vit_data})
    return paths


def test_the_vit_judge_reads_each_image_as_its_own_forward_pass_does(tmp_path):
    cnn_path, vit_path = _tiny_judges(tmp_path)
    second = two_judges.load_vit_judge(vit_path, cnn_path)
    proto = scoreboard.protocol(np.repeat(np.arange(10), 5), 20, 0, 2)
    board = scoreboard.noise_board(proto)
    read = two_judges.readings(second, board)
    assert read.shape == (2, 20)
    by_hand = vit.from_checkpoint(load_checkpoint(vit_path))
    with torch.no_grad():
        for images, row in zip(board.images, read, strict=True):
            x = torch.from_numpy(images).float().div(255).sub(0.13).div(0.31).unsqueeze(1)  # (n, 1, 28, 28) as trained
            assert by_hand(x).argmax(1).tolist() == row.tolist()
    assert two_judges.compare(board.requested, read, read)["judges_disagree"] == 0.0


def test_a_vit_trained_on_other_data_is_refused(tmp_path):
    cnn_path, vit_path = _tiny_judges(tmp_path, vit_data="other")
    with pytest.raises(TrainingError, match=r"vit.pt was trained on other data than the CNN judge .*cnn.pt.*`dvc repro vit`"):
        two_judges.load_vit_judge(vit_path, cnn_path)
    with pytest.raises(TrainingError, match=r"cnn.pt: holds a 'cnn' model, not the ViT"):
        two_judges.load_vit_judge(cnn_path, cnn_path)
