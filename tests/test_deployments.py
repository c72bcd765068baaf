"""The deployments as users run them: `python -m flows.serve` (what `make serve` runs) starts a
real Prefect server, the work pool, the concurrency limit, the deployments of prefect.yaml (the
trigger of retrain-on-contributions too, its threshold cut to TRIGGER_N), a worker and the app,
in a temporary copy of the project; runs are triggered with the Prefect CLI, or by contributions
posted to the app, and checked through Prefect's API, DVC, the MLflow registry and the app's
/api/info; Ctrl-C (SIGINT) stops it all. A small HTTP server on 127.0.0.1 stands in for the failure webhook."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from oekaki.core.io import read_json
from oekaki.data.sources import bundled_file
from oekaki.pipeline import events
from oekaki.pipeline.servers import free_port
from tests.conftest import VENV_BIN, tiny_project, tool_env

pytestmark = pytest.mark.slow  # about 5 minutes: a server, a worker, the app and six pipeline runs

MODELS = ("cnn-classifier", "vit-classifier", "vae", "gan-generator", "diffusion", "text-painter")
RUNNER_STORAGE = Path("/tmp/runner_storage")
RUNNER_STORAGE_BEFORE = set(RUNNER_STORAGE.iterdir()) if RUNNER_STORAGE.is_dir() else set()
DEPLOYMENTS = ("nightly", "manual", "retrain-on-contributions")
TRIGGER_N = 20  # the trigger's threshold in the copy's prefect.yaml (100 in the project's)
RELOAD_S = 30  # the app serves a new champion within this long of its alias moving (issue 36)


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alert"
    finally:
        server.shutdown()
        server.server_close()


def api(base: str, path: str, body: dict | None = None):
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def served(tmp_path_factory, webhook):
    """`python -m flows.serve` in a tiny copy of the project; stopped with SIGINT afterwards."""
    tmp = tmp_path_factory.mktemp("deploy")
    paths = tiny_project(tmp)
    remote = tmp / "dvc-remote"  # a DVC remote: successful runs without overrides push to it
    subprocess.run(["dvc", "remote", "add", "--local", "-d", "store", str(remote)], cwd=paths.root, check=True, env=tool_env(tmp))
    prefect_yaml = paths.root / "prefect.yaml"
    assert "threshold: 100\n" in prefect_yaml.read_text()
    prefect_yaml.write_text(prefect_yaml.read_text().replace("threshold: 100\n", f"threshold: {TRIGGER_N}\n"))
    port, app_port = free_port(), free_port()
    env = tool_env(
        tmp,
        OEKAKI_PROJECT_DIR=str(paths.root),
        OEKAKI_ALERT_WEBHOOK=webhook,
        OEKAKI_RUNS_DIR=str(tmp),
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_HOME=str(paths.prefect_home),
    )
    env.pop("PREFECT_API_URL", None)
    log = open(tmp / "serve.log", "w")
    proc = subprocess.Popen(
        [f"{VENV_BIN}/python", "-m", "flows.serve", "--port", str(port), "--app-port", str(app_port)],
        cwd=paths.root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api"
    storage = RUNNER_STORAGE_BEFORE
    app = f"http://127.0.0.1:{app_port}"
    state = {"paths": paths, "env": {**env, "PREFECT_API_URL": base}, "api": base, "app": app, "tmp": tmp, "proc": proc, "storage": storage}
    try:
        deadline = time.time() + 400
        while time.time() < deadline and proc.poll() is None:
            try:
                if len(api(base, "/deployments/filter", {})) == 3 and "oekaki is up" in (tmp / "serve.log").read_text():
                    break
            except OSError:
                pass
            time.sleep(1)
        assert proc.poll() is None, (tmp / "serve.log").read_text()
        yield state
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def trigger(served, *params: str, watch: bool = True) -> str:
    """`prefect deployment run 'training-pipeline/manual' --param ...`; returns the flow run id."""
    cmd = [f"{VENV_BIN}/prefect", "deployment", "run", "training-pipeline/manual", *sum((["--param", p] for p in params), [])]
    proc = subprocess.run(cmd, cwd=served["paths"].root, env=served["env"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = next(ln.split("UUID:")[1].strip() for ln in proc.stdout.splitlines() if "UUID:" in ln)
    return wait_final(served, run_id) if watch else run_id


def wait_final(served, run_id: str, timeout_s: float = 420) -> str:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        run = api(served["api"], f"/flow_runs/{run_id}")
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run_id
        time.sleep(2)
    raise TimeoutError(f"flow run {run_id} not finished after {timeout_s} s:\n{(served['tmp'] / 'serve.log').read_text()[-5000:]}")


def state_of(served, run_id: str) -> str:
    return api(served["api"], f"/flow_runs/{run_id}")["state"]["name"]


def champions(served) -> dict[str, str | None]:
    client = MlflowClient(tracking_uri=served["env"]["MLFLOW_TRACKING_URI"])
    out = {}
    for name in MODELS:
        try:
            out[name] = str(client.get_model_version_by_alias(name, "champion").version)
        except Exception:
            out[name] = None
    return out


def dvc_status(served) -> dict:
    proc = subprocess.run(["dvc", "status", "--json"], cwd=served["paths"].root, env=served["env"], capture_output=True, text=True)
    return json.loads(proc.stdout)


def test_nightly_schedule_is_registered_with_its_cron(served):
    dep = api(served["api"], "/deployments/name/training-pipeline/nightly")
    schedule = dep["schedules"][0]["schedule"]
    assert schedule["cron"] == "0 3 * * *" and schedule["timezone"] == "Asia/Tokyo"
    assert dep["work_pool_name"] == "oekaki-process"
    manual = api(served["api"], "/deployments/name/training-pipeline/manual")
    assert manual["schedules"] == []
    assert api(served["api"], "/v2/concurrency_limits/oekaki-pipeline")["limit"] == 1
    on_contributions = api(served["api"], "/deployments/name/training-pipeline/retrain-on-contributions")
    assert on_contributions["schedules"] == [] and on_contributions["work_pool_name"] == "oekaki-process"
    [automation] = api(served["api"], "/automations/filter", {})
    trigger, [action] = automation["trigger"], automation["actions"]
    assert (trigger["expect"], trigger["threshold"], trigger["posture"]) == ([events.EVENT], TRIGGER_N, "Reactive")
    assert action["type"] == "run-deployment" and action["deployment_id"] == on_contributions["id"]


def test_make_serve_prints_every_address_and_its_app_answers(served):
    log = (served["tmp"] / "serve.log").read_text()
    assert f"Prefect UI  {served['api'].removesuffix('/api')}" in log and f"app         {served['app']}/" in log
    assert "MLflow UI" in log and "make ui" in log
    info = api(served["app"], "/api/info")
    assert set(info["sources"]) | set(info["missing"]) >= {"cnn", "vae", "gan", "diffusion"}
    state = json.loads((served["paths"].state_dir / "serve.json").read_text())
    assert state["app"] == served["app"] + "/" and state["api"] == served["api"]


def test_the_deployments_hold_no_secret_and_a_secret_block_is_read_at_run_time(served):
    """The worker has both secrets in its environment; the deployment records (what the API and UI show) hold neither."""
    env = served["env"]
    for name in DEPLOYMENTS:
        dep = api(served["api"], f"/deployments/name/training-pipeline/{name}")
        stored = json.dumps({k: dep.get(k) for k in ("job_variables", "parameters", "parameter_openapi_schema", "pull_steps")})
        for secret in ("OEKAKI_ALERT_WEBHOOK", "MLFLOW_TRACKING_URI"):
            assert secret not in stored and env[secret] not in json.dumps(dep), (name, secret, dep["job_variables"])
    # flows/secrets.py against this real server: no block reads as None, a saved one as its value
    code = (
        "from prefect.blocks.system import Secret; from flows.secrets import load_secret_block as load; "
        "print(load('oekaki-test-secret')); Secret(value='s3cret').save('oekaki-test-secret'); print(load('oekaki-test-secret'))"
    )
    cmd = [f"{VENV_BIN}/python", "-c", code]
    proc = subprocess.run(cmd, cwd=served["paths"].root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["None", "s3cret"], proc.stdout + proc.stderr[-3000:]
    block = api(served["api"], "/block_documents/filter", {"block_documents": {"name": {"any_": ["oekaki-test-secret"]}}})
    assert block and "s3cret" not in json.dumps(block)  # the API shows the value obfuscated


def test_manual_run_completes_records_with_dvc_and_promotes_first(served):
    run_id = trigger(served)
    assert state_of(served, run_id) == "Completed", (served["tmp"] / "serve.log").read_text()[-5000:]
    paths = served["paths"]
    assert dvc_status(served) == {"contributions": ["always changed"], "source": ["always changed"]}  # outputs brought in and recorded
    pushed = subprocess.run(["dvc", "status", "--cloud", "--json"], cwd=paths.root, env=served["env"], capture_output=True, text=True)
    assert pushed.returncode == 0 and json.loads(pushed.stdout) == {}, pushed.stdout + pushed.stderr  # and pushed to the remote
    decision = json.loads(paths.promote_decision.read_text())["models"]
    assert {r["decision"] for r in decision.values()} == {"promote"}  # the first run promotes
    assert all(v is not None for v in champions(served).values())
    html = paths.report_html.read_text()
    assert 'id="model-registry"' in html and "first candidate" in html
    tasks = api(served["api"], "/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    assert {t["name"] for t in tasks} >= {"download", "cnn", "gan", "promote", "report"}
    client = MlflowClient(tracking_uri=served["env"]["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("oekaki")
    parents = client.search_runs([exp.experiment_id], f"tags.prefect_flow_run_id = '{run_id}' and tags.`oekaki.kind` = 'pipeline'")
    assert len(parents) == 1
    assert {item.rsplit(" v", 1)[0] for item in parents[0].data.tags["oekaki.promoted"].split(", ")} == set(MODELS)


def test_a_forced_retrain_ties_and_an_override_run_never_promotes(served):
    before = champions(served)
    params = served["paths"].params.read_text()
    forced = trigger(served, "force=true")  # same data, same seeds: the same scores, a tie keeps the champion
    assert state_of(served, forced) == "Completed"
    decision = json.loads(served["paths"].promote_decision.read_text())["models"]
    assert {r["decision"] for r in decision.values()} == {"keep"}, decision
    assert all("tie" in r["reason"] for r in decision.values()), decision
    assert champions(served) == before
    override = trigger(served, 'overrides={"cnn.epochs": 2}')
    assert state_of(served, override) == "Completed"
    assert champions(served) == before  # never from a run with overrides
    assert served["paths"].params.read_text() == params  # the workspace is untouched
    shown = subprocess.run(
        ["dvc", "exp", "show", "--csv"], cwd=served["paths"].root, env=served["env"], capture_output=True, text=True, check=True
    )
    assert "prefect-" in shown.stdout and "cnn.epochs" in shown.stdout


def test_a_failed_run_leaves_outputs_record_and_aliases_and_alerts(served):
    paths = served["paths"]
    before = {rel: (paths.root / rel).read_bytes() for rel in ("dvc.lock", "metrics/gmm.json", "metrics/report.json")}
    aliases = champions(served)
    catalog = paths.root / "oekaki" / "locales" / "en.yaml"
    original, params = catalog.read_text(), paths.params.read_text()
    try:  # gmm re-runs with new params, then the report stage fails (a broken edit of its words: a heading's key renamed)
        paths.params.write_text(params.replace("n_artworks: 300", "n_artworks: 250"))
        catalog.write_text(original.replace("\nh_registry:", "\nh_registry_broken:"))
        Hook.received.clear()
        run_id = trigger(served)
        assert state_of(served, run_id) == "Failed"
        for rel, content in before.items():
            assert (paths.root / rel).read_bytes() == content, f"{rel} changed by a failed run"
        assert champions(served) == aliases
        deadline = time.time() + 30
        while not Hook.received and time.time() < deadline:
            time.sleep(0.5)
        assert Hook.received and Hook.received[0]["state"] == "Failed" and Hook.received[0]["flow_run_id"] == run_id
    finally:
        catalog.write_text(original)
        paths.params.write_text(params)


def test_two_runs_at_once_one_waits_for_the_other(served):
    first = trigger(served, watch=False)
    second = trigger(served, watch=False)
    wait_final(served, first)
    wait_final(served, second)
    runs = {r: api(served["api"], f"/flow_runs/{r}") for r in (first, second)}
    assert {r["state"]["name"] for r in runs.values()} == {"Completed"}
    a, b = sorted(runs.values(), key=lambda r: r["end_time"])
    tasks = api(served["api"], "/task_runs/filter", {"flow_runs": {"id": {"any_": [b["id"]]}}})
    assert min(t["start_time"] for t in tasks if t["start_time"]) >= a["end_time"][:19]  # no overlap: it waited
    assert dvc_status(served) == {"contributions": ["always changed"], "source": ["always changed"]}


def app_versions(served) -> dict[str, str | None]:
    """Registered model name -> the version the app of `make serve` answers with now (None: no registry version)."""
    sources = api(served["app"], "/api/info")["sources"]
    return {s["name"]: s["version"] for k, s in sources.items() if k != "gmm"}


def wait_for_app(served, expected: dict[str, str | None], timeout_s: float = RELOAD_S) -> float:
    """Seconds until the app names `expected` (name -> version); fails after `timeout_s`."""
    start = time.monotonic()
    while (seen := app_versions(served)) != expected:
        assert time.monotonic() - start < timeout_s, f"the app still answers with {seen}, not {expected}"
        time.sleep(0.5)
    return time.monotonic() - start


def bundled_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` of the 5,000 bundled MNIST digits, spread over the sample (its rows are sorted by label)."""
    with gzip.open(bundled_file(), "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)  # (5000, 785): 784 pixels, then the label
    rows = table[np.linspace(0, len(table) - 1, n).astype(int)]
    return rows[:, :-1].reshape(-1, 28, 28), rows[:, -1]


def test_the_app_serves_every_champion_without_a_restart(served):
    """The app started before any model existed; the runs above promoted: it answers with each champion now."""
    wait_for_app(served, champions(served))


def test_contributions_posted_to_the_app_trigger_a_retraining_and_the_app_serves_its_champion(served):
    paths = served["paths"]
    dep = api(served["api"], "/deployments/name/training-pipeline/retrain-on-contributions")
    images, labels = bundled_digits(TRIGGER_N)
    body = {"images": images.tolist(), "labels": labels.tolist(), "token": "deployments-test-token"}
    answer = api(served["app"], "/api/contribute", body)  # urllib raises on a 4xx/5xx
    assert answer["accepted"] == TRIGGER_N, answer
    posted = time.monotonic()
    while not (runs := api(served["api"], "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]}}})):
        assert time.monotonic() - posted < 120, (served["tmp"] / "serve.log").read_text()[-5000:]
        time.sleep(1)
    print(f"retrain-on-contributions: flow run created {time.monotonic() - posted:.1f} s after the app accepted {TRIGGER_N} digits")
    [run] = runs
    wait_final(served, run["id"])
    assert state_of(served, run["id"]) == "Completed", (served["tmp"] / "serve.log").read_text()[-5000:]
    manifest = read_json(paths.contributions_manifest)
    assert manifest["n"] == TRIGGER_N  # the snapshot the run trained on holds every digit accepted before it started
    wait_for_app(served, champions(served))  # promoted or kept, the app answers with the champion
    client = MlflowClient(tracking_uri=served["env"]["MLFLOW_TRACKING_URI"])
    newest = max(client.search_model_versions("name='cnn-classifier'"), key=lambda v: int(v.version))
    client.set_registered_model_alias("cnn-classifier", "champion", newest.version)  # the retrained judge, by hand if the gate kept
    moved = time.monotonic()
    wait_for_app(served, champions(served))
    print(f"the app served cnn-classifier v{newest.version} {time.monotonic() - moved:.1f} s after its alias moved")
    judge = api(served["app"], "/api/info")["sources"]["cnn"]
    assert judge["contributed_digits"] == int(newest.tags.get("contributed_digits", "0"))


def test_ctrl_c_stops_every_process_and_leaves_no_runner_storage(served):
    state = json.loads((served["paths"].state_dir / "serve.json").read_text())
    proc = served["proc"]
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(120) == 0
    for pid in (state["pid"], state["worker_pid"], state["app_pid"], state["server_pid"]):
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    assert not (served["paths"].state_dir / "serve.json").exists()
    now = set(RUNNER_STORAGE.iterdir()) if RUNNER_STORAGE.is_dir() else set()
    assert now <= served["storage"], now - served["storage"]
