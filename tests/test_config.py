from __future__ import annotations

import dataclasses

import pytest

from oekaki.core.config import SECTIONS, Config, ConfigError, load_config
from oekaki.core.paths import project_paths


def test_every_params_section_builds_into_its_dataclass():
    cfg = load_config(project_paths().params)
    assert isinstance(cfg, Config)
    for name, cls in SECTIONS.items():
        assert isinstance(cfg.section(name), cls)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.gmm.n_artworks = 1  # type: ignore[misc]


def write(tmp_path, text):
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("gmm:\n  n_artwork: 300\n", ["params.yaml", "gmm.n_artwork", "unknown key", "n_artworks"]),
        ("gmm:\n  n_artworks: many\n", ["gmm.n_artworks", "'many'", "integer"]),
        ("gmm:\n  n_artworks: -5\n", ["gmm.n_artworks", "-5", ">= 10"]),
        ("gmm:\n  true_weights: [0.5, 0.9, 0.1]\n", ["gmm.true_weights", "sum to 1"]),
        ("gmm:\n  true_weights: [1.5]\n  true_means: [[1, 2]]\n  true_covs: [[[1, 0], [0, 1]]]\n", ["gmm.true_weights", "1.5"]),
        ("gmm:\n  true_covs: [[[1, 2], [2, 1]], [[1, 0], [0, 1]], [[1, 0], [0, 1]]]\n", ["true_covs[0]", "positive-definite"]),
        ("base:\n  device: tpu\n", ["base.device", "'tpu'", "auto, cpu, cuda"]),
        ("base:\n  threads: true\n", ["base.threads", "True", "integer"]),
        ("data:\n  limit: 0\n", ["data.limit", ">= 1"]),
        ("data:\n  source: local\n", ["data.local_dir", "source is 'local'"]),
        ("data:\n  dataset: kmnist\n  source: bundled\n", ["data.source", "only with dataset 'mnist'"]),
        ("models:\n  x: 1\n", ["unknown section 'models'"]),
        ("cnn:\n  epoch: 3\n", ["cnn.epoch", "unknown key", "epochs"]),
        ("cnn:\n  epochs: -1\n", ["cnn.epochs", "-1", ">= 1"]),
        ("cnn:\n  dropout: 1.5\n", ["cnn.dropout", "1.5", "[0, 1)"]),
        ("cnn:\n  channels: [32, 0]\n", ["cnn.channels", "positive channel counts"]),
        ("vae:\n  latent_size: 0\n", ["vae.latent_size = 0 is impossible", ">= 1"]),
        ("vae:\n  beta: -0.5\n", ["vae.beta = -0.5", "KL weight >= 0"]),
        ("vae:\n  conditional: yes-please\n", ["vae.conditional", "true or false"]),
        ("vae:\n  channels: [32, 64, 128]\n", ["vae.channels", "two positive channel counts"]),
        ("gan:\n  beta: 1\n", ["gan.beta", "unknown key"]),
        ("- a\n- b\n", ["expected a mapping"]),
    ],
)
def test_bad_params_are_refused_with_file_key_and_value(tmp_path, text, fragments):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_overrides_apply_and_are_validated(tmp_path):
    path = write(tmp_path, "gmm:\n  n_artworks: 300\n")
    cfg = load_config(path, ["gmm.n_artworks=500", "data.limit=1000", "data.local_dir=/tmp/x"])
    assert (cfg.gmm.n_artworks, cfg.data.limit, cfg.data.local_dir) == (500, 1000, "/tmp/x")
    with pytest.raises(ConfigError, match="gmm.n_artworks = -1"):
        load_config(path, ["gmm.n_artworks=-1"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(path, ["n_artworks=5"])
    with pytest.raises(ConfigError, match="unknown section 'gmmm'"):
        load_config(path, ["gmmm.n_artworks=5"])


def test_missing_params_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="git checkout params.yaml"):
        load_config(tmp_path / "params.yaml")
