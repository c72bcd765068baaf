"""The README and docs/ stay short, current and true to the tree.

- README.md at most 200 lines; docs/speed.md and docs/painters.md at most 250 (issue 35).
- The README's scoreboard block is what `oekaki/pipeline/readme.py` would write from
  reports/summary.md now (no number typed by hand), and the writer behaves (atomic, only on change).
- Every repository path named in README.md, docs/*.md and the comments and docstrings of the project's
  .py, .yaml and Makefile files exists, unless it is a generated output (a dvc.yaml output, or a path
  git ignores); every `make <target>` in README/docs is a Makefile target; every `--flag` quoted after
  `python -m <module>` or `python <script>.py` appears in that module's source.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import re
import subprocess
import tokenize
from functools import cache
from pathlib import Path

import pytest
import yaml

from oekaki.core.paths import PROJECT_ROOT
from oekaki.pipeline import readme

ROOTS = ("oekaki", "docs", "bench", "tests", "flows", "tasks", "scripts", "reports", "metrics")
# a path under one of ROOTS that ends in a file extension or a slash; `<name>` and `*` are placeholders.
# Not preceded by a word character, `/`, `.` or `:` (URLs, other repositories' paths, `../docs`, `git show <commit>:path`).
PATH_RE = re.compile(r"(?<![\w/.:<>-])((?:" + "|".join(ROOTS) + r")/[\w./<>*-]*(?:\.[A-Za-z0-9]+|/))")
MAX_LINES = {"README.md": 200, "docs/speed.md": 250, "docs/painters.md": 250}


def project_files(*patterns: str) -> list[Path]:
    """The repository's tracked and unignored files matching git pathspecs (what a clone holds)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *patterns],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return sorted({PROJECT_ROOT / p.decode() for p in out if p and (PROJECT_ROOT / p.decode()).is_file()})


def markdown_files() -> list[Path]:
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


# --- length and the generated block ------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(MAX_LINES))
def test_page_is_short(rel: str) -> None:
    lines = (PROJECT_ROOT / rel).read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES[rel], f"{rel}: {lines} lines, at most {MAX_LINES[rel]} (depth goes to docs/, logs to git history)"


def test_readme_scoreboard_block_is_current() -> None:
    current, wanted = readme.rendered_readme(PROJECT_ROOT)
    assert current == wanted, "README.md's scoreboard block is stale: run `python -m oekaki.pipeline.readme` (or `make run`)"


SUMMARY = """# A title: summary

Data: mnist, 10 train / 5 test images.

- CNN test accuracy: 90.00%

## Scoreboard (5 samples per seed)

| generator | FID |
|---|---|
| VAE | 1.00 |

## Promotion gate (candidate vs champion, validation split)

| registered model | decision |
|---|---|
| vae | promote |
"""


def a_project(tmp_path: Path, summary: str | None = SUMMARY) -> Path:
    (tmp_path / "reports").mkdir()
    if summary is not None:
        (tmp_path / "reports" / "summary.md").write_text(summary, encoding="utf-8")
    (tmp_path / "README.md").write_text(f"# Project\n\nbefore\n\n{readme.BEGIN}\nold numbers\n{readme.END}\n\nafter\n", encoding="utf-8")
    return tmp_path


