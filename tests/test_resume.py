"""Resume after SIGKILL: a training stage killed mid-run picks up its last checkpoint and ends
exactly where an uninterrupted run ends (CPU, fixed seeds): the same metrics and the same weights, bit
for bit. One shared mechanism (the training loop and its checkpoints in oekaki/core/), checked for every
training stage through its real command line."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import pytest
import torch

from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.paths import Paths
from tests.conftest import E2E_TINY, VENV_BIN, copy_project, shrink_params, tool_env

pytestmark = pytest.mark.slow  # SIGKILL drills: each trains a stage twice (make test-slow, CI's second step)

# The end-to-end profile, with two epochs so that a kill can land between them
TINY = {
    "cnn": {**E2E_TINY["cnn"], "epochs": 2},
    "vit": {**E2E_TINY["vit"], "epochs": 2, "eval_every": 1},
    "gan": {**E2E_TINY["gan"], "epochs": 2},
    "vae": {**E2E_TINY["vae"], "epochs": 2},
    "diffusion": {**E2E_TINY["diffusion"], "epochs": 2},
}
COMPARE = {
    "cnn": ("test_accuracy", "test_loss", "epochs"),
    "vit": ("test_accuracy", "test_loss", "epochs", "ink_share_vit", "position_similarity_neighbours"),
    "gan": ("fid", "inception_score", "epochs"),
    "vae": ("test_loss_nats", "fid", "epochs"),
    "diffusion": ("fid", "conditional_accuracy", "epochs"),
}


def stage(paths, env, name, **kw):
    return subprocess.Popen([f"{VENV_BIN}/python", "-m", "oekaki", "stage", name], cwd=paths.root, env=env, text=True, **kw)


@pytest.mark.parametrize("name", sorted(TINY))
def test_sigkill_mid_training_resumes_and_matches_an_uninterrupted_run(tmp_path, name):
    upstream = ["contributions", "source", "download"] + (["cnn"] if name != "cnn" else [])
    base = copy_project(tmp_path / "base")
    sections = {s: TINY[s] for s in TINY if s in upstream} | {name: {**TINY[name], "epochs": 6}}
    shrink_params(base, data={"limit": 1200}, evaluate=E2E_TINY["evaluate"], **sections)  # the scoreboard's n: 100 per seed
    for s in upstream:  # once, then two identical copies
        assert stage(base, tool_env(tmp_path / "base"), s).wait(300) == 0, s
    results, weights = {}, {}

    def train(run: str) -> None:
        shutil.copytree(base.root, tmp_path / run)
        paths, env = Paths(tmp_path / run), tool_env(tmp_path / run)
        if run == "killed":
            proc = stage(paths, env, name, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 120
            while not paths.checkpoint(name).is_file() and time.time() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert not paths.final_model(name).exists(), "killed too late: training had finished"
        proc = stage(paths, env, name, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        if run == "killed":
            assert "resuming from" in err and "after epoch" in err
        results[run] = json.loads(paths.metrics(name).read_text())
        weights[run] = tensors(load_checkpoint(paths.final_model(name)))

    def differ(a: str, b: str) -> list[str]:
        return [k for k in weights[a] if not torch.equal(weights[a][k], weights[b][k])]

    train("straight")
    train("killed")
    assert weights["killed"].keys() == weights["straight"].keys()
    if name == "gan" and differ("killed", "straight"):
        # Once in a while on CI the GAN's uninterrupted training itself lands elsewhere (a single differing
        # rounding anywhere is amplified by the adversarial game; cause not found, not reproduced in 14 drills on
        # the development machine, 2 of them under load). The claim tested is the resume's: a second uninterrupted
        # run decides which run was off, and the resumed one must equal one of the two, bit for bit.
        train("straight-again")
        if not differ("killed", "straight-again"):
            results["straight"], weights["straight"] = results["straight-again"], weights["straight-again"]
    assert not (off := differ("killed", "straight")), f"resumed weights differ from the uninterrupted run's: {off}"  # the weights first
    for key in COMPARE[name]:
        got, want = results["killed"][key], results["straight"][key]
        # The GAN's FID once differed by 2e-4 relative (24.8505 against 24.8451, one run in five on a loaded machine)
        # with the weights compared above: the drawing/scoring after training, not the resume. Everything else exact.
        assert got == pytest.approx(want, rel=1e-3) if (name, key) == ("gan", "fid") else got == want, (key, got, want)


def tensors(tree, prefix: str = "") -> dict:
    """Every tensor in a loaded checkpoint, by its path of keys (weights, buffers, EMA copies)."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in tensors(value, f"{prefix}/{key}").items()}
    return {}
