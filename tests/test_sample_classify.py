"""`python -m flows.sample --classify IMAGE --judge cnn|vit`: either judge reads a digit; bad input exits 2 with one line."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from flows import sample
from oekaki.core.checkpoints import load_checkpoint
from oekaki.models.judge import Judge
from oekaki.models.loading import load_network
from tests.conftest import VENV_BIN, copy_project, tool_env

READING = re.compile(r"^(?P<image>.+): the (?P<judge>\w+) judge reads a (?P<digit>\d) \((?P<p>[\d.]+)%\), from (?P<where>.+)$")


@pytest.fixture
def test_digit(tiny_judge, tmp_path):
    """The first test image as people draw it (dark ink on white, read back inverted), and the image itself (28, 28)."""
    with np.load(tiny_judge.prepared) as npz:
        digit = npz["test_images"][0]
    path = tmp_path / "mine.png"
    Image.fromarray(255 - digit).save(path)
    return path, digit


@pytest.mark.parametrize("judge", ["cnn", "vit"])
def test_either_judge_reads_the_digit_as_its_own_model_does(pipeline_store, test_digit, judge, capsys):
    paths, _, _ = pipeline_store
    path, digit = test_digit
    assert sample.main(["--classify", str(path), "--judge", judge, "--root", str(paths.root)]) == 0
    first, second = capsys.readouterr().out.splitlines()
    got = READING.match(first)
    assert got and got["image"] == str(path) and got["judge"] == judge, first
    assert f"{judge}-classifier" in got["where"]  # the registered judge (or its DVC-tracked file, saying why)
    probs = [float(p) / 100 for _, p in re.findall(r"(\d): ([\d.]+)%", second)]
    assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=0.01)
    # the same reading as the judge's own network on the raw test image (the DVC-tracked file: the one trained here)
    model = load_network(load_checkpoint(paths.final_model(judge)))
    expected = Judge(model).judge(torch.from_numpy(digit[None])).probs[0]
    assert int(got["digit"]) == int(expected.argmax()) and float(got["p"]) == pytest.approx(100 * expected.max(), abs=0.05)


def test_a_checkpoint_of_the_other_judge_is_refused(tiny_judge, test_digit, capsys):
    path, _ = test_digit
    vit = tiny_judge.final_model("vit")
    assert sample.main(["--classify", str(path), "--judge", "cnn", "--checkpoint", str(vit), "--root", str(tiny_judge.root)]) == 2
    assert f"{vit}: holds a 'vit' model, not the cnn judge" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--classify", "x.png", "--judge", "resnet"], "--judge 'resnet': unknown judge; choose cnn or vit"),
        (["--classify", "x.png", "--out", "y.png"], "--out: not with --classify"),
        (["--classify", "x.png", "--model", "gan"], "--model: not with --classify"),
        (["--model", "gan", "--judge", "vit", "--out", "y.png"], "--judge: only with --classify IMAGE"),
        (["--model", "gan"], "the following arguments are required: --out (or --classify IMAGE)"),
    ],
)
def test_bad_arguments_are_named(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        sample.main(args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_an_unreadable_image_exits_2_with_one_line_through_the_real_command(tmp_path):
    """Refused at the door, before any judge is looked for: no model, no registry is needed to say so."""
    paths, env = copy_project(tmp_path / "repo"), tool_env(tmp_path)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    for image in (bad, tmp_path / "missing.png"):
        proc = subprocess.run(
            [f"{VENV_BIN}/python", "-m", "flows.sample", "--classify", str(image), "--judge", "vit"],
            cwd=paths.root, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.startswith(f"error: --classify {image}: not a readable image (") and len(proc.stderr.splitlines()) == 1
