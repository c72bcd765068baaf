"""The training pipeline as a Prefect flow, and its command line.

    python -m flows.pipeline                                   # whole pipeline, cached stages skipped
    python -m flows.pipeline --set gmm.n_artworks=500          # an override: recorded as a DVC experiment
    python -m flows.pipeline --stages gmm report               # a subset, with what it needs upstream
    python -m flows.pipeline --force                           # ignore caches, re-run everything

Each task's cache key is its stage's DVC fingerprint (oekaki/pipeline/fingerprint.py). A stage that
`dvc repro` already brought up to date is found in dvc.lock and its cache seeded, so it ends
Cached; a cached result whose outputs were deleted or altered is refused and the stage re-runs.
At the end the flow records its outputs with `dvc commit`, so `dvc repro` has nothing to do.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.results import get_result_store
from prefect.runtime import flow_run

from flows import secrets
from oekaki.core.config import Config, load_config, parse_override
from oekaki.core.errors import USER_ERRORS, ConfigError, ProjectBusy
from oekaki.core.io import write_text
from oekaki.core.paths import Paths, project_paths
from oekaki.pipeline import alerts, code_deps, dvc_ops, fingerprint, gate, isolation, runner
from oekaki.pipeline.lock import GLOBAL_LIMIT, project_lock
from oekaki.pipeline.tracking import Tracker
from tasks.stages import STAGE_TASKS, contributions, source


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


def alert_on_failure(flow, flow_run, state) -> None:
    """Prefect on_failure / on_crashed hook: POST the failure to OEKAKI_ALERT_WEBHOOK, if set."""
    alerts.notify(flow.name, flow_run, state)


@flow(name="training-pipeline", log_prints=True, on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def training_pipeline(
    stages: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    root: str | None = None,
) -> dict[str, str]:
    """Run the pipeline (or `stages` and their upstream) with caching; returns stage -> final state.

    One run per project at a time (Prefect's global concurrency limit `oekaki-pipeline` when
    the server has it, and the project lock). With `orchestration.isolate` the stages run in
    a copy and the outputs come in only on success; a run without overrides then applies the
    promotion gate's decision (the `champion` aliases).
    """
    logger = get_run_logger()
    for name, where in secrets.resolve().items():  # never from the deployment: flows/secrets.py
        logger.info("%s from the %s", name, where)
    project = project_paths(Path(root) if root else None)
    override_list = [dvc_ops.hydra_override(k, v) for k, v in (overrides or {}).items()]
    cfg = load_config(project.params, override_list)  # validate before anything is written
    o = cfg.orchestration
    wait_s = o.lock_wait_s
    what = f"Prefect flow run {flow_run.name}"
    try:
        with global_limit(wait_s), project_lock(project, what, wait_s):
            return run_locked(cfg, project, stages, override_list, force, logger)
    except ProjectBusy as exc:
        if o.on_busy == "skip":
            logger.warning("skipped: %s", exc)
            return {"skipped": str(exc)}
        raise


@contextlib.contextmanager
def global_limit(wait_s: float):
    """Prefect's global concurrency limit GLOBAL_LIMIT (created by `make serve`); a no-op where it does not exist."""
    from prefect.concurrency.sync import concurrency

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(concurrency(GLOBAL_LIMIT, occupy=1, timeout_seconds=max(wait_s, 1.0), strict=False))
        except TimeoutError as exc:
            raise ProjectBusy(f"Prefect concurrency limit {GLOBAL_LIMIT!r}: another pipeline run held it for {wait_s:g} s") from exc
        yield


def run_locked(cfg: Config, project: Paths, stages, override_list: list[str], force: bool, logger) -> dict[str, str]:
    run_id = str(flow_run.id)
    for line in code_deps.write(project.root):  # as `python -m oekaki repro`: the cache keys below cover the code each stage imports now
        logger.info("dvc.yaml updated: %s", line)
    order = runner.with_upstream(project, stages or runner.stage_names())
    if not cfg.orchestration.isolate:
        outcome = run_in_place(cfg, project, order, override_list, force, logger)
    else:
        with isolation.run_copy(project) as work:
            outcome = run_stages(cfg, work, order, override_list, force, logger)
            if override_list:
                name = save_experiment(work, override_list)
                isolation.bring_experiment_home(work, project)
                logger.info("overrides recorded as DVC experiment %s (`dvc exp show`; `dvc exp apply %s` brings it in)", name, name)
            else:
                isolation.bring_in(work, project, order)
                if dvc_ops.push_if_remote(project):
                    logger.info("outputs pushed to the DVC remote")
    if not override_list and "promote" in order:  # the same function `python -m oekaki repro` (make run) calls
        moved = gate.apply_decision(project, run_id)
        logger.info("promotion gate: %s", ", ".join(moved) if moved else "champion unchanged")
    return outcome


def run_stages(cfg: Config, paths: Paths, order: list[str], override_list: list[str], force: bool, logger) -> dict[str, str]:
    """Every stage of `order` in `paths` (the project or its isolated copy), then `dvc commit` there."""
    run_id = str(flow_run.id)
    if override_list:
        dvc_ops.apply_overrides(paths, override_list)  # `dvc exp run -S` semantics
        cfg = load_config(paths.params)
    # No MLflow parent up front: the first stage that really runs creates it (found by the
    # pipeline-run tag), so a fully cached run never imports MLflow.
    home = str(paths.home) if paths.home else None
    ctx = runner.RunContext(run_id, run_id, tuple(override_list), {"entry_point": "prefect"}, home)
    try:
        if cfg.orchestration.task_runner == "sequential":
            outcome = {stage: run_one(stage, cfg, paths, ctx, force, logger) for stage in order}
        else:
            outcome = run_in_waves(cfg, paths, ctx, order, force, logger)
        dvc_ops.commit(paths, order)
    except BaseException:
        tracker = Tracker(paths)
        tracker.finish(tracker.pipeline_run(run_id, {"entry_point": "prefect", "prefect_flow_run_id": run_id}), "FAILED")
        raise
    return outcome  # each logged stage already marked the parent FINISHED


