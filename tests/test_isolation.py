"""Bringing an isolated run's results into the project is all or nothing, whatever fails halfway."""

from __future__ import annotations

import os
import shutil

import pytest

from oekaki.core.paths import PROJECT_ROOT, Paths
from oekaki.pipeline import fingerprint, isolation

STAGES = ["download", "gmm"]  # outputs of both kinds: folders (data/raw, figures) and files


def fill(paths: Paths, version: str) -> None:
    """Every output of STAGES, and dvc.lock, with content that says which version it is."""
    paths.root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_ROOT / "dvc.yaml", paths.root / "dvc.yaml")
    for stage in STAGES:
        for rel in fingerprint.output_paths(paths, stage):
            target = paths.root / rel
            if "." in target.name:  # a file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(f"{version} {rel}")
            else:
                for name in ("a.png", "b/c.png"):
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    (target / name).write_text(f"{version} {rel}/{name}")
    (paths.root / "dvc.lock").write_text(f"{version} lock")


def snapshot(paths: Paths) -> dict[str, str]:
    """Every file of the project folder but dvc.yaml -> its content."""
    return {str(p.relative_to(paths.root)): p.read_text() for p in sorted(paths.root.rglob("*")) if p.is_file() and p.name != "dvc.yaml"}


def make_trees(root):
    """(copy, project, the project's files now, the project's files after a full bring-in)."""
    work, project = Paths(root / "work"), Paths(root / "project")
    fill(work, "new")
    fill(project, "old")
    (project.root / "data" / "raw" / "only-in-old.gz").write_text("old")  # a folder is replaced, not merged
    before = snapshot(project)
    after = {rel: text.replace("old", "new") for rel, text in snapshot(work).items()}
    return work, project, before, after


@pytest.fixture
def trees(tmp_path):
    return make_trees(tmp_path)


def test_a_bring_in_replaces_every_changed_output_and_dvc_lock(trees):
    work, project, before, after = trees
    changed = isolation.bring_in(work, project, STAGES)
    assert snapshot(project) == after and len(changed) == sum(len(fingerprint.output_paths(work, stage)) for stage in STAGES)


def count_calls(monkeypatch, module, name: str, fail_at: int | None) -> list[int]:
    """Wrap module.name: the `fail_at`-th call raises OSError; returns the running count."""
    calls, real = [0], getattr(module, name)

    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] == fail_at:
            raise OSError(f"injected failure in {name} call {fail_at}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return calls


def test_a_rename_that_fails_at_any_point_leaves_the_old_outputs_only(tmp_path):
    """Each rename of a bring-in in turn fails (the 1st, the 2nd, ...) until one runs through without an injected failure."""
    fail_at = 0
    while True:
        fail_at += 1
        work, project, before, after = make_trees(tmp_path / str(fail_at))
        with pytest.MonkeyPatch.context() as mp:
            calls = count_calls(mp, os, "replace", fail_at)
            try:
                isolation.bring_in(work, project, STAGES)
            except OSError as exc:
                assert "injected" in str(exc)
                assert snapshot(project) == before, f"rename {fail_at} failed"  # nothing new, nothing left beside
                continue
        assert calls[0] < fail_at and snapshot(project) == after
        break
    entries = sum(len(fingerprint.output_paths(work, stage)) for stage in STAGES) + 1  # and dvc.lock
    assert fail_at > 2 * entries  # two renames per entry (aside, in): every one of them was made to fail


@pytest.mark.parametrize("name", ["copy2", "copytree"])
def test_a_copy_that_fails_halfway_leaves_the_old_outputs_only(trees, monkeypatch, name):
    work, project, before, after = trees
    count_calls(monkeypatch, shutil, name, 2)
    with pytest.raises(OSError, match="injected"):
        isolation.bring_in(work, project, STAGES)
    assert snapshot(project) == before


def test_the_old_entry_a_killed_bring_in_set_aside_is_put_back(trees, monkeypatch):
    """Killed between its two renames, a bring-in leaves data/raw renamed aside; the next one restores it first."""
    work, project, before, after = trees
    raw = project.root / "data" / "raw"
    os.replace(raw, raw.with_name("raw" + isolation.ASIDE))
    count_calls(monkeypatch, shutil, "copy2", 2)
    with pytest.raises(OSError, match="injected"):
        isolation.bring_in(work, project, STAGES)
    assert snapshot(project) == before
