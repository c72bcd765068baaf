"""Command line of single stages, as `dvc.yaml` runs them: `python -m oekaki stage <name>`.

`python -m oekaki repro [dvc repro args]` is what `make run` calls: `dvc repro` holding the
project lock (oekaki/pipeline/lock.py) for its whole run; a bare `dvc repro` still takes it stage by stage.
After it succeeded, the promotion gate's decision moves the `champion` aliases, as after the Prefect flow.

Deliberately Prefect-free: each `dvc repro` stage is its own process, and starting a
Prefect server per stage would cost 8-17 s each (docs/speed.md).
Exit status: 0 on success, 2 on bad input (params, data, source), with one clear line.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    # imported here, not above: a stage command that hands its work to the stage host imports none of it
    from oekaki.core.config import load_config
    from oekaki.core.errors import USER_ERRORS
    from oekaki.core.paths import project_paths
    from oekaki.pipeline.lock import project_lock

    parser = argparse.ArgumentParser(prog="python -m oekaki", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("stage", help="run one pipeline stage (what dvc.yaml calls)")
    st.add_argument("name", help="a stage of dvc.yaml")
    sub.add_parser("check-config", help="validate params.yaml and exit")
    rp = sub.add_parser("repro", help="check params, regenerate dvc.yaml's code deps, then `dvc repro` under the project lock")
    rp.add_argument("dvc_args", nargs=argparse.REMAINDER, help="passed on to `dvc repro` (any of its options: --force, --dry, ...)")
    sub.add_parser("contribute", help="teach the judge the digits of an .npz file (its options: python -m oekaki contribute -h)")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["contribute"]:  # its own options and exit statuses: oekaki/contribute.py
        from oekaki.contribute import main as contribute

        return contribute(argv[1:])
    if argv[:1] == ["repro"]:  # everything after `repro` is dvc's, options included (REMAINDER stops at a leading option)
        args = argparse.Namespace(command="repro", dvc_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    paths = project_paths()
    try:
        cfg = load_config(paths.params)
        if args.command == "check-config":
            print(f"{paths.params}: ok")
            return 0
        wait_s = cfg.orchestration.lock_wait_s
        if args.command == "repro":
            from oekaki.pipeline import code_deps

            for line in code_deps.write(paths.root):  # dvc.yaml's code deps follow the imports
                print(f"updated: {line}", file=sys.stderr)
            from oekaki.pipeline import stage_host

            # a missing prepared-data file means `download` and what follows will run (unless only asked for a
            # dry run): the host imports at once
            eager = not paths.prepared.exists() and "--dry" not in args.dvc_args
            with project_lock(paths, "make run (dvc repro)", wait_s), stage_host.host(paths.root, eager=eager) as env:
                # the stages' commands hand their work to the stage host (oekaki/pipeline/stage_host.py)
                dvc = [sys.executable, "-m", "dvc", "repro", *args.dvc_args]
                rc = subprocess.run(dvc, cwd=paths.root, env={**os.environ, **env}).returncode
                if rc == 0 and "--dry" not in args.dvc_args:
                    apply_gate(paths)  # the champions move as the gate decided, as after the Prefect flow
                    from oekaki.pipeline import readme

                    readme.refresh(paths.root)  # README.md's scoreboard block follows reports/summary.md
                return rc
        from oekaki.pipeline import runner  # not on `repro`'s path: a no-op `make run` stays short

        if args.name not in (names := runner.stage_names()):
            parser.error(f"argument name: invalid choice: {args.name!r} (choose from {', '.join(names)})")
        with project_lock(paths, f"dvc repro, stage {args.name}", wait_s):
            if args.name == "source":
                runner.run_source(cfg, paths, mint_pipeline_run="OEKAKI_PIPELINE_RUN_ID" not in os.environ)
                return 0
            if args.name == "contributions":
                runner.run_contributions(cfg, paths)
                return 0
            ctx = runner.RunContext(
                pipeline_run_id=os.environ.get("OEKAKI_PIPELINE_RUN_ID") or runner.current_pipeline_run_id(paths),
                tags={"entry_point": "dvc"},
            )
            runner.run_stage(args.name, cfg, paths, ctx)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def apply_gate(paths) -> None:
    """After `dvc repro` succeeded: move `champion` as the promote stage decided (oekaki/pipeline/gate.py, the flow's function).

    Only a current decision is applied: promote up to date in dvc.lock (a repro of other targets can leave it stale).
    """
    if not paths.promote_decision.is_file():
        return
    import uuid

    from oekaki.core.io import read_json
    from oekaki.pipeline import dvc_ops, gate

    if gate.decision_applied(paths):  # a no-op repro: the decision was applied already (no DVC or MLflow import)
        return
    if not dvc_ops.stage_up_to_date(paths, "promote"):
        print("promotion gate: not applied, stage promote is not up to date (`dvc repro promote`)", file=sys.stderr)
        return
    run_id = read_json(paths.pipeline_run_file)["id"] if paths.pipeline_run_file.is_file() else uuid.uuid4().hex  # source's
    moved = gate.apply_decision(paths, run_id)
    print(f"promotion gate: {', '.join(moved) if moved else 'champion unchanged'}", file=sys.stderr)


def _stage_host_hand_off() -> int | None:
    """Under `python -m oekaki repro`: a stage command runs in the stage host (None: run it here).

    `source` and `contributions` always run here: they are the freshness checks of every repro, a no-op one
    included, and import no library worth sharing.
    """
    argv = sys.argv[1:]
    if len(argv) != 2 or argv[0] != "stage" or argv[1] in ("source", "contributions"):
        return None
    from oekaki.pipeline import stage_host

    return stage_host.hand_off(argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["stage-host"]:  # started by `repro` (oekaki/pipeline/stage_host.py host()): serve this CLI's main
        import contextlib
        from pathlib import Path

        from oekaki.pipeline import stage_host

        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C during its imports: the terminal has said it already
            stage_host.serve(Path(sys.argv[2]), Path(sys.argv[3]), main, eager=sys.argv[4:5] == ["--eager"])
        sys.exit(0)
    if (handed := _stage_host_hand_off()) is not None:
        sys.exit(handed)
    sys.exit(main())
