"""Run one stage the same way from `dvc repro` and from the Prefect flow.

The stage function computes; this module does the shared I/O around it: metrics and plot
files, the stage's provenance record, and its MLflow run. `dvc.yaml` commands
(`python -m oekaki stage <name>`) and the Prefect tasks both call `run_stage`, so the two
entry points write the same files for the same params and data.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import time
import uuid
import zipfile
from dataclasses import dataclass, field

from oekaki.core import provenance, timing
from oekaki.core.config import Config, flatten, section_params
from oekaki.core.constants import DATA_KEYS, NETWORK_PAINTERS  # DATA_KEYS: what TensorData.load reads and hashes
from oekaki.core.contract import stage_results, write_outputs
from oekaki.core.errors import MissingInputError
from oekaki.core.io import read_json, write_json
from oekaki.core.paths import Paths

log = logging.getLogger("oekaki.runner")

STAGE_PACKAGE = "oekaki.stages"  # stage `x` of dvc.yaml runs `oekaki.stages.x.stage.run(cfg, paths, monitor)`
# The stages that train a network (oekaki/models/loading.py's NETWORKS; a test keeps the two in
# step): their MLflow runs also record MLflow's system metrics, sampled every SYSTEM_METRICS_S.
TRAINING_STAGES = ("cnn", "vit", *NETWORK_PAINTERS, "autoencoder", "text_painter")
SYSTEM_METRICS_S = 10.0
# How a stage uses the prepared data, for its MLflow dataset input (mlflow.data.context); default "training".
DATA_CONTEXT = {"evaluate": "evaluation", "promote": "evaluation", "report": "report"}
SNAPSHOT_TAG = "oekaki.snapshot_digest"  # run tag: the contributions snapshot's digest (its dataset input's full digest)


def stage_names(paths: Paths | None = None) -> list[str]:
    """The pipeline's stages in dvc.yaml's order: the one list of stages (the CLIs, the flow and the tasks read it)."""
    from oekaki.core.paths import project_paths
    from oekaki.pipeline import fingerprint

    return fingerprint.stage_names(paths or project_paths())


@dataclass(frozen=True)
class RunContext:
    """Who is running the stage: ties its MLflow run to the right pipeline run."""

    pipeline_run_id: str
    prefect_flow_run_id: str | None = None
    overrides: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    home: str | None = None  # the project folder, when the stages run in an isolated copy of it


def with_upstream(paths: Paths, stages: list[str] | tuple[str, ...]) -> list[str]:
    """`stages` plus everything they need (per dvc.yaml's deps and outs), in pipeline order."""
    from oekaki.pipeline import fingerprint

    names = stage_names(paths)
    needed: set[str] = set()

    def visit(stage: str) -> None:
        if stage not in names:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(names)}")
        if stage not in needed:
            needed.add(stage)
            for up in fingerprint.upstream_stages(paths, stage):
                visit(up)

    for stage in stages:
        visit(stage)
    return [s for s in names if s in needed]


def run_source(cfg: Config, paths: Paths, mint_pipeline_run: bool) -> dict:
    """The freshness checks: fingerprint the data source into data/source.json (no torch import), and the
    registry's champions into models/promote/registry.json (oekaki/pipeline/gate.py).

    Each written only when it changed, so an unchanged source leaves `download` up to date, an
    unchanged registry `promote`.
    Under `dvc repro` (`mint_pipeline_run`) it also starts a new pipeline-run id that the
    following stage processes of the same repro share.
    """
    from oekaki.pipeline.gate import record_registry_state
    from oekaki.stages.source.stage import check

    fingerprint = check(cfg, paths)
    record_registry_state(paths)  # the registry's champions, which promote reads: dvc.yaml lists the file in its deps
    if mint_pipeline_run:
        write_json(paths.pipeline_run_file, {"id": uuid.uuid4().hex, "started": provenance.now_iso()})
    return fingerprint


def run_contributions(cfg: Config, paths: Paths) -> dict:
    """The store frozen into the contributions snapshot (oekaki/stages/contributions): no torch, no MLflow run."""
    from oekaki.stages.contributions.stage import take

    return take(cfg, paths)


# The stages that only check something outside DVC's view and run on every repro (`always_changed`), cheap, with
# no MLflow run: the flow calls them uncached, `python -m oekaki stage` directly.
CHECK_STAGES = ("contributions", "source")


def current_pipeline_run_id(paths: Paths) -> str:
    """The id minted by this `dvc repro`'s source stage (a fresh one if there is none)."""
    if paths.pipeline_run_file.is_file():
        return read_json(paths.pipeline_run_file)["id"]
    return uuid.uuid4().hex


