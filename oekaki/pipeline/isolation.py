"""Isolated pipeline runs: work in a copy, bring the outputs in only on success.

A retraining run must never leave the project half-updated: a stage that fails after its
upstream stages rewrote their outputs would otherwise leave new data beside old models and a
dvc.lock that matches neither. So the flow copies the project (code, params, dvc.lock, git
history and the current outputs, so its caches still hit) into a temporary folder that
shares the project's DVC cache, MLflow store and lock, runs there, and only after every
stage succeeded:
- without overrides: replaces the changed outputs and dvc.lock in the project (a later
  `dvc repro` finds everything up to date) and pushes to the DVC remote if one is set;
- with overrides: saves the copy as a DVC experiment and fetches its git ref into the
  project (`dvc exp show` lists it, `dvc exp apply` brings it in); the workspace is untouched.
On failure the copy is deleted and the project is exactly as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from oekaki.core.paths import Paths
from oekaki.pipeline import dvc_ops, fingerprint

log = logging.getLogger("oekaki.isolation")

# Never copied: tools' state, stores and caches (shared with the project or rebuilt).
SKIP = {".venv", ".prefect", ".oekaki", "mlflow.db", "mlartifacts", "mlruns", "test-artifacts", "dvc_plots", ".pytest_cache", ".ruff_cache"}
SKIP_DVC = {"cache", "tmp"}


def _ignore(root: Path):
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        if here == root:
            return SKIP & set(names)
        if here == root / ".dvc":
            return SKIP_DVC & set(names)
        return {n for n in names if n == "__pycache__"}

    return ignore


@contextlib.contextmanager
def run_copy(paths: Paths, base_dir: str | None = None) -> Iterator[Paths]:
    """A working copy of the project for one run; removed afterwards, whatever happened."""
    tmp = Path(tempfile.mkdtemp(prefix="oekaki-run-", dir=base_dir or os.environ.get("OEKAKI_RUNS_DIR")))
    work = Paths(tmp / "project", home=paths.home_root)
    try:
        shutil.copytree(paths.root, work.root, symlinks=True, ignore=_ignore(paths.root))
        cache = dvc_ops.cache_dir(paths)
        dvc_ops.dvc(work, "config", "--local", "cache.dir", str(cache))
        log.info("isolated run in %s (DVC cache %s)", work.root, cache)
        yield work
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


STAGED, ASIDE = ".oekaki-incoming", ".oekaki-old"  # suffixes of the siblings a bring-in works with


class IncompleteRollback(RuntimeError):
    """A bring-in failed and so did undoing it: the old entries stay beside their places for a person to restore."""


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _stage(src: Path, dst: Path) -> None:
    """Copy src (file or folder) to dst's STAGED sibling: same folder, same filesystem, so a rename puts it in place."""
    staged, aside = _sibling(dst, STAGED), _sibling(dst, ASIDE)
    if aside.exists() and not (dst.exists() or dst.is_symlink()):  # a bring-in killed between its two renames
        os.replace(aside, dst)
    for leftover in (staged, aside):  # of a bring-in that was killed
        _remove(leftover)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, staged, symlinks=True)
    else:
        shutil.copy2(src, staged)


def _swap_in(dsts: list[Path]) -> None:
    """Rename each staged sibling in, the old entry aside first; on any error rename every swap done back."""
    done: list[tuple[Path, bool]] = []  # (destination, whether it had an old entry)
    try:
        for dst in dsts:
            had_old = dst.exists() or dst.is_symlink()
            if had_old:
                os.replace(dst, _sibling(dst, ASIDE))
            done.append((dst, had_old))
            os.replace(_sibling(dst, STAGED), dst)
    except BaseException as failure:
        try:
            for dst, had_old in reversed(done):
                if not _sibling(dst, STAGED).exists():  # the new one went in: out again
                    os.replace(dst, _sibling(dst, STAGED))
                if had_old:
                    os.replace(_sibling(dst, ASIDE), dst)
        except OSError as exc:
            raise IncompleteRollback(
                f"bringing results into {dsts[0].parent} failed ({failure}) and so did putting the old ones back ({exc}): "
                f"the previous versions are kept beside their places as <name>{ASIDE}; rename them back, or run `dvc checkout`"
            ) from failure
        raise


def _remove_siblings(dsts: list[Path]) -> None:
    for dst in dsts:
        for sibling in (_sibling(dst, STAGED), _sibling(dst, ASIDE)):
            with contextlib.suppress(OSError):
                _remove(sibling)


def bring_in(work: Paths, project: Paths, stages: list[str]) -> list[str]:
    """Bring the outputs of `stages` that differ, and dvc.lock, from the copy into the project: all of them or none.

    Consistent means: the project's outputs of these stages and its dvc.lock are either all as they
    were or all as in the copy, never new data beside old models or a dvc.lock that matches neither.
    1. Stage: each changed output, then dvc.lock, is copied beside its destination
       (`<name>.oekaki-incoming`). The copying, the slow part, touches no output: an error or a
       kill here leaves the project as it was (a later bring-in removes the leftovers).
    2. Swap: each destination is renamed aside (`<name>.oekaki-old`) and its staged copy renamed
       in, dvc.lock last. An error in a rename renames back every swap done, so the project is again
       as it was, and the error is raised.
    3. The old entries set aside are deleted.
    Only a hard stop (SIGKILL, power loss) inside step 2, a handful of renames, can leave a mix; dvc.lock
    is then still the old one, so `dvc status` names the outputs that differ and `dvc repro` rebuilds them.
    Returns the outputs brought in (paths relative to the project).
    """
    changed = []
    for stage in stages:
        for rel in fingerprint.output_paths(work, stage):
            src, dst = work.root / rel, project.root / rel
            if src.exists() and fingerprint.path_digest(src) != fingerprint.path_digest(dst):
                changed.append(rel)
    moves = [(work.root / rel, project.root / rel) for rel in changed] + [(work.root / "dvc.lock", project.root / "dvc.lock")]
    try:
        for src, dst in moves:
            _stage(src, dst)
        _swap_in([dst for _, dst in moves])
    except IncompleteRollback:
        raise  # the set-aside old entries are the only copy left: kept
    except BaseException:
        _remove_siblings([dst for _, dst in moves])
        raise
    _remove_siblings([dst for _, dst in moves])
    log.info("brought %d changed outputs and dvc.lock into %s", len(changed), project.root)
    return changed


def bring_experiment_home(work: Paths, project: Paths) -> None:
    """Fetch the DVC experiment refs saved in the copy into the project's git repository."""
    dvc_ops.git(project, "fetch", "--quiet", str(work.root), "+refs/exps/*:refs/exps/*")
