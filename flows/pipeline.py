"""The training pipeline as a Prefect flow, and its command line.

    python -m flows.pipeline                                   # whole pipeline, cached stages skipped
    python -m flows.pipeline --set gmm.n_artworks=500          # an override: recorded as a DVC experiment
    python -m flows.pipeline --stages gmm report               # a subset, with what it needs upstream
    python -m flows.pipeline --force                           # ignore caches, re-run everything

Each task's cache key is its stage's DVC fingerprint (oekaki/fingerprint.py). A stage that
`dvc repro` already brought up to date is found in dvc.lock and its cache seeded, so it ends
Cached; a cached result whose outputs were deleted or altered is refused and the stage re-runs.
At the end the flow records its outputs with `dvc commit`, so `dvc repro` has nothing to do.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.results import get_result_store
from prefect.runtime import flow_run

from oekaki import dvc_ops, fingerprint, runner
from oekaki.config import Config, ConfigError, load_config, parse_override
from oekaki.io import write_text
from oekaki.paths import Paths, project_paths
from oekaki.tracking import Tracker
from tasks.cnn import cnn
from tasks.download import download
from tasks.evaluate import evaluate
from tasks.gan import gan
from tasks.gmm import gmm
from tasks.report import report
from tasks.source import source
from tasks.vae import vae

STAGE_TASKS = {"download": download, "gmm": gmm, "cnn": cnn, "vae": vae, "gan": gan, "evaluate": evaluate, "report": report}


def cache_decision(paths: Paths, stage: str, key: str, force: bool) -> tuple[bool, str]:
    """(refresh_cache, reason) for one stage, checked against the files on disk."""
    if force:
        return True, "forced"
    store = get_result_store().update_for_task(STAGE_TASKS[stage])
    outs_now = fingerprint.outs_digest(paths, stage)
    if store.exists(key):
        cached = store.read(key).result
        if cached.get("outs") == outs_now:
            return False, "cached result matches the output files"
        return True, "output files deleted or altered since the cached run"
    if None not in outs_now.values() and dvc_ops.stage_up_to_date(paths, stage):
        store.write({"stage": stage, "outs": outs_now, "seeded_from": "dvc.lock"}, key=key)
        return False, "up to date in dvc.lock (cache seeded from it)"
    return False, "no cached result"


@flow(name="training-pipeline", log_prints=True)
def training_pipeline(
    stages: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    root: str | None = None,
) -> dict[str, str]:
    """Run the pipeline (or `stages` and their upstream) with caching; returns stage -> final state."""
    logger = get_run_logger()
    paths = project_paths(Path(root) if root else None)
    override_list = [dvc_ops.hydra_override(k, v) for k, v in (overrides or {}).items()]
    cfg = load_config(paths.params, override_list)  # validate before anything is written
    run_id = str(flow_run.id)
    original_params = paths.params.read_text(encoding="utf-8")
    if override_list:
        dvc_ops.apply_overrides(paths, override_list)  # `dvc exp run -S` semantics
    # No MLflow parent up front: the first stage that really runs creates it (found by the
    # pipeline-run tag), so a fully cached run never imports MLflow.
    ctx = runner.RunContext(run_id, run_id, tuple(override_list), {"entry_point": "prefect"})
    order = runner.with_upstream(paths, stages or runner.PIPELINE)
    outcome: dict[str, str] = {}
    try:
        for stage in order:
            outcome[stage] = run_one(stage, cfg, paths, ctx, force, logger)
        dvc_ops.commit(paths, order)
        if override_list:
            dvc_ops.save_experiment(paths, f"prefect-{flow_run.name}", "overrides: " + " ".join(override_list))
            logger.info("overrides recorded as DVC experiment prefect-%s (see `dvc exp show`)", flow_run.name)
    except BaseException:
        if override_list:  # a failed experiment must not leave params.yaml disagreeing with dvc.lock
            write_text(paths.params, original_params)
        tracker = Tracker(paths)
        tracker.finish(tracker.pipeline_run(run_id, {"entry_point": "prefect", "prefect_flow_run_id": run_id}), "FAILED")
        raise
    return outcome  # each logged stage already marked the parent FINISHED


def run_one(stage: str, cfg: Config, paths: Paths, ctx: runner.RunContext, force: bool, logger) -> str:
    t0 = time.perf_counter()
    if stage == "source":
        state = source(cfg, str(paths.root), return_state=True)
        reason = "always checked"
    else:
        key = fingerprint.stage_key(paths, stage, cfg)
        refresh, reason = cache_decision(paths, stage, key, force)
        task = STAGE_TASKS[stage].with_options(cache_key_fn=lambda *_, k=key: k, refresh_cache=refresh)
        state = task(cfg, str(paths.root), ctx, return_state=True)
    seconds = time.perf_counter() - t0
    logger.info("stage %-8s %-9s %6.1f s  (%s)", stage, state.name, seconds, reason)
    state.result()  # raises the stage's own error if it failed
    return state.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.pipeline", description="Run the oekaki pipeline as a Prefect flow.")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a param, e.g. gmm.n_artworks=500"
    )
    parser.add_argument("--stages", nargs="+", choices=runner.PIPELINE, help="run only these stages (and what they need)")
    parser.add_argument("--force", action="store_true", help="ignore cached results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    paths = project_paths()
    try:
        overrides = dict(parse_override(item) for item in args.overrides)
        load_config(paths.params, args.overrides)
    except ConfigError as exc:  # fail before Prefect starts or anything is written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from oekaki.__main__ import user_errors

    try:
        outcome = training_pipeline(stages=args.stages, overrides=overrides, force=args.force)
    except user_errors() as exc:  # the flow run is Failed in Prefect; here one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("stages: " + ", ".join(f"{s}={state}" for s, state in outcome.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
