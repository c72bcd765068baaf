"""The code each dvc.yaml stage runs, read from the imports: its `deps` are generated, never kept by hand.

A stage's cache key (DVC's, and so the Prefect task's) covers exactly its `deps`. This module walks
the project's imports with `ast` (module-level and function-level alike) from the stage's own
module, `oekaki/stages/<stage>/stage.py`, and lists the transitive closure of project files it
reaches, the packages' `__init__.py` files Python runs on the way, the data files of the
stage's folder (the report's templates) and the data files a reached module reads (DATA_FILES:
the word catalogs). `python -m oekaki.pipeline.code_deps --write` rewrites the code part of each
stage's `deps` (other deps and comments stay); without `--write` it checks, failing with the stage
and the file. `make run` writes, `make test` checks.

Exempt, by design: the machinery that runs a stage without computing its numbers
(EXEMPT_PACKAGES below). It is reached only from the command line (`python -m oekaki stage`),
never from a stage module, so it is outside every closure; a test keeps it that way.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

PROJECT_PACKAGES = ("oekaki", "flows", "tasks")
STAGE_PACKAGE = "oekaki.stages"
# Runs stages, records them, never changes a number they compute: the runner (it hands what a stage
# returns to oekaki.core.contract.write_outputs, which every stage imports, and writes the provenance
# record), DVC and MLflow bookkeeping (the registry the gate reads included: its cached scores carry
# the key of what computed them, oekaki.eval_key.* tags), the lock, isolation, servers, alerts; and
# the draw-it-yourself app (oekaki/app), which only loads trained models.
EXEMPT_PACKAGES = ("oekaki.pipeline", "oekaki.__main__", "oekaki.app", "flows", "tasks")
CODE_PREFIX = "oekaki/"  # deps under this prefix are code deps, rewritten by --write
# A module that reads files of the project -> (their folder, a glob): a stage reaching the module depends on them too.
DATA_FILES = {"oekaki.core.locales": ("oekaki/locales", "*.yaml")}  # the word catalogs: they change pages and figures


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    out = {}
    for package in PROJECT_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules `name` imports anywhere in its file (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved and resolved != name:
                found.add(resolved)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Every project module -> the project modules it imports."""
    modules = module_files(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """`start` and everything it imports, transitively, with the parent packages Python imports on the way."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in graph]
        todo += sorted(graph.get(name, ()))
    return seen


def stage_code_deps(root: Path, stage: str, graph: dict[str, set[str]] | None = None) -> list[str]:
    """The files (relative, sorted) whose change can change what `stage` computes (`graph`: import_graph(root), if built)."""
    graph = import_graph(root) if graph is None else graph
    modules = module_files(root)
    start = f"{STAGE_PACKAGE}.{stage}.stage"
    if start not in modules:
        raise KeyError(f"stage {stage!r} has no module {start} ({root / 'oekaki' / 'stages' / stage / 'stage.py'})")
    reached = closure(graph, start)
    files = {modules[m].relative_to(root).as_posix() for m in reached}
    folder = root / "oekaki" / "stages" / stage
    files |= {p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    files |= {p.relative_to(root).as_posix() for m in reached if m in DATA_FILES for p in data_files(root, m)}
    return sorted(f for f in files if "__pycache__" not in f)


def data_files(root: Path, module: str) -> list[Path]:
    """The files `module` reads (DATA_FILES), as they are on disk now."""
    folder, pattern = DATA_FILES[module]
    return sorted(p for p in (root / folder).glob(pattern) if p.is_file())


def _dep_path(entry) -> str:
    return entry if isinstance(entry, str) else next(iter(entry))


@lru_cache(maxsize=1)
def _yaml():
    from ruamel.yaml import YAML  # DVC's own YAML library: keeps dvc.yaml's comments and order

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def planned(root: Path, stages: Iterable[str]) -> dict[str, list[str]]:
    """Each stage's code deps, from one walk of the imports (parsing every module once, not once per stage)."""
    graph = import_graph(root)
    return {s: stage_code_deps(root, s, graph) for s in stages}


def differences(root: Path) -> list[str]:
    """One line per stage whose code deps in dvc.yaml differ from its imports (empty: up to date)."""
    doc = _yaml().load((root / "dvc.yaml").read_text(encoding="utf-8"))
    problems = []
    wanted_by_stage = planned(root, doc["stages"])
    for stage, spec in doc["stages"].items():
        listed = {_dep_path(d) for d in spec.get("deps", []) if _dep_path(d).startswith(CODE_PREFIX)}
        wanted = set(wanted_by_stage[stage])
        for f in sorted(wanted - listed):
            problems.append(f"dvc.yaml: stage {stage!r} runs {f} but does not list it in deps")
        for f in sorted(listed - wanted):
            problems.append(f"dvc.yaml: stage {stage!r} lists {f} in deps but does not import it")
    return problems


CHECKED = Path(".dvc") / "tmp" / "oekaki-code-deps.sha256"  # the inputs' digest when dvc.yaml last matched them


def inputs_digest(root: Path) -> str:
    """SHA-256 of everything the code deps are computed from: dvc.yaml, every project module's text,
    and the names of the stages' other files and of the DATA_FILES. Equal digests: the same deps, without parsing anything."""
    h = hashlib.sha256((root / "dvc.yaml").read_bytes())
    for name, path in sorted(module_files(root).items()):
        h.update(f"\0{name}\0".encode())
        h.update(path.read_bytes())
    for path in sorted((root / "oekaki" / "stages").rglob("*")):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            h.update(f"\0{path.relative_to(root).as_posix()}".encode())
    for module in sorted(DATA_FILES):
        for path in data_files(root, module):
            h.update(f"\0{path.relative_to(root).as_posix()}".encode())
    return h.hexdigest()


def write(root: Path) -> list[str]:
    """Rewrite the code deps of every stage of dvc.yaml from the imports; returns what changed.

    Skips the walk when nothing it reads changed since dvc.yaml last matched (CHECKED): the walk and
    the round-trip parse of dvc.yaml were 0.3 s of every no-op `make run` (docs/speed.md).
    """
    from oekaki.core.io import atomic_path

    path, checked = root / "dvc.yaml", root / CHECKED
    digest = inputs_digest(root)
    if checked.is_file() and checked.read_text(encoding="ascii").strip() == digest:
        return []
    changes = differences(root)
    if not changes:
        _remember(checked, digest)
        return []
    doc = _yaml().load(path.read_text(encoding="utf-8"))
    wanted_by_stage = planned(root, doc["stages"])
    for stage, spec in doc["stages"].items():
        deps = spec.get("deps")
        code = wanted_by_stage[stage]
        if deps is None:
            spec["deps"] = code
            continue
        for i in reversed(range(len(deps))):  # in place, so the comments on data deps stay
            if _dep_path(deps[i]).startswith(CODE_PREFIX):
                del deps[i]
        deps.extend(code)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        _yaml().dump(doc, f)
    _remember(checked, inputs_digest(root))
    return changes


def _remember(checked: Path, digest: str) -> None:
    from oekaki.core.io import atomic_path

    if not checked.parent.parent.is_dir():  # no .dvc folder (not a DVC project): nothing to remember it in
        return
    with atomic_path(checked) as tmp:
        tmp.write_text(digest + "\n", encoding="ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oekaki.pipeline.code_deps", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps (default: check only)")
    args = parser.parse_args(argv)
    from oekaki.core.paths import PROJECT_ROOT as root

    if args.write:
        for line in write(root):
            print(f"updated: {line}")
        return 0
    problems = differences(root)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print("fix: python -m oekaki.pipeline.code_deps --write (make run does it)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