def run_in_place(cfg: Config, paths: Paths, order: list[str], override_list: list[str], force: bool, logger) -> dict[str, str]:
    """orchestration.isolate = false: the stages write into the project itself (a failure can leave it half-updated)."""
    original_params = paths.params.read_text(encoding="utf-8")
    try:
        outcome = run_stages(cfg, paths, order, override_list, force, logger)
        if override_list:
            save_experiment(paths, override_list)
        elif dvc_ops.push_if_remote(paths):  # as after an isolated run: any clone can pull what this run trained on
            logger.info("outputs pushed to the DVC remote")
    except BaseException:
        if override_list:  # a failed experiment must not leave params.yaml disagreeing with dvc.lock
            write_text(paths.params, original_params)
        raise
    return outcome


def save_experiment(paths: Paths, override_list: list[str]) -> str:
    """Save `paths` as the DVC experiment of this flow run (`prefect-<flow run name>`); returns its name."""
    name = f"prefect-{flow_run.name}"
    dvc_ops.save_experiment(paths, name, "overrides: " + " ".join(override_list))
    return name


def stage_call(stage: str, cfg: Config, paths: Paths, ctx: runner.RunContext, force: bool):
    """(task with this run's cache options, its parameters, why it will or will not be cached)."""
    if stage == "source":
        return source, {"cfg": cfg, "root": str(paths.root)}, "always checked"
    if stage == "contributions":  # reads the project's store (paths.home), also from an isolated copy
        return contributions, {"cfg": cfg, "root": str(paths.root), "home": ctx.home}, "always checked"
    key = fingerprint.stage_key(paths, stage, cfg)
    refresh, reason = cache_decision(paths, stage, key, force)
    task = STAGE_TASKS[stage].with_options(cache_key_fn=lambda *_, k=key: k, refresh_cache=refresh)
    return task, {"cfg": cfg, "root": str(paths.root), "ctx": ctx}, reason


def finish(stage: str, state, seconds: float, reason: str, logger) -> str:
    logger.info("stage %-8s %-9s %6.1f s  (%s)", stage, state.name, seconds, reason)
    state.result()  # raises the stage's own error if it failed
    return state.name


def run_one(stage: str, cfg: Config, paths: Paths, ctx: runner.RunContext, force: bool, logger) -> str:
    t0 = time.perf_counter()
    task, params, reason = stage_call(stage, cfg, paths, ctx, force)
    return finish(stage, task(**params, return_state=True), time.perf_counter() - t0, reason, logger)


def waves(paths: Paths, order: list[str]) -> list[list[str]]:
    """`order` grouped into waves whose stages need only earlier waves (vae and gan share one)."""
    done: set[str] = set()
    out = []
    while len(done) < len(order):
        wave = [s for s in order if s not in done and set(fingerprint.upstream_stages(paths, s)) & set(order) <= done]
        out.append(wave)
        done |= set(wave)
    return out


def make_task_runner(o):
    """orchestration.task_runner -> a Prefect task runner that runs independent stages in parallel processes."""
    try:
        if o.task_runner == "dask":
            from prefect_dask import DaskTaskRunner

            kwargs = {"n_workers": o.workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
            return DaskTaskRunner(cluster_kwargs=kwargs)
        from prefect_ray import RayTaskRunner

        return RayTaskRunner(init_kwargs={"num_cpus": o.workers})
    except ImportError as exc:
        raise ConfigError(
            f"orchestration.task_runner = {o.task_runner!r} needs the package prefect-{o.task_runner}: "
            f"pip install prefect-{o.task_runner} (or set orchestration.task_runner: sequential)"
        ) from exc


def run_in_waves(cfg: Config, paths: Paths, ctx: runner.RunContext, order: list[str], force: bool, logger) -> dict[str, str]:
    """Each wave's stages submitted at once to a Dask (or Ray) task runner, each in its own worker process."""
    outcome: dict[str, str] = {}
    with make_task_runner(cfg.orchestration) as task_runner:
        for wave in waves(paths, order):
            t0 = time.perf_counter()
            submitted = {}
            for stage in wave:
                task, params, reason = stage_call(stage, cfg, paths, ctx, force)
                submitted[stage] = (task_runner.submit(task, parameters=params), reason)
            for stage, (future, reason) in submitted.items():
                future.wait()
                outcome[stage] = finish(stage, future.state, time.perf_counter() - t0, reason, logger)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.pipeline", description="Run the oekaki pipeline as a Prefect flow.")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a param, e.g. gmm.n_artworks=500"
    )
    parser.add_argument("--stages", nargs="+", choices=runner.stage_names(), help="run only these stages (and what they need)")
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
    try:
        outcome = training_pipeline(stages=args.stages, overrides=overrides, force=args.force)
    except USER_ERRORS as exc:  # the flow run is Failed in Prefect; here one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "skipped" in outcome:
        print(f"skipped: {outcome['skipped']}")
        return 0
    print("stages: " + ", ".join(f"{s}={state}" for s, state in outcome.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
