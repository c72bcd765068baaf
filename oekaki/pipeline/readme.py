"""The README's scoreboard block, copied from the generated reports/summary.md.

No number in README.md is typed by hand: `python -m oekaki repro` (`make run`) rewrites the lines
between `BEGIN` and `END` from the summary the report stage wrote, and tests/test_docs.py fails
when the block differs from what this module would write now.

`python -m oekaki.pipeline.readme --check` exits 1 when the block is stale; without `--check` it
rewrites the block (exit 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oekaki.core.paths import PROJECT_ROOT, project_paths

BEGIN = "<!-- scoreboard:begin -->"
END = "<!-- scoreboard:end -->"
NOTE = "<!-- written by `make run` from reports/summary.md (oekaki/pipeline/readme.py): edit that, not this block -->"
STOP_SECTION = "## Promotion gate"  # the gate's table stays in the summary and the report: the README shows the painters


def scoreboard_block(summary: str) -> str:
    """The README's block for a summary.md text: its data line, key numbers and scoreboard table.

    The summary's title is dropped (the README has its own), its `## ` headings become bold lines (the
    block sits inside the README's own section) and everything from the promotion gate on is left out.
    """
    lines = summary.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body: list[str] = []
    for line in lines:
        if line.startswith(STOP_SECTION):
            break
        body.append(f"**{line[3:].strip()}**" if line.startswith("## ") else line)
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return "\n".join([BEGIN, NOTE, "", *body, "", END])


def _split(readme: str, readme_path: Path) -> tuple[str, str]:
    """The README's text before the block and after it; a clear error when the markers are not there once each."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(f"{readme_path}: needs exactly one {BEGIN} line followed by one {END} line (the scoreboard block)")
    head, rest = readme.split(BEGIN, 1)
    return head, rest.split(END, 1)[1]


def rendered_readme(root: Path) -> tuple[str, str]:
    """(README.md as it is, README.md with its block rebuilt from reports/summary.md) under `root`."""
    paths = project_paths(root)
    readme_path, summary_path = root / "README.md", paths.report_summary
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path}: missing; `make run` writes it (the report stage)")
    readme = readme_path.read_text(encoding="utf-8")
    head, tail = _split(readme, readme_path)
    return readme, head + scoreboard_block(summary_path.read_text(encoding="utf-8")) + tail


def write_scoreboard_block(root: Path) -> bool:
    """Rewrite README.md's scoreboard block from reports/summary.md; True when the file changed.

    Atomic, and only when the text differs, so a no-op `make run` leaves README.md untouched.
    """
    current, wanted = rendered_readme(root)
    if current == wanted:
        return False
    from oekaki.core.io import write_text  # here, not above: it imports numpy, which a no-op `make run` need not

    write_text(root / "README.md", wanted)
    return True


def refresh(root: Path) -> None:
    """After a successful `python -m oekaki repro`: bring README.md's block up to date, never failing the run.

    A repro that has not reached the report stage yet (no reports/summary.md) leaves the README alone; a README
    without the markers (a fork that dropped them) gets a warning, since the pipeline's outputs are fine.
    """
    if not project_paths(root).report_summary.is_file():
        return
    try:
        changed = write_scoreboard_block(root)
    except (OSError, ValueError) as exc:
        print(f"warning: README.md's scoreboard block not updated: {exc}", file=sys.stderr)
        return
    if changed:
        print("updated: README.md (the scoreboard block, from reports/summary.md)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oekaki.pipeline.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md's block differs from reports/summary.md")
    parser.add_argument("--root", type=Path, default=None, help="the project folder (default: this checkout)")
    args = parser.parse_args(argv)
    root = args.root or PROJECT_ROOT
    try:
        if args.check:
            current, wanted = rendered_readme(root)
            if current != wanted:
                print(f"{root / 'README.md'}: the scoreboard block is stale; run `python -m oekaki.pipeline.readme`", file=sys.stderr)
                return 1
            return 0
        if write_scoreboard_block(root):
            print(f"updated: {root / 'README.md'} (scoreboard block)", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
