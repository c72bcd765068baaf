"""`python -m flows.sample` on the tiny pipeline's registered models (a copy of its store per test)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from flows import sample
from oekaki.core.io import read_json
from oekaki.pipeline.tracking import Registry
from oekaki.stages.promote import stage as promote

TILE = 29 * 4  # 28 pixels + 1 gap, scaled 4x


@pytest.fixture
def champions(pipeline_store):
    paths, _, _ = pipeline_store
    registry = Registry(paths)
    for row in read_json(paths.promote_decision)["models"].values():
        registry.set_alias(row["model"], "champion", row["candidate"]["version"])
    return paths


def test_gan_sevens_from_the_champion(champions, tmp_path, capsys):
    out = tmp_path / "sevens.png"
    assert sample.main(["--model", "gan", "--label", "7", "--n", "16", "--out", str(out), "--root", str(champions.root)]) == 0
    assert "@champion" in capsys.readouterr().out
    grid = np.asarray(Image.open(out))
    assert grid.shape == (4 * TILE + 4, 4 * TILE + 4)
    assert (
        sample.main(["--model", "gan", "--label", "7", "--n", "16", "--out", str(tmp_path / "again.png"), "--root", str(champions.root)])
        == 0
    )
    assert (tmp_path / "again.png").read_bytes() == out.read_bytes()  # fixed seed: the same drawing


def test_diffusion_from_the_champion_with_steps_and_guidance(champions, tmp_path, capsys):
    out = tmp_path / "threes.png"
    args = ["--model", "diffusion", "--label", "3", "--n", "9", "--steps", "2", "--guidance", "3", "--out", str(out)]
    assert sample.main([*args, "--root", str(champions.root)]) == 0
    assert "models:/diffusion/" in capsys.readouterr().out and np.asarray(Image.open(out)).shape == (3 * TILE + 4, 3 * TILE + 4)


def test_vae_style_transfer_from_an_image_file(champions, tmp_path, capsys):
    with np.load(champions.prepared) as npz:
        digit = npz["test_images"][0]
    source = tmp_path / "mine.png"
    Image.fromarray(255 - digit).save(source)  # dark ink on white paper, as people draw: inverted on reading
    out = tmp_path / "styles.png"
    assert sample.main(["--model", "vae", "--style-from", str(source), "--out", str(out), "--root", str(champions.root)]) == 0
    assert "source read as a" in capsys.readouterr().out
    assert np.asarray(Image.open(out)).shape == (TILE + 4, 11 * TILE + 4)  # the source, then its style as 0-9


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "dcgan"], "unknown model; choose gan, vae or diffusion"),
        (["--model", "gan", "--label", "10"], "--label 10: out of range"),
        (["--model", "gan", "--n", "0"], "--n 0: out of range"),
    ],
)
def test_bad_arguments_are_named(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        sample.main([*args, "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_no_champion_yet_and_the_dvc_checkpoint_fallback(pipeline_store, tmp_path, monkeypatch, capsys):
    paths, _, _ = pipeline_store
    registry = Registry(paths)
    gan = next(g for g in promote.GATES if g.stage == "gan").name
    if registry.alias_version(gan, "champion"):
        registry.client.delete_registered_model_alias(gan, "champion")
    out = tmp_path / "x.png"
    assert sample.main(["--model", "gan", "--out", str(out), "--root", str(paths.root)]) == 2
    assert "has no 'champion' yet" in capsys.readouterr().err and not out.exists()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")  # no registry entry at all
    assert sample.main(["--model", "gan", "--label", "3", "--out", str(out), "--root", str(paths.root)]) == 0
    assert "DVC-tracked" in capsys.readouterr().out and out.is_file()
