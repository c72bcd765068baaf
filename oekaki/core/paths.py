"""Every file and folder the pipeline reads or writes, in one place.

dvc.yaml names the same paths (DVC needs them literally); `tests/test_dvc_yaml.py`
checks that the two agree, so they cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # oekaki/core/paths.py -> the project folder


@dataclass(frozen=True)
class Paths:
    """Paths of one project checkout (the real one, or a temporary copy in tests).

    `home`: the project folder whose MLflow store, Prefect state and lock this checkout
    uses; itself, except in the isolated copy a retraining run works in (oekaki/pipeline/isolation.py).
    """

    root: Path
    home: Path | None = None

    @property
    def home_root(self) -> Path:
        return self.home or self.root

    # --- configuration -------------------------------------------------------
    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def dvc_yaml(self) -> Path:
        return self.root / "dvc.yaml"

    # --- data ----------------------------------------------------------------
    @property
    def source_fingerprint(self) -> Path:
        return self.root / "data" / "source.json"

    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def contributions_store(self) -> Path:
        """The default contributions store (SQLite, WAL): the project's own (`home`), never in git or DVC, kept by `make clean`."""
        return self.home_root / "data" / "contributions" / "store.sqlite"

    @property
    def contributions_snapshot(self) -> Path:
        """The accepted contributions frozen by the `contributions` stage (DVC-tracked, content-addressed)."""
        return self.root / "data" / "snapshot" / "contributions.npz"

    @property
    def contributions_manifest(self) -> Path:
        """The snapshot's counts, digest and newest id (`cache: false`, kept in git)."""
        return self.root / "data" / "snapshot" / "manifest.json"

    @property
    def prepared(self) -> Path:
        return self.root / "data" / "prepared.npz"

    @property
    def gmm_dir(self) -> Path:
        return self.root / "data" / "gmm"

    @property
    def gmm_digit_samples(self) -> Path:
        return self.gmm_dir / "digit_samples.npz"

    @property
    def gmm_digit_model(self) -> Path:
        """PCA basis and per-class mixtures as plain arrays: the GMM digit generator itself."""
        return self.gmm_dir / "digit_model.npz"

    @property
    def bench_results(self) -> Path:
        """bench/results/: the benchmarks' committed results files, named by the commit they measured."""
        return self.root / "bench" / "results"

    # --- models ------------------------------------------------------------------
    def model_dir(self, stage: str) -> Path:
        return self.root / "models" / stage

    def checkpoint(self, stage: str) -> Path:
        """The last completed epoch of `stage` (kept between runs: DVC `persist: true`)."""
        return self.model_dir(stage) / "checkpoints" / "last.pt"

    @property
    def cnn_model(self) -> Path:
        return self.model_dir("cnn") / "model.pt"

    @property
    def vit_model(self) -> Path:
        """The second judge, the Vision Transformer (stage `vit`)."""
        return self.model_dir("vit") / "model.pt"

    def final_model(self, stage: str) -> Path:
        """The trained model of a stage, as a self-describing checkpoint (DVC-tracked)."""
        return self.model_dir(stage) / "model.pt"

    @property
    def promote_decision(self) -> Path:
        """The promotion gate's decisions, reasons, versions and evaluation keys (metrics/promote.json: its numbers)."""
        return self.model_dir("promote") / "decision.json"

    def scoreboard_samples(self, stage: str) -> Path:
        """A painter stage's scoreboard samples (oekaki/models/scoreboard.py): drawn once, scored by the stage and evaluate."""
        return self.model_dir(stage) / "scoreboard.npz"

    # --- metrics, plots, figures, report ---------------------------------------
    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    def metrics(self, stage: str) -> Path:
        """A stage's numbers (a plain output: `dvc metrics show` prints only the headline file)."""
        return self.metrics_dir / f"{stage}.json"

    @property
    def headline_metrics(self) -> Path:
        """The few numbers a user compares between runs, the one file dvc.yaml declares as metrics (written by promote)."""
        return self.metrics_dir / "scoreboard.json"

    @property
    def plots_dir(self) -> Path:
        return self.root / "metrics" / "plots"

    def figures(self, stage: str) -> Path:
        """The report stage's drawings of `stage`'s figures (oekaki/figures/render.py)."""
        return self.figures_dir / stage

    @property
    def figures_dir(self) -> Path:
        return self.root / "reports" / "figures"

    def figure_data(self, stage: str) -> Path:
        """What `stage`'s figures show, as arrays (oekaki/core/figure_data.py): the stage's output, the report draws it."""
        return self.root / "reports" / "figure_data" / stage

    @property
    def report_html(self) -> Path:
        return self.root / "reports" / "index.html"

    def report_page(self, lang: str) -> Path:
        """reports/index.html in English, reports/index.<lang>.html in other languages."""
        return self.report_html if lang == "en" else self.root / "reports" / f"index.{lang}.html"

    @property
    def report_summary(self) -> Path:
        return self.root / "reports" / "summary.md"

    def provenance(self, stage: str) -> Path:
        return self.root / "metrics" / "provenance" / f"{stage}.json"

    # --- local state of the tools (never a DVC output, ignored by git) -------
    @property
    def state_dir(self) -> Path:
        return self.home_root / ".oekaki"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "pipeline.lock"

    @property
    def lock_holder(self) -> Path:
        return self.state_dir / "pipeline.lock.json"

    @property
    def pipeline_run_file(self) -> Path:
        return self.root / ".oekaki" / "pipeline_run.json"

    @property
    def mlflow_db(self) -> Path:
        return self.home_root / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home_root / "mlartifacts"

    @property
    def prefect_home(self) -> Path:
        return self.home_root / ".prefect"


def project_paths(root: Path | None = None) -> Paths:
    return Paths(Path(root).resolve() if root else PROJECT_ROOT)
