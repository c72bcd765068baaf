"""bench/common.py: every benchmark's figures go to a file named by the commit it measured, with the machine, date and arguments."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess

import pytest
import yaml

from oekaki.core.errors import ConfigError
from oekaki.core.paths import PROJECT_ROOT

_spec = importlib.util.spec_from_file_location("bench_common", PROJECT_ROOT / "bench" / "common.py")
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)


def git(root, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A one-commit git repository standing in for the project measured."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.txt").write_text("a\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-qm", "one")
    return root


def test_the_file_is_named_by_the_script_the_tag_and_the_short_commit_and_marked_when_dirty(tmp_path, monkeypatch):
    monkeypatch.delenv(common.RESULTS_ENV, raising=False)
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert common.results_path("cnn", sha, False) == PROJECT_ROOT / "bench" / "results" / "cnn-0123456.json"
    assert common.results_path("cnn", sha, True, tmp_path, "fashion") == tmp_path / "cnn-fashion-0123456-dirty.json"
    monkeypatch.setenv(common.RESULTS_ENV, str(tmp_path / "env"))
    assert common.results_path("vae", sha, False) == tmp_path / "env" / "vae-0123456.json"
    with pytest.raises(SystemExit, match="--tag '../x' must be letters"):
        common.results_path("vae", sha, False, tmp_path, "../x")


def test_the_record_holds_the_commit_the_dirty_flag_the_machine_the_date_the_arguments_and_the_figures(checkout, tmp_path):
    args = argparse.Namespace(out=tmp_path / "out", tag="", n=3, prepared=checkout / "data.npz")
    path = common.write_results("demo", args, {"seconds": 1.5}, root=checkout)
    head = git(checkout, "rev-parse", "HEAD")
    assert path == tmp_path / "out" / f"demo-{head[:7]}.json"
    record = json.loads(path.read_text())
    assert (record["script"], record["commit"], record["dirty"], record["figures"]) == ("bench/demo.py", head, False, {"seconds": 1.5})
    assert record["args"]["n"] == 3 and record["args"]["prepared"] == str(checkout / "data.npz")
    assert record["machine"]["cpus"] >= 1 and record["machine"]["cpu_model"] and record["date"][:4].isdigit()
    (checkout / "a.txt").write_text("changed\n")  # uncommitted: the file says so, and does not overwrite the clean one
    dirty = common.write_results("demo", args, {"seconds": 2.0}, root=checkout)
    assert dirty.name == f"demo-{head[:7]}-dirty.json" and json.loads(dirty.read_text())["dirty"] is True
    assert json.loads(path.read_text())["figures"] == {"seconds": 1.5}


def test_overrides_for_a_copy_are_written_into_its_params_and_a_bad_one_is_refused_by_name(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((PROJECT_ROOT / "params.yaml").read_text())
    common.set_params(params, ["cnn.epochs=1", "data.limit=400"])
    raw = yaml.safe_load(params.read_text())
    assert (raw["cnn"]["epochs"], raw["data"]["limit"]) == (1, 400)
    before = params.read_text()
    with pytest.raises(ConfigError, match="cnn.epochs"):
        common.set_params(params, ["cnn.epochs=many"])
    assert params.read_text() == before  # nothing written
