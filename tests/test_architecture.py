"""The tree explains the architecture: layers import downward only, no cycles, no stage imports another.

Layers, highest first: flows and oekaki.app -> tasks and the CLI -> oekaki.pipeline -> oekaki.stages ->
oekaki.models, oekaki.data -> oekaki.core. Imports are read with `ast`, function-level ones
included (oekaki/pipeline/code_deps.py), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast

from oekaki.core.paths import PROJECT_ROOT, project_paths
from oekaki.pipeline import code_deps, fingerprint

GRAPH = code_deps.import_graph(PROJECT_ROOT)
FILES = code_deps.module_files(PROJECT_ROOT)
STAGES = fingerprint.stage_names(project_paths())

LAYERS = [  # (module prefix, rank): a module may import its own rank or lower
    ("flows", 5),
    ("oekaki.app", 5),  # the draw-it-yourself app: at the flows level (registry through oekaki.pipeline)
    ("tasks", 4),
    ("oekaki.__main__", 4),
    ("oekaki.contribute", 4),  # `python -m oekaki contribute`: the CLI's own module, beside oekaki.__main__
    ("oekaki.pipeline", 3),
    ("oekaki.stages", 2),
    ("oekaki.models", 1),
    ("oekaki.data", 1),
    ("oekaki.figures", 1),  # drawing the report's figures from the stages' figure data: imports core only
    ("oekaki.core", 0),
    ("oekaki", 0),  # the package's own __init__
]


def rank(module: str) -> int:
    return next(r for prefix, r in LAYERS if module == prefix or module.startswith(prefix + "."))


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["oekaki", "stages"] else None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, colours)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in colour and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_walk_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "oekaki"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from oekaki import b\n")
    (pkg / "b.py").write_text("from oekaki.a import f\n")
    assert find_cycle(code_deps.import_graph(tmp_path)) == ["oekaki.a", "oekaki.b", "oekaki.a"]


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers_import_downward_only():
    bad = [f"{m} (layer {rank(m)}) imports {d} (layer {rank(d)})" for m, deps in GRAPH.items() for d in deps if rank(d) > rank(m)]
    assert not bad, "\n".join(bad)


def test_no_stage_imports_another_stage():
    bad = [f"{m} imports {d}" for m, deps in GRAPH.items() for d in deps if stage_of(m) and stage_of(d) and stage_of(d) != stage_of(m)]
    assert not bad, "\n".join(bad)


def test_stage_code_never_reaches_the_pipeline_machinery():
    """What code_deps exempts from the cache keys must be outside every stage's closure."""
    for stage in STAGES:
        reached = code_deps.closure(GRAPH, f"oekaki.stages.{stage}.stage")
        leaked = sorted(m for m in reached if any(m == p or m.startswith(p + ".") for p in code_deps.EXEMPT_PACKAGES))
        assert not leaked, f"stage {stage!r} imports exempt machinery: {leaked}"


def test_the_code_that_writes_a_stages_outputs_is_in_its_closure():
    """The runner is exempt, so the code shaping metrics/<stage>.json and the plots lives in a module every stage imports."""
    import inspect

    from oekaki.pipeline import runner

    assert "write_json(paths.metrics" not in inspect.getsource(runner) and "plot_rows" not in inspect.getsource(runner)
    for stage in STAGES:
        if stage not in runner.CHECK_STAGES:  # source and contributions: no metrics, no MLflow run
            assert "oekaki.core.contract" in code_deps.closure(GRAPH, f"oekaki.stages.{stage}.stage"), stage


def test_every_dvc_stage_is_one_folder_of_the_stages_package():
    for stage in STAGES:
        path = PROJECT_ROOT / "oekaki" / "stages" / stage / "stage.py"
        assert path.is_file(), f"dvc.yaml stage {stage!r} has no {path}"
        names = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        from oekaki.pipeline.runner import CHECK_STAGES

        assert "run" in names or stage in CHECK_STAGES, f"{path} defines no run(cfg, paths, monitor)"


def test_dvc_yaml_code_deps_match_the_imports():
    problems = code_deps.differences(PROJECT_ROOT)
    assert not problems, "\n".join(problems) + "\nfix: python -m oekaki.pipeline.code_deps --write"


def test_no_module_over_400_lines():
    long = {m: n for m, p in FILES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