def stage_params(cfg: Config, paths: Paths, stage: str) -> dict:
    """The params this stage depends on, per dvc.yaml, flattened ("cnn.lr": 0.005): what its MLflow run logs."""
    from oekaki.pipeline import fingerprint

    out = {}
    for key in fingerprint.dvc_stage(paths, stage).get("params", []):
        section, _, name = key.partition(".")
        out.update(flatten(cfg.section(section), section) if not name else {key: section_params(cfg, [key])[key]})
    return out


def check_inputs(stage: str, paths: Paths) -> None:
    """Fail early, naming the file and the stage that makes it, if an upstream output is missing."""
    from oekaki.pipeline import fingerprint

    deps = set(fingerprint.dep_paths(paths, stage))
    for upstream in fingerprint.upstream_stages(paths, stage):
        for rel in fingerprint.output_paths(paths, upstream):
            if rel in deps and not (paths.root / rel).exists():
                raise MissingInputError(
                    f"{rel} is missing: stage {stage!r} needs the output of stage {upstream!r}; "
                    f"run `dvc repro {stage}` or `python -m flows.pipeline --stages {stage}`"
                )


def data_input(stage: str, cfg: Config, paths: Paths) -> dict | None:
    """The prepared data `stage` reads (data/prepared.npz, when dvc.yaml lists it in its deps), for MLflow.

    Its SHA-256 over the arrays (`TensorData.sha256`, metrics/download.json's `sha256`), the
    file's MD5 (what dvc.lock records), the dataset's name and source (from metrics/download.json
    when it describes this very data, else from params), and the arrays' dtypes and shapes.
    None when the stage reads no prepared data, or when the file cannot be read (the stage
    itself then fails with its own message).
    """
    from oekaki.core.io import arrays_sha256
    from oekaki.pipeline import fingerprint

    rel = paths.prepared.relative_to(paths.root).as_posix()
    if rel not in fingerprint.dep_paths(paths, stage) or not paths.prepared.is_file():
        return None
    import numpy as np

    try:
        with np.load(paths.prepared, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in DATA_KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("%s: not recorded as the MLflow dataset of stage %s: %s", rel, stage, exc)
        return None
    sha = arrays_sha256(arrays)
    md5 = hashlib.md5(paths.prepared.read_bytes()).hexdigest()  # DVC's content hash, not a security use
    made = stage_results(paths, "download") if paths.metrics("download").is_file() else {}
    if made.get("sha256") != sha:
        made = {"dataset": cfg.data.dataset, "source": cfg.data.source}
    return {
        "name": str(made.get("dataset", cfg.data.dataset)),
        "source": str(made.get("source", cfg.data.source)),
        "path": rel,
        "sha256": sha,
        "md5": md5,
        "context": DATA_CONTEXT.get(stage, "training"),
        "arrays": {k: (str(a.dtype), list(a.shape)) for k, a in arrays.items()},
    }


def snapshot_input(stage: str, paths: Paths) -> dict | None:
    """The contributions snapshot `stage` reads (when dvc.yaml lists it in its deps), for MLflow, as data_input.

    Its digest (the content hash the `contributions` stage computed, manifest.json's `digest`), the file's MD5
    (dvc.lock's), the counts per split, and the arrays' shapes; the run gets the tag `oekaki.snapshot_digest`.
    """
    from oekaki.core.io import arrays_sha256
    from oekaki.data import snapshot
    from oekaki.pipeline import fingerprint

    path = paths.contributions_snapshot
    rel = path.relative_to(paths.root).as_posix()
    if rel not in fingerprint.dep_paths(paths, stage) or not path.is_file():
        return None
    arrays = snapshot.read(path)
    manifest = read_json(paths.contributions_manifest) if paths.contributions_manifest.is_file() else {}
    return {
        "name": "contributions",
        "source": "contributions store",
        "path": rel,
        "sha256": arrays_sha256(arrays),
        "md5": hashlib.md5(path.read_bytes()).hexdigest(),  # DVC's content hash, not a security use
        "context": DATA_CONTEXT.get(stage, "training"),
        "arrays": {k: (str(a.dtype), list(a.shape)) for k, a in arrays.items()},
        "profile": {"counts": manifest.get("counts", {}), "newest_id": manifest.get("newest_id", 0)},
        "run_tag": SNAPSHOT_TAG,
    }


def version_tags(data: dict | None, git: dict) -> dict[str, str]:
    """The tags every model version a stage registers carries: the snapshot it was trained on and the commit."""
    tags = {"git_commit": str(git["git_commit"]), "git_dirty": str(git["git_dirty"])}
    if data is not None:
        tags |= {"snapshot_digest": data["sha256"], "contributed_digits": str(data["profile"]["counts"].get("train", 0))}
    return tags


def run_stage(stage: str, cfg: Config, paths: Paths, ctx: RunContext) -> dict:
    """Run `stage`, write its metrics, plots and provenance, log it to MLflow; return a summary."""
    from threadpoolctl import threadpool_limits

    check_inputs(stage, paths)
    started, started_unix, t0 = provenance.now_iso(), time.time(), time.perf_counter()
    timing.reset()
    with timing.phase("imports"):
        module = importlib.import_module(f"{STAGE_PACKAGE}.{stage}.stage")
        from oekaki.pipeline.tracking import PIPELINE_TAG, Tracker, tracking_uri, without_credentials

    git = provenance.git_state(paths.root)
    tags = {"git_commit": git["git_commit"], "git_dirty": str(git["git_dirty"]), PIPELINE_TAG: ctx.pipeline_run_id, **ctx.tags}
    if ctx.prefect_flow_run_id:
        tags["prefect_flow_run_id"] = ctx.prefect_flow_run_id
    if ctx.overrides:
        tags["overrides"] = " ".join(ctx.overrides)
    with timing.phase("mlflow_logging"):
        tracker = Tracker(paths)
        parent = tracker.pipeline_run(ctx.pipeline_run_id, tags)  # found by tag, created by the first stage
        params = stage_params(cfg, paths, stage)
        run_id = tracker.start_stage(stage, parent, params, tags)
    try:  # every exit ends the stage's run: FAILED on any error (the work, its files, the logging), else FINISHED
        monitor = tracker.monitor(run_id)
        with timing.phase("mlflow_logging"):
            data, snap = data_input(stage, cfg, paths), snapshot_input(stage, paths)
            for given in (data, snap):
                if given is not None:
                    tracker.log_dataset(run_id, given)
        system = tracker.system_metrics(run_id, SYSTEM_METRICS_S) if stage in TRAINING_STAGES else contextlib.nullcontext()
        with threadpool_limits(cfg.base.threads), system, timing.phase("stage_other"):  # what no inner phase claims
            result = module.run(cfg, paths, monitor)
        seconds = time.perf_counter() - t0
        facts = write_outputs(stage, result, paths)  # metrics/<stage>.json and its plots (code the stage's deps cover)
        log.info("stage %s finished its work in %.1f s", stage, seconds)
        unstreamed = {k: v for k, v in result.history.items() if k not in monitor.streamed}
        with timing.phase("mlflow_logging"):  # metrics, figures, the models' export and registration
            tracker.log_results(stage, run_id, {**result.metrics, **result.settings}, unstreamed, result.figures, result.models)
            if result.models:  # lineage: from a served version to its snapshot (and dvc.lock's entry) and commit
                registry = monitor.registry()
                for name in result.models:
                    if (version := registry.version_of_run(name, run_id)) is not None:
                        registry.tag_version(name, version, version_tags(snap, git))
        record = {
            "stage": stage,
            "started": started,
            "finished": provenance.now_iso(),
            "started_unix": started_unix,  # lets bench/overhead.py measure process start-up
            "process_started_unix": _process_started_unix(),
            "seconds": round(seconds, 3),
            "phases": timing.recorded(),  # where the time went (bench/breakdown.py)
            "phases_total_seconds": round(time.perf_counter() - t0, 3),
            **git,
            "machine": provenance.machine(),
            "device": result.metrics.get("device", "cpu"),
            "params": params,
            "facts": facts,  # the stage's results that are not numbers: oekaki.core.contract.merge_facts joins them again
            "details": result.details,
            "overrides": list(ctx.overrides),
            "pipeline_run_id": ctx.pipeline_run_id,
            "prefect_flow_run_id": ctx.prefect_flow_run_id,
            "mlflow_run_id": run_id,
            "mlflow_parent_run_id": parent,
            "mlflow_experiment_id": tracker.experiment_id,
            "mlflow_tracking_uri": without_credentials(tracking_uri(paths)),
        }
        write_json(paths.provenance(stage), record)
    except BaseException:
        with contextlib.suppress(Exception):  # the stage's own error is the one to see, not a second one from MLflow
            tracker.finish(run_id, "FAILED")
            tracker.finish(parent, "FAILED")  # the pipeline run failed with it
        raise
    tracker.finish(run_id)
    tracker.finish(parent)  # the parent's end time follows its last stage
    return {"stage": stage, "seconds": seconds, "mlflow_run_id": run_id, "metrics": result.metrics}


def _process_started_unix() -> float:
    """When the stage's command started (oekaki/pipeline/stage_host.py: the command's own start under the stage host)."""
    from oekaki.pipeline.stage_host import process_started_unix

    if (started := process_started_unix()) is not None:
        return started
    import psutil

    return psutil.Process().create_time()
