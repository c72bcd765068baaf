"""MLflow bookkeeping: the only module that imports mlflow.

Layout in the MLflow UI (experiment `oekaki`): one parent run per pipeline run, tagged
`oekaki.pipeline_run_id`, with one nested run per stage (its params, metrics per step,
figures, and tags for the git commit, the DVC stage and the Prefect flow run). Under the
Prefect flow the parent is the flow's; under `dvc repro`, where each stage is its own
process, the `source` stage mints the id and the first stage that logs creates the parent,
so the stage runs of one `dvc repro` sit together under one parent as well.
A stage run records the prepared data and the contributions snapshot it reads as dataset inputs
(their DVC versions); the training stages' runs also carry MLflow's system metrics.
Run ids are always passed explicitly (MLflow's fluent active run is per thread).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from oekaki.core.contract import flat_metrics
from oekaki.core.errors import NoSuchModel
from oekaki.core.paths import Paths

EXPERIMENT = "oekaki"
PIPELINE_TAG = "oekaki.pipeline_run_id"
KIND_TAG = "oekaki.kind"
DATA_TAG = "oekaki.data_sha256"  # run tag: the full SHA-256 of the prepared data the stage read
DIGEST_CHARS = 36  # MLflow's limit on a dataset digest (MAX_DATASET_DIGEST_SIZE; the SQL column is 36 wide)
SYSTEM_PREFIX = "system/"  # MLflow's system metrics: system/cpu_utilization_percentage, ...

log = logging.getLogger("oekaki.tracking")


def tracking_uri(paths: Paths) -> str:
    """MLFLOW_TRACKING_URI when set (a real server), else the project's own SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{paths.mlflow_db}"


