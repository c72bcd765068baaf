from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from oekaki.core.config import SECTIONS, Config, ConfigError, load_config
from oekaki.core.paths import project_paths


def test_every_params_section_builds_into_its_model():
    cfg = load_config(project_paths().params)
    assert isinstance(cfg, Config)
    assert list(SECTIONS) == list(yaml.safe_load(project_paths().params.read_text()))
    for name, cls in SECTIONS.items():
        assert isinstance(cfg.section(name), cls)
    with pytest.raises(ValidationError, match="frozen"):
        cfg.gmm.n_artworks = 1  # type: ignore[misc]


def write(tmp_path, text):
    """The real params.yaml with `text`'s sections merged in (every key is required; no second set of defaults)."""
    raw, edits = yaml.safe_load(project_paths().params.read_text()), yaml.safe_load(text)
    if isinstance(edits, dict):
        for section, values in edits.items():
            raw[section] = {**raw.get(section, {}), **values}
        text = yaml.safe_dump(raw, sort_keys=False)
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
        ("data:\n  validation_size: 0\n", ["data.validation_size = 0 is impossible", ">= 10"]),
        ("data:\n  validation_size: 500.0\n", ["data.validation_size", "integer"]),
        ("promote:\n  seeds: 1\n", ["promote.seeds = 1 is impossible", "[2, 10]"]),
        ("promote:\n  painter_max_fid_fraction: 0\n", ["promote.painter_max_fid_fraction = 0", "fraction > 0"]),
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
        ("vae:\n  reader_weight: -1\n", ["vae.reader_weight = -1", "weight >= 0"]),
        ("vae:\n  reader_batch: 256\n", ["vae.reader_batch = 256 is impossible", "at most vae.batch_size = 128"]),
        ("vae:\n  reader_width: 0\n", ["vae.reader_width = 0 is impossible", ">= 1"]),
        ("gan:\n  beta: 1\n", ["gan.beta", "unknown key"]),
        ("gan:\n  truncation_relax: [0, 1.2]\n", ["gan.truncation_relax = [0.0, 1.2] is impossible", "above truncation = 1.5"]),
        ("gan:\n  truncation_relax: [-1]\n", ["gan.truncation_relax", "truncations >= 0"]),
        ("gan:\n  truncation_margin: 1\n", ["gan.truncation_margin = 1", "[0, 1)"]),
        ("diffusion:\n  sample_steps: 0\n", ["diffusion.sample_steps = 0 is impossible", "[1, 1000]"]),
        ("diffusion:\n  guidance: -1\n", ["diffusion.guidance = -1", "guidance weight >= 0"]),
        ("diffusion:\n  label_drop: 1.0\n", ["diffusion.label_drop = 1.0", "probability in [0, 1)"]),
        ("diffusion:\n  label_drop: -0.1\n", ["diffusion.label_drop = -0.1", "[0, 1)"]),
        ("diffusion:\n  sampler: dpm\n", ["diffusion.sampler = 'dpm' is not allowed", "euler, heun, ddpm"]),
        ("diffusion:\n  sampler: ddpm\n", ["diffusion.sampler = 'ddpm' is impossible", "euler or heun with objective 'flow_matching'"]),
        ("diffusion:\n  objective: ddpm\n  sampler: heun\n", ["diffusion.sampler = 'heun' is impossible", "ddpm with objective 'ddpm'"]),
        ("diffusion:\n  objective: score\n", ["diffusion.objective = 'score' is not allowed", "flow_matching, ddpm"]),
        ("diffusion:\n  channels: [16, 32]\n", ["diffusion.channels", "three positive channel counts"]),
        ("diffusion:\n  embed_size: 63\n", ["diffusion.embed_size = 63 is impossible", "an even integer"]),
        ("text_painter:\n  channels: 30\n", ["text_painter.channels = 30 is impossible", "a multiple of text_painter.text_heads = 4"]),
        ("text_painter:\n  guidance_until: 0\n", ["text_painter.guidance_until = 0", "above guidance_from"]),
        ("text_painter:\n  caption_drop: 1\n", ["text_painter.caption_drop = 1", "[0, 1)"]),
        ("autoencoder:\n  channels: [16]\n", ["autoencoder.channels", "two positive channel counts"]),
        ("promote:\n  adherence_per_prompt: 0\n", ["promote.adherence_per_prompt = 0"]),
        ("diffusion:\n  ema_decay: 1\n", ["diffusion.ema_decay = 1", "[0, 1)"]),
        ("diffusion:\n  guidance_until: 0.5\n", ["diffusion.guidance_until = 0.5 is impossible", "above guidance_from (0.5)"]),
        ("diffusion:\n  guidance_until: 1.5\n", ["diffusion.guidance_until = 1.5", "[0, 1]"]),
        ("diffusion:\n  sweep_steps: [1, 0]\n", ["diffusion.sweep_steps", "step counts in [1, 1000]"]),
        ("diffusion:\n  sweep_guidance: [0, -2]\n", ["diffusion.sweep_guidance", "guidance weights >= 0"]),
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


def test_a_missing_key_or_section_is_named(tmp_path):
    raw = yaml.safe_load(project_paths().params.read_text())
    del raw["cnn"]["lr"], raw["evaluate"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: cnn.lr is missing" in str(err.value) and "a learning rate > 0" in str(err.value)
    assert "section 'evaluate' is missing; add it with its keys: n_samples" in str(err.value)


def test_every_bad_key_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "cnn:\n  lr: 0\n  schedule: cosine\nreport:\n  languages: [en, fr]\n"))
    lines = str(err.value).splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{tmp_path / 'params.yaml'}: ") for line in lines)
    assert "cnn.lr = 0 is impossible; expected a learning rate > 0" in lines[0]
    assert "cnn.schedule = 'cosine' is not allowed; choose one of: onecycle, constant" in lines[1]
    assert "report.languages[1] = 'fr' is not allowed; choose one of: en, ja" in lines[2]


def test_values_keep_the_types_the_stages_use():
    cfg = load_config(project_paths().params, ["cnn.lr=1", "cnn.channels=[8, 16]"])
    assert cfg.cnn.lr == 1.0 and isinstance(cfg.cnn.lr, float)
    assert cfg.cnn.channels == (8, 16) and cfg.report.languages == ("en", "ja")
    assert cfg.data.local_dir is None and cfg.data.limit is None
    for bad, fragment in [("cnn.epochs='3'", "integer"), ("cnn.lr=.nan", "finite number"), ("cnn.epochs=3.0", "integer")]:
        with pytest.raises(ConfigError, match=fragment):
            load_config(project_paths().params, [bad])


def test_the_vae_benchmark_overrides_pass_the_config_check(monkeypatch):
    """bench/vae.py's plain-VAE overrides on top of params.yaml: a new cross-key rule must not refuse them unnoticed."""
    import importlib.util

    bench = project_paths().root / "bench"
    monkeypatch.syspath_prepend(str(bench))  # as when run as a script: its helpers beside it
    spec = importlib.util.spec_from_file_location("bench_vae", bench / "vae.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = load_config(project_paths().params, list(module.PLAIN))
    assert (cfg.vae.conditional, cfg.vae.beta, cfg.vae.prior) == (False, 1.0, "standard")
    assert (cfg.vae.latent_size, cfg.vae.hidden) == (20, 400)  # the baseline's sizes: only the conv layers differ
