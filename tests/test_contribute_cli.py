"""`python -m oekaki contribute FILE.npz` (oekaki/contribute.py): the same door as the app's, straight into the store
or through a running app; a token made once and kept, so the same person can erase; one clear line and a non-zero
exit when nothing could be stored or the file cannot be read."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

from oekaki.contribute import TOKEN_FILE, main
from oekaki.core.paths import PROJECT_ROOT, Paths
from oekaki.data.contributions import Store
from tests.conftest import copy_project, tool_env
from tests.test_contribute_api import served, teach_app, untrained_judge
from tests.test_intake import NOISE, digits


def write_npz(path, images, labels, **more):
    np.savez(path, images=np.asarray(images, np.uint8), labels=np.asarray(labels), **more)
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with params.yaml and an untrained judge (models/cnn/model.pt); no MLflow store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy2(PROJECT_ROOT / "params.yaml", root / "params.yaml")
    return untrained_judge(root)


def store_of(paths: Paths) -> Store:
    return Store.of_project(None, paths.contributions_store)


def test_a_file_goes_into_the_store_read_by_the_judge_and_the_same_token_erases_it(project, tmp_path, capsys):
    file = write_npz(tmp_path / "new.npz", np.concatenate([digits(3), np.zeros((1, 28, 28)), NOISE[None]]), [1, 2, 3, 4, 5])
    assert main([str(file), "--root", str(project.root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{file}: 3 of 5 digits stored (ids 1-3); read by models/cnn/model.pt (DVC-tracked;")
    assert out[1] == "  refused: 1 blank or nearly blank, 1 mostly ink, not a digit"
    token_file = project.state_dir / TOKEN_FILE
    token = token_file.read_text().strip()
    assert len(token) >= 16 and stat.S_IMODE(token_file.stat().st_mode) == 0o600
    rows = store_of(project).list(token)
    assert [r["label"] for r in rows] == [1, 2, 3] and {r["model_version"] for r in rows} == {"dvc:models/cnn/model.pt"}

    assert main([str(file), "--root", str(project.root)]) == 1  # nothing new: every digit a duplicate or refused
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {file}: none of the 5 digits was stored: a duplicate (3), blank or nearly blank (1), mostly ink, not a digit (1)"
    ]

    assert main(["--erase", "--root", str(project.root)]) == 0
    assert capsys.readouterr().out.startswith("erased 3 digits") and store_of(project).count() == 0


def test_without_a_judge_the_digits_are_stored_unread(tmp_path, project, capsys):
    project.cnn_model.unlink()
    file = write_npz(tmp_path / "d.npz", digits(2), [4, 5], writers=np.array(["w1", "w2"]))
    assert main([str(file), "--token", "given-token-0123456789", "--root", str(project.root)]) == 0
    assert "no judge to read them" in capsys.readouterr().out
    rows = store_of(project).list("given-token-0123456789")
    assert [(r["judge_label"], r["writer"]) for r in rows] == [(None, "w1"), (None, "w2")]
    assert not (project.state_dir / TOKEN_FILE).exists()  # a given token is not kept


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot be read (No such file or directory)"),
        (b"not a zip", "not an .npz file"),
        ({"images": np.zeros((1, 28, 28), np.uint8)}, "no key 'labels' (it has images)"),
        ({"images": np.zeros((1, 28, 27), np.uint8), "labels": [1]}, "images: shape (1, 28, 27)"),
        ({"images": np.zeros((1, 28, 28), np.uint8), "labels": [12]}, "labels: values from 12 to 12; expected 0-9"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_line_naming_the_file_and_the_key(tmp_path, project, capsys, content, message):
    file = tmp_path / "bad.npz"
    if isinstance(content, bytes):
        file.write_bytes(content)
    elif content is not None:
        np.savez(file, **content)
    assert main([str(file), "--root", str(project.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {file}") and message in err[0], err
    assert store_of(project).count() == 0


def test_arguments_that_do_not_fit_are_refused(project, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--root", str(project.root)])
    assert exc.value.code == 2 and "give an .npz file to contribute, or --erase" in capsys.readouterr().err
    assert main(["--erase", "--root", str(project.root)]) == 2
    assert "no token: none was given (--token)" in capsys.readouterr().err


def test_through_a_running_app(tmp_path, project, capsys, monkeypatch):
    app, store, _ = teach_app(tmp_path / "app")
    file = write_npz(tmp_path / "d.npz", np.concatenate([digits(2), np.zeros((1, 28, 28))]), [1, 2, 3])
    with served(app) as url:
        assert main([str(file), "--url", url, "--root", str(project.root)]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [
            f"{file}: 2 of 3 digits stored (ids 1-2); through {url}, read by dvc:models/cnn/model.pt",
            "  refused: 1 blank or nearly blank",
        ]
        token = (project.state_dir / TOKEN_FILE).read_text().strip()
        assert [r["label"] for r in store.list(token)] == [1, 2] and store_of(project).count() == 0  # the app's store
        assert main([str(file), "--url", url, "--root", str(project.root)]) == 1
        assert main(["--erase", "--url", url, "--root", str(project.root)]) == 0
        assert store.count() == 0
    assert main([str(file), "--url", url, "--root", str(project.root)]) == 2  # the app is gone
    assert "error: cannot reach the app at" in capsys.readouterr().err


def test_python_m_oekaki_contribute_in_a_project_copy(tmp_path):
    paths = copy_project(tmp_path / "repo")
    file = write_npz(tmp_path / "d.npz", digits(2), [1, 2])
    env = tool_env(tmp_path)
    env.pop("MLFLOW_TRACKING_URI")  # no registry: the copy has no trained judge either
    run = subprocess.run([sys.executable, "-m", "oekaki", "contribute", str(file)], cwd=paths.root, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{file}: 2 of 2 digits stored (ids 1-2); no judge to read them")
    token = (paths.state_dir / TOKEN_FILE).read_text().strip()
    assert len(store_of(paths).list(token)) == 2
    erase = subprocess.run(
        [sys.executable, "-m", "oekaki", "contribute", "--erase"], cwd=paths.root, env=env, capture_output=True, text=True
    )
    assert erase.returncode == 0 and erase.stdout.startswith("erased 2 digits"), erase.stderr
