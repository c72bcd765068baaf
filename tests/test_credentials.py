"""A tracking URI's password is never printed, logged, recorded or put in a child process's argv (visible to `ps`)."""

from __future__ import annotations

import os

import psutil
import pytest
from mlflow.exceptions import MlflowException

from oekaki.core.errors import NoSuchModel
from oekaki.core.paths import Paths
from oekaki.pipeline import env as env_module
from oekaki.pipeline import servers, tracking
from oekaki.pipeline.tracking import without_credentials

PASSWORD = "pw-s3cret-4711"


@pytest.mark.parametrize(
    "uri, shown",
    [
        (f"postgresql+psycopg2://oekaki:{PASSWORD}@db.internal:5432/mlflow", "postgresql+psycopg2://***@db.internal:5432/mlflow"),
        (f"https://{PASSWORD}@mlflow.example/", "https://***@mlflow.example/"),  # a token in the user part
        (f"http://a:{PASSWORD}@[::1]:5000", "http://***@[::1]:5000"),
        (f"http://a:{PASSWORD}@[::1:5000", "http://***@[::1:5000"),  # unparseable: masked all the same
        ("sqlite:////tmp/x/mlflow.db", "sqlite:////tmp/x/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_without_credentials_masks_the_user_part_only(uri, shown):
    assert without_credentials(uri) == shown


def process_tree_cmdlines(pid: int) -> list[list[str]]:
    try:
        root = psutil.Process(pid)
        return [p.cmdline() for p in [root, *root.children(recursive=True)]]
    except psutil.Error:
        return []


def test_the_mlflow_ui_child_gets_the_store_by_environment_never_argv(tmp_path):
    """A real `mlflow ui` on a store whose URI carries the secret (here in its file name): it serves, so it read
    the store from its environment, and neither it nor any process it started shows the URI in its argv."""
    uri = f"sqlite:///{tmp_path / PASSWORD}.db"
    ui = servers.MlflowUi(uri, dict(os.environ), tmp_path / "ui.log")
    try:
        ui.wait_healthy()
        tree = psutil.Process(ui.proc.pid)
        processes = [tree, *tree.children(recursive=True)]
        cmdlines = [" ".join(p.cmdline()) for p in processes]
        environ = tree.environ()
    finally:
        ui.stop()
    assert (tmp_path / f"{PASSWORD}.db").is_file() and environ["MLFLOW_BACKEND_STORE_URI"] == uri
    assert len(processes) >= 2 and all(PASSWORD not in c for c in cmdlines), cmdlines


def test_make_ui_prints_the_store_masked_and_execs_without_it(tmp_path, monkeypatch, capsys):
    uri = f"postgresql+psycopg2://oekaki:{PASSWORD}@127.0.0.1:5432/mlflow"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(env_module, "apply_tool_defaults", lambda paths: None)  # would set this process's PREFECT_HOME for good
    execs = []

    def execve(path, argv, env):
        execs.append((argv, env))
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", execve)
    with pytest.raises(SystemExit):
        servers.main(["mlflow-ui", "--port", "5999"])
    (argv, env), out = execs[0], capsys.readouterr()
    assert "postgresql+psycopg2://***@127.0.0.1:5432/mlflow" in out.out
    assert PASSWORD not in out.out + out.err and PASSWORD not in " ".join(argv)
    assert env["MLFLOW_BACKEND_STORE_URI"] == uri


def test_registry_errors_name_the_store_without_its_password(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql+psycopg2://oekaki:{PASSWORD}@127.0.0.1:5432/mlflow")
    registry = tracking.Registry.__new__(tracking.Registry)  # no connection: the client below answers

    class Gone:
        def get_model_version(self, name, version):
            raise MlflowException(f"model version {name}/{version} not found")

    registry.paths, registry.client = Paths(tmp_path), Gone()
    for call in (lambda: registry.checkpoint("vae", "3", tmp_path), lambda: registry.run_of("vae", "3")):
        with pytest.raises(NoSuchModel) as err:
            call()
        assert PASSWORD not in str(err.value) and "postgresql+psycopg2://***@127.0.0.1:5432/mlflow" in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        f"API request to http://oekaki:{PASSWORD}@127.0.0.1:5000/api/2.0/mlflow/registered-models/get failed",
        f"could not connect: postgresql+psycopg2://oekaki:{PASSWORD}@db/mlflow and https://tok{PASSWORD}@host/x",
    ],
)
def test_mask_credentials_hides_every_urls_user_part_in_any_text(text):
    masked = tracking.mask_credentials(text)
    assert PASSWORD not in masked and masked.count("://***@") == text.count("@")


def test_the_apps_notice_of_a_failing_registry_quotes_mlflows_error_without_the_password(tmp_path, monkeypatch):
    """MLflow's own error text names the URL it failed on; the app's notice (shown on the page) masks it."""
    from oekaki.app import service

    def down(*args, **kwargs):
        raise MlflowException(f"API request to http://oekaki:{PASSWORD}@127.0.0.1:9/api/2.0/mlflow/x failed with exception")

    monkeypatch.setattr(service, "resolve", down)
    models = service.Models.__new__(service.Models)
    models.paths, models.missing = Paths(tmp_path), {}
    network, source, why = models._load("vae", tmp_path)  # what the notice shows: why it could not be loaded
    assert network is None and source is None
    assert PASSWORD not in why and "http://***@127.0.0.1:9" in why
