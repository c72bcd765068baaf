"""The vit stage on tiny data (the tiny pipeline's own run), attention rollout on a hand-built stack, the model's two attention paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oekaki.core.checkpoints import load_checkpoint
from oekaki.core.config import load_config
from oekaki.core.contract import stage_results
from oekaki.core.errors import ConfigError
from oekaki.core.io import read_json
from oekaki.core.paths import project_paths
from oekaki.data.dataset import TensorData
from oekaki.models import vit
from oekaki.models.judge import Judge
from oekaki.stages.vit import figures
from tests.conftest import TINY


def test_rollout_of_a_hand_built_stack_gives_the_known_result():
    # [CLS] + 2 patches. Layer 1: [CLS] looks at both patches equally, the patches at themselves; layer 2: [CLS]
    # looks at patch 2 only. With the residual as 0.5 I: A1' = [[.5,.25,.25],[0,1,0],[0,0,1]], A2' = [[.5,0,.5],[0,1,0],[0,0,1]];
    # A2' A1' has the [CLS] row [.25, .125, .625]: over the patches 1/6 and 5/6.
    a1 = torch.tensor([[0, 0.5, 0.5], [0, 1, 0], [0, 0, 1]])
    a2 = torch.tensor([[0, 0, 1.0], [0, 1, 0], [0, 0, 1]])
    # two heads each, whose mean is the layer's matrix: the heads are averaged first
    h1 = torch.stack([torch.tensor([[0, 1.0, 0], [0, 1, 0], [0, 0, 1]]), torch.tensor([[0, 0, 1.0], [0, 1, 0], [0, 0, 1]])])
    assert torch.allclose(h1.mean(0), a1)
    h2 = torch.stack([a2, a2])
    got = vit.attention_rollout([h1[None], h2[None]])
    assert torch.allclose(got, torch.tensor([[1 / 6, 5 / 6]]))
    # uniform attention everywhere spreads [CLS] evenly over the patches, whatever the depth
    uniform = torch.full((1, 4, 5, 5), 0.2)
    assert torch.allclose(vit.attention_rollout([uniform] * 3), torch.full((1, 4), 0.25))


def small_model(stem: int) -> vit.DigitViT:
    torch.manual_seed(0)
    return vit.DigitViT(vit.VitArgs(patch=7, width=16, depth=2, heads=2, mlp_ratio=2, stem=stem, mean=0.1, std=0.3)).eval()


@pytest.mark.parametrize("stem", [0, 4])
def test_the_weights_path_computes_what_the_fast_path_computes(stem):
    model = small_model(stem)
    x = model.normalize(torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8))
    logits, attn = model.attention_maps(x)
    assert torch.allclose(logits, model(x), atol=1e-5)
    assert len(attn) == 2 and attn[0].shape == (3, 2, 17, 17)  # (B, heads, 1 + 4x4 patches, same)
    assert torch.allclose(attn[0].sum(-1), torch.ones(3, 2, 17))


def test_impossible_shapes_are_refused_naming_the_key():
    with pytest.raises(ConfigError, match="vit.patch"):
        load_config(project_paths().params, ["vit.patch=5"])
    with pytest.raises(ConfigError, match="vit.width"):
        load_config(project_paths().params, ["vit.width=30", "vit.heads=4"])


def test_ink_share_and_inked_patches():
    img = np.zeros((1, 28, 28), dtype=np.uint8)
    img[0, 0:4, 0:4] = 255  # ink in the top-left 4x4 patch only
    inked = figures.inked_patches(img, 4)
    assert inked.shape == (1, 49) and inked[0, 0] and inked.sum() == 1
    assert figures.ink_share(np.eye(49)[:1], inked)[0] == 1.0
    assert figures.ink_share(np.full((1, 49), 1 / 49), inked)[0] == pytest.approx(1 / 49)


@pytest.fixture(scope="module")
def trained(tiny_stage):
    profile = load_config(project_paths().params, [f"vit.{k}={v}" for k, v in TINY["vit"].items()]).vit
    paths, uri, run_id = tiny_stage("vit", profile)
    return paths, stage_results(paths, "vit"), (uri, run_id)


def test_tiny_training_writes_model_metrics_and_figures(trained):
    paths, m, _ = trained
    assert m["test_accuracy"] > 0.8 and m["device"] == "cpu" and m["epochs"] == 24
    assert paths.vit_model.is_file() and paths.checkpoint("vit").is_file()
    assert [h["step"] for h in read_json(paths.plots_dir / "vit_history.json")] == list(range(1, 25))
    assert {p.name for p in paths.figure_data("vit").iterdir()} == {"attention.npz", "positions.npz", "confusion.npz"}
    # the ViT's rollout falls on the strokes more than a uniform map's would
    assert m["ink_share_vit"] > m["ink_share_uniform"] and 0 < m["inked_patch_fraction"] < 1
    assert m["tokens"] == m["grid"] ** 2 == (28 // m["patch"]) ** 2


def test_the_checkpoint_describes_itself_and_judges(trained):
    paths, m, _ = trained
    ckpt = load_checkpoint(paths.vit_model)
    assert ckpt["kind"] == "vit" and ckpt["data_sha256"] == TensorData.load(paths.prepared, "cpu").sha256
    data = TensorData.load(paths.prepared, "cpu")
    judged = Judge(vit.from_checkpoint(ckpt)).judge(data.test_x.numpy())
    assert (judged.probs.argmax(1) == data.test_y.numpy()).mean() == pytest.approx(m["test_accuracy"], abs=1e-12)
    assert judged.features.shape == (len(data.test_y), ckpt["model_args"]["width"])


def test_registered_as_vit_classifier(trained):
    from mlflow.tracking import MlflowClient

    _, _, (uri, run_id) = trained
    versions = MlflowClient(uri).search_model_versions("name = 'vit-classifier'")
    assert any(v.run_id == run_id for v in versions)