def test_block_writer_copies_the_summary_once(tmp_path: Path) -> None:
    root = a_project(tmp_path)
    assert readme.main(["--check", "--root", str(root)]) == 1  # stale: the CLI's check mode says so
    assert readme.write_scoreboard_block(root) is True
    text = (root / "README.md").read_text(encoding="utf-8")
    assert "old numbers" not in text and "| VAE | 1.00 |" in text and "CNN test accuracy: 90.00%" in text
    assert "**Scoreboard (5 samples per seed)**" in text  # the summary's section heading, not a README heading
    assert "A title" not in text and "Promotion gate" not in text  # its title and the gate's table stay in the summary
    assert text.startswith("# Project\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    mtime = (root / "README.md").stat().st_mtime_ns
    assert readme.write_scoreboard_block(root) is False  # current: not rewritten
    assert (root / "README.md").stat().st_mtime_ns == mtime
    assert readme.main(["--check", "--root", str(root)]) == 0
    assert not list(root.glob(".README.md.*"))  # the atomic write left no temporary file


def test_block_writer_refuses_a_readme_without_markers(tmp_path: Path) -> None:
    root = a_project(tmp_path)
    (root / "README.md").write_text(f"# Project\n{readme.END}\n{readme.BEGIN}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"README\.md: needs exactly one"):
        readme.write_scoreboard_block(root)
    assert readme.main(["--root", str(root)]) == 2


def test_refresh_leaves_the_readme_alone_without_a_summary(tmp_path: Path) -> None:
    root = a_project(tmp_path, summary=None)
    before = (root / "README.md").read_text(encoding="utf-8")
    readme.refresh(root)  # a repro that stopped before the report stage
    assert (root / "README.md").read_text(encoding="utf-8") == before
    with pytest.raises(FileNotFoundError, match=r"summary\.md: missing"):
        readme.write_scoreboard_block(root)


# --- paths named in docs and comments ----------------------------------------------------------


def comment_text(path: Path) -> str:
    """The comments and docstrings of a Python file; the comment lines of a YAML file or Makefile."""
    source = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return "\n".join(line.split("#", 1)[1] for line in source.splitlines() if "#" in line)
    parts = [tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and (doc := ast.get_docstring(node)):
            parts.append(doc)
    return "\n".join(parts)


def mentioned_paths(text: str) -> set[str]:
    return {m.rstrip(".") for m in PATH_RE.findall(text)}


@cache
def dvc_outputs() -> tuple[str, ...]:
    """Every output, metric and plot path dvc.yaml declares (generated by a run, so absent in a clone)."""
    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    found = []
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key, []):
                found.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return tuple(p.rstrip("/") for p in found)


def git_ignores(rel: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", "--no-index", rel], cwd=PROJECT_ROOT).returncode == 0


def output_covers(out: str, glob: str) -> bool:
    """A declared output is the glob's path, or a folder it lies in (compared part by part: `*` stays in one folder)."""
    out_parts, parts = out.split("/"), glob.split("/")
    return len(out_parts) <= len(parts) and all(fnmatch.fnmatchcase(o, g) for o, g in zip(out_parts, parts, strict=False))


def path_is_real(rel: str) -> bool:
    """A mentioned path exists, or names what a run generates (a dvc.yaml output or a git-ignored path)."""
    pattern = re.sub(r"<[^<>]*>", "*", rel)
    if "*" in pattern:
        glob = pattern.rstrip("/")
        if any(PROJECT_ROOT.glob(glob)):
            return True
        if any(output_covers(out, glob) for out in dvc_outputs()):
            return True
        if "<" in rel and "*" not in rel.split("<", 1)[0]:
            # a naming scheme (`bench/results/<script>-<commit>.json`): the folder its files go to must be there
            folder = rel.split("<", 1)[0].rsplit("/", 1)[0]
            if (PROJECT_ROOT / folder).is_dir() or path_is_real(folder + "/"):
                return True
        sample = pattern.replace("*", "x")
    else:
        if (PROJECT_ROOT / rel).exists():
            return True
        sample = rel
    sample = sample.rstrip("/")
    if any(sample == out or sample.startswith(out + "/") for out in dvc_outputs()):
        return True
    return git_ignores(sample) or git_ignores(sample + "/x")


def path_sources() -> list[Path]:
    code = [p for p in project_files("*.py", "*.yaml", "*.yml", "Makefile") if p.name != "dvc.lock"]
    return markdown_files() + code


def test_paths_mentioned_in_docs_and_comments_exist() -> None:
    missing = []
    for path in path_sources():
        text = path.read_text(encoding="utf-8") if path.suffix == ".md" else comment_text(path)
        missing += [f"{path.relative_to(PROJECT_ROOT)}: {rel}" for rel in sorted(mentioned_paths(text)) if not path_is_real(rel)]
    assert not missing, "paths named in docs or comments that do not exist:\n" + "\n".join(missing)


def test_path_check_catches_a_stale_name() -> None:
    """The check itself can fail: a renamed module, a removed page, an output dvc.yaml does not declare."""
    found = mentioned_paths("see oekaki/core/nothing_here.py, docs/gone.md and (reports/nowhere.txt).")
    assert found == {"oekaki/core/nothing_here.py", "docs/gone.md", "reports/nowhere.txt"}
    assert not any(path_is_real(rel) for rel in found)
    assert path_is_real("reports/index.html") and path_is_real("reports/figures/<stage>/") and path_is_real("oekaki/core/")
    assert path_is_real("reports/figures/<stage>/<name>.png") and not path_is_real("reports/nothing/<stage>/<name>.png")
    assert path_is_real("oekaki/stages/<stage>/stage.py") and not path_is_real("oekaki/nowhere/<stage>.py")
    assert not mentioned_paths("https://example.org/docs/page.html, ../docs/speed.md, oekaki/core, git show 615be87:bench/scene.py")


# --- make targets and flags quoted in README/docs ----------------------------------------------

CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def quoted_commands() -> list[tuple[str, str]]:
    """(page, command line) for each inline code span and each line of a fenced block in README/docs."""
    out = []
    for page in markdown_files():
        text = page.read_text(encoding="utf-8")
        rel = str(page.relative_to(PROJECT_ROOT))
        for block in FENCE.findall(text):
            out += [(rel, line.split(" #", 1)[0].strip()) for line in block.splitlines()[1:-1]]
        out += [(rel, span.strip()) for span in CODE_SPAN.findall(FENCE.sub("", text))]
    return out


def makefile_targets() -> set[str]:
    text = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def test_make_targets_quoted_exist() -> None:
    targets = makefile_targets()
    wrong = sorted({f"{page}: make {m}" for page, cmd in quoted_commands() for m in re.findall(r"(?:^|&&\s*|;\s*)make ([a-z][\w-]*)", cmd)})
    wrong = [w for w in wrong if w.rsplit(" ", 1)[1] not in targets]
    assert not wrong, f"make targets quoted in README/docs that the Makefile lacks ({sorted(targets)}):\n" + "\n".join(wrong)


def module_source(cmd: str) -> tuple[list[Path], str] | None:
    """The files of what a quoted `python -m mod ...` or `python path.py ...` runs, and the rest of the line."""
    if m := re.search(r"python3? -m ([\w.]+)(.*)", cmd):
        base = PROJECT_ROOT / m[1].replace(".", "/")
        if base.with_suffix(".py").is_file():
            return [base.with_suffix(".py")], m[2]
        if (base / "__main__.py").is_file():  # a package: its parser may live in any of its modules
            return sorted(base.rglob("*.py")), m[2]
        return None  # a third-party module (dvc, pytest, ...)
    if (m := re.search(r"python3? ((?:bench|flows|scripts|tests)/[\w/]+\.py)(.*)", cmd)) and (PROJECT_ROOT / m[1]).is_file():
        return [PROJECT_ROOT / m[1]], m[2]
    return None


def test_flags_quoted_exist() -> None:
    wrong = []
    for page, cmd in quoted_commands():
        if not (found := module_source(cmd)):
            continue
        sources, rest = found
        if sources[0].relative_to(PROJECT_ROOT).as_posix() == "oekaki/__main__.py" and rest.split()[:1] == ["repro"]:
            continue  # everything after `repro` is dvc repro's
        text = "".join(source.read_text(encoding="utf-8") for source in sources)
        flags = re.findall(r"(?<![\w-])--[a-z][\w-]*", rest)
        wrong += [f"{page}: {cmd}  ({flag} not defined there)" for flag in flags if f'"{flag}"' not in text]
    assert not wrong, "flags quoted in README/docs that the command does not define:\n" + "\n".join(wrong)


# --- links between the pages -------------------------------------------------------------------

LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors of a Markdown page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_links_between_pages_resolve() -> None:
    wrong = []
    for page in markdown_files():
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not path_is_real(dest.relative_to(PROJECT_ROOT).as_posix()):
                wrong.append(f"{page.relative_to(PROJECT_ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest):
                wrong.append(f"{page.relative_to(PROJECT_ROOT)}: {target} (no such heading)")
    assert not wrong, "links in README/docs that lead nowhere:\n" + "\n".join(wrong)


def test_heading_anchors_follow_github(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## The `make run` output: 60,000 images\n\n```\n# not a heading\n```\n", encoding="utf-8")
    assert heading_anchors(page) == {"title", "the-make-run-output-60000-images"}


def test_flag_check_reads_the_commands_source() -> None:
    sources, rest = module_source("python -m flows.sample --model gan --no-such-flag 1")
    text = "".join(source.read_text(encoding="utf-8") for source in sources)
    assert re.findall(r"(?<![\w-])--[a-z][\w-]*", rest) == ["--model", "--no-such-flag"]
    assert '"--model"' in text and '"--no-such-flag"' not in text
    assert module_source("python -m dvc repro --force") is None  # third-party commands are not checked


@pytest.mark.parametrize(("dvc_rc", "extra", "refreshed"), [(0, [], True), (1, [], False), (0, ["--dry"], False)])
def test_make_run_refreshes_the_block_after_dvc_repro_succeeds(tmp_path, monkeypatch, dvc_rc, extra, refreshed) -> None:
    """`python -m oekaki repro` (make run) rewrites the block once `dvc repro` succeeded, never after a failure or a dry run."""
    import shutil
    import subprocess as sp

    import oekaki.__main__ as cli
    from oekaki.core import paths as core_paths
    from oekaki.pipeline import code_deps

    root = a_project(tmp_path)
    shutil.copy2(PROJECT_ROOT / "params.yaml", root / "params.yaml")
    (root / "data").mkdir()
    (root / "data" / "prepared.npz").touch()  # outputs present: the warm host stays lazy (imports nothing)
    monkeypatch.setattr(core_paths, "project_paths", lambda root_=None: core_paths.Paths(root))
    monkeypatch.setattr(code_deps, "write", lambda root_: [])
    real_run, calls = sp.run, []

    def run(cmd, *args, **kwargs):
        if list(cmd[1:4]) == ["-m", "dvc", "repro"]:  # dvc repro itself is not what this test is about
            calls.append(cmd)
            return sp.CompletedProcess(cmd, dvc_rc)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(sp, "run", run)
    assert cli.main(["repro", *extra]) == dvc_rc
    assert len(calls) == 1
    text = (root / "README.md").read_text(encoding="utf-8")
    assert ("| VAE | 1.00 |" in text) is refreshed and ("old numbers" in text) is not refreshed