def without_credentials(uri: str) -> str:
    """`uri` fit to print or record: its user:password (or a token in the user part) shown as `***`.

    postgresql://oekaki:pw@db:5432/mlflow -> postgresql://***@db:5432/mlflow. Every message, log
    line and record that names a tracking store (or any URL from the environment) goes through
    this one function; the URI itself reaches child processes only by environment, never argv.
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
    except ValueError:  # unparseable (a bad IPv6 host): mask everything up to the last "@"
        scheme, sep, rest = uri.partition("://")
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if "@" in rest else uri
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s/@]+@")


def mask_credentials(text: str) -> str:
    """Any text with every URL's user:password shown as `***` (MLflow's own errors quote the URL they failed on)."""
    return _URL_USERINFO.sub(r"\1***@", text)


def store_exists(paths: Paths) -> bool:
    """Whether there is a store to read: MLFLOW_TRACKING_URI is set, or the project's SQLite file exists.

    Opening a missing SQLite store would create it (and its tables): a reader checks first.
    """
    return bool(os.environ.get("MLFLOW_TRACKING_URI")) or paths.mlflow_db.is_file()


def _client(paths: Paths):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(paths))


class Tracker:
    """Explicit-id MLflow logging for one project checkout."""

    def __init__(self, paths: Paths):
        self.paths = paths
        self.client = _client(paths)
        self.experiment_id = self._experiment()

    def _experiment(self) -> str:
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        if exp is not None:
            return exp.experiment_id
        # With the default store, keep artifacts inside the project too (absolute URI).
        location = None if "MLFLOW_TRACKING_URI" in os.environ else self.paths.mlflow_artifacts.as_uri()
        return self.client.create_experiment(EXPERIMENT, artifact_location=location)

    def pipeline_run(self, pipeline_run_id: str, tags: dict[str, str]) -> str:
        """The parent run of pipeline run `pipeline_run_id`, created on first use."""
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{PIPELINE_TAG}` = '{pipeline_run_id}' and tags.`{KIND_TAG}` = 'pipeline'",
            max_results=1,
        )
        if found:
            return found[0].info.run_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"pipeline {pipeline_run_id[:8]}",
            tags={PIPELINE_TAG: pipeline_run_id, KIND_TAG: "pipeline", **tags},
        )
        return run.info.run_id

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def start_stage(self, stage: str, parent_run_id: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        """Open the nested run of one stage (before it works, so its epochs stream in live)."""
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id,
            run_name=stage,
            tags={"mlflow.parentRunId": parent_run_id, KIND_TAG: "stage", "oekaki.dvc_stage": stage, **tags},
        )
        plist = [Param(k, _param_text(v)) for k, v in sorted(params.items())]
        for i in range(0, len(plist), 100):  # MLflow's per-request limits
            self.client.log_batch(run.info.run_id, params=plist[i : i + 100])
        return run.info.run_id

    def log_dataset(self, run_id: str, data: dict[str, Any]) -> None:
        """Record the data a stage reads as an MLflow dataset input ("Datasets used" in the UI).

        `data` is what `runner.data_input` returns. The digest is the prepared data's SHA-256
        (the `sha256` of metrics/download.json, `TensorData.sha256`, what checkpoints record),
        cut to MLflow's 36 characters; the full SHA-256 and the file's MD5 (what dvc.lock
        records for data/prepared.npz) are in the dataset's source, its input tags and the
        run tag `oekaki.data_sha256`, so a run can be traced to its DVC data version.
        """
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        source = {"dvc_path": data["path"], "data_source": data["source"], "sha256": data["sha256"], "dvc_md5": data["md5"]}
        features = [
            {"name": k, "type": "tensor", "tensor-spec": {"dtype": dtype, "shape": [-1, *shape[1:]]}}
            for k, (dtype, shape) in sorted(data["arrays"].items())
        ]
        dataset = Dataset(
            name=data["name"],
            digest=data["sha256"][:DIGEST_CHARS],
            source_type="dvc",
            source=json.dumps(source, sort_keys=True),
            schema=json.dumps({"mlflow_tensorspec": {"features": json.dumps(features), "targets": None}}),
            profile=json.dumps({"shapes": {k: list(shape) for k, (_, shape) in sorted(data["arrays"].items())}, **data.get("profile", {})}),
        )
        tags = [
            InputTag(MLFLOW_DATASET_CONTEXT, data["context"]),
            InputTag("oekaki.sha256", data["sha256"]),
            InputTag("oekaki.dvc_md5", data["md5"]),
            InputTag("oekaki.dvc_path", data["path"]),
        ]
        self.client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags)])
        self.client.set_tag(run_id, data.get("run_tag", DATA_TAG), data["sha256"])  # the snapshot's: oekaki.snapshot_digest

    @contextlib.contextmanager
    def system_metrics(self, run_id: str, interval_s: float = 10.0):
        """MLflow's built-in system metrics (CPU, memory, disk, network; GPU where one is) for `run_id`.

        A daemon thread samples every `interval_s` seconds (MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL
        overrides it) into `system/...` metrics. MLflow's monitor logs nothing for a run shorter
        than one interval, so such a run gets one sample at the end (CPU: the mean since the
        start). MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false turns it off.
        """
        if os.environ.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "").strip().lower() in ("false", "0"):
            yield None
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, sampling_interval=interval_s, tracking_uri=tracking_uri(self.paths))
        monitor.start()
        try:
            yield monitor
        finally:
            monitor.finish()
            try:
                if not any(k.startswith(SYSTEM_PREFIX) for k in self.client.get_run(run_id).data.metrics):
                    self._last_system_sample(run_id, monitor)
            except Exception as exc:  # system metrics must never fail a stage
                log.warning("system metrics of run %s: last sample not logged: %s", run_id, exc)

    def _last_system_sample(self, run_id: str, monitor) -> None:
        import time

        from mlflow.entities import Metric

        for m in monitor.monitors:
            m.clear_metrics()  # drop the thread's first sample (psutil's first CPU reading is 0.0)
        monitor.collect_metrics()
        ts = int(time.time() * 1000)
        values = monitor.aggregate_metrics()
        self.client.log_batch(run_id, metrics=[Metric(SYSTEM_PREFIX + k, float(v), ts, 0) for k, v in sorted(values.items())])

    def monitor(self, run_id: str) -> StreamingMonitor:
        return StreamingMonitor(self.client, run_id, self.paths)

    def log_results(
        self,
        stage: str,
        run_id: str,
        metrics: dict[str, Any],
        history: dict[str, list[dict[str, float]]],
        files: list[Path],
        models: dict[str, Path] | None = None,
    ) -> None:
        """Log the finished stage's metrics, the histories not streamed yet, files and models.

        The run stays open: the caller ends it (`finish`) once the stage's own files are written too.
        """
        from mlflow.entities import Metric

        ts = int(self.client.get_run(run_id).info.start_time)
        mlist = [Metric(k, float(v), ts, 0) for k, v in sorted(flat_metrics(metrics).items()) if _is_number(v)]
        for name, rows in history.items():
            mlist += [m for row in rows for m in _history_metrics(name, row, ts)]
        for i in range(0, len(mlist), 1000):
            self.client.log_batch(run_id, metrics=mlist[i : i + 1000])
        for path in files:
            if path.is_file():
                self.client.log_artifact(run_id, str(path), artifact_path=_artifact_dir(self.paths, path))
        for name, path in (models or {}).items():
            self.log_model(run_id, name, path)
        with tempfile.TemporaryDirectory() as tmp:
            summary = Path(tmp) / f"{stage}_metrics.json"
            summary.write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str))
            self.client.log_artifact(run_id, str(summary))

    def log_model(self, run_id: str, name: str, checkpoint: Path) -> None:
        """Log a self-describing checkpoint and register it as model `name`.

        Two forms: the checkpoint file itself (plain tensors, loads with weights_only=True;
        what `Registry.checkpoint` and so `flows.sample` and the promotion gate load), and
        MLflow's `pt2` model (torch.export: `data/model.pt2`, no pickled Python objects), asked
        for explicitly since MLflow's default is pickle on Databricks. MLflow loads it only
        after checking the archive holds no pickle payload. Explicit pip requirements skip
        MLflow's slow inference of them. Its serving-input check is off (it only warns; tests/test_registry.py
        fails instead): diffusion's log_model 10.0-13.8 s with it, 6.7-6.9 s without (2026-12-02).
        """
        import mlflow
        import torch

        from oekaki.models.loading import load_model

        self.client.log_artifact(run_id, str(checkpoint), artifact_path="checkpoint")
        model, example = load_model(checkpoint)
        with fluent_tracking_uri(tracking_uri(self.paths)), mlflow.start_run(run_id=run_id):  # this thread only; ended right away
            info = mlflow.pytorch.log_model(
                model,
                name=name,
                input_example=example,
                serialization_format="pt2",
                registered_model_name=name,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "numpy"],
                validate_serving_input=False,
            )
        self.client.set_registered_model_alias(name, "candidate", str(info.registered_model_version))


@contextlib.contextmanager
def fluent_tracking_uri(uri: str):
    """mlflow.set_tracking_uri for one block, then what it was before.

    MLflow 3's set_tracking_uri is process-wide: a module global and os.environ["MLFLOW_TRACKING_URI"]. Left in place, a model export
    in one project's store would point every later in-process MLflow call, and every child
    process, at that store (a flow over several copies, a test after another).
    """
    import mlflow.tracking._tracking_service.utils as fluent

    env_before, global_before = os.environ.get("MLFLOW_TRACKING_URI"), getattr(fluent, "_tracking_uri", None)
    fluent.set_tracking_uri(uri)
    try:
        yield
    finally:
        fluent.set_tracking_uri(global_before)  # None unsets the environment variable ...
        if env_before is not None:  # ... which is put back as it was
            os.environ["MLFLOW_TRACKING_URI"] = env_before


SCORE_TAG = "oekaki.score."  # + metric: the value; its evaluation key in "oekaki.eval_key." + metric
KEY_TAG = "oekaki.eval_key."


class Registry:
    """The MLflow model registry as the promotion gate and `flows.sample` use it."""

    def __init__(self, paths: Paths):
        self.paths = paths
        self.client = _client(paths)

    def versions(self, name: str) -> list[str]:
        """Registered versions of `name`, oldest first ([] when the model is not registered)."""
        return sorted((str(v.version) for v in self.client.search_model_versions(f"name='{name}'")), key=int)

    def version_of_run(self, name: str, run_id: str) -> str | None:
        found = self.client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
        return max((str(v.version) for v in found), key=int, default=None)

    def alias_version(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, str(version))

    def version_score(self, name: str, version: str, metric: str, key: str) -> float | None:
        tags = self.client.get_model_version(name, str(version)).tags
        if tags.get(KEY_TAG + metric) == key and SCORE_TAG + metric in tags:
            return float(tags[SCORE_TAG + metric])
        return None

    def tag_score(self, name: str, version: str, metric: str, key: str, value: float) -> None:
        self.client.set_model_version_tag(name, str(version), KEY_TAG + metric, key)
        self.client.set_model_version_tag(name, str(version), SCORE_TAG + metric, repr(float(value)))

    def tag_version(self, name: str, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, str(version), key, value)

    def checkpoint(self, name: str, version: str, dest: Path) -> Path:
        """The self-describing checkpoint logged with model version `version` (downloaded into dest)."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            raise NoSuchModel(f"model {name!r} has no version {version!r} in {without_credentials(tracking_uri(self.paths))}") from exc
        folder = Path(dest) / f"{name}-v{version}"
        folder.mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(mv.run_id, "checkpoint/model.pt", str(folder)))

    def run_of(self, name: str, version: str) -> tuple[str, str]:
        """(run id, experiment id) of the run that logged model version `version`."""
        from mlflow.exceptions import MlflowException

        try:
            run_id = self.client.get_model_version(name, str(version)).run_id
            return run_id, self.client.get_run(run_id).info.experiment_id
        except MlflowException as exc:
            store = without_credentials(tracking_uri(self.paths))
            raise NoSuchModel(f"model {name!r} version {version!r}: its run is gone from {store}") from exc


class StreamingMonitor:
    """oekaki.core.contract.Monitor that logs each epoch to a stage's MLflow run as it finishes."""

    def __init__(self, client, run_id: str, paths: Paths):
        self.client, self.run_id, self.paths = client, run_id, paths
        self.streamed: set[str] = set()

    def epoch(self, history: str, row: dict[str, float], images: dict[str, Any] | None = None) -> None:
        import time

        step = int(row["step"])
        self.client.log_batch(self.run_id, metrics=_history_metrics(history, row, int(time.time() * 1000)))
        for key, image in (images or {}).items():
            self.client.log_image(self.run_id, image, key=key, step=step)
        self.streamed.add(history)

    def registry(self) -> Registry:
        return Registry(self.paths)


def _history_metrics(name: str, row: dict[str, float], ts: int) -> list:
    from mlflow.entities import Metric

    step = int(row["step"])
    return [Metric(f"{name}/{k}", float(v), ts, step) for k, v in row.items() if k != "step" and _is_number(v)]


def _artifact_dir(paths: Paths, path: Path) -> str | None:
    try:
        return str(path.resolve().parent.relative_to(paths.root))
    except ValueError:
        return None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _param_text(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v)
    return text[:6000]
