"""The MLflow store on a real PostgreSQL server instead of SQLite (docs/deployments.md, "Scaling out").

Debian's postgresql (scripts/ensure-postgres.sh) started by the test on 127.0.0.1 as the
`postgres` user (initdb and postgres refuse to run as root), a tiny `dvc repro` of the
pipeline against it, its runs and registered models read back, the server stopped.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from oekaki.pipeline.servers import free_port
from tests.conftest import VENV_BIN, need, tiny_project, tool_env

pytestmark = pytest.mark.slow
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def postgres():
    need("PostgreSQL server binaries", bool(BIN), "run scripts/ensure-postgres.sh as root")  # under CI=true: a failure
    bin_dir = BIN[-1]
    data = Path(tempfile.mkdtemp(prefix="oekaki-pg-"))  # not under pytest's 0700 folder: postgres must reach it
    if AS_POSTGRES:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        [*AS_POSTGRES, f"{bin_dir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [*AS_POSTGRES, f"{bin_dir}/postgres", "-D", str(data), "-p", str(port), "-k", str(data), "-c", "listen_addresses=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while subprocess.run([f"{bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode != 0:
            assert proc.poll() is None and time.time() < deadline, "postgres did not start"
            time.sleep(0.5)
        subprocess.run([f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"], check=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # postgres' "fast shutdown"
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def test_a_tiny_pipeline_logs_to_postgresql_and_reads_back(postgres, tmp_path):
    paths = tiny_project(tmp_path)
    env = tool_env(tmp_path, MLFLOW_TRACKING_URI=postgres)
    proc = subprocess.run(
        [f"{VENV_BIN}/python", "-m", "oekaki", "repro"], cwd=paths.root, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=postgres)
    exp = client.get_experiment_by_name("oekaki")
    runs = client.search_runs([exp.experiment_id], "tags.`oekaki.kind` = 'stage'")
    stages = ["download", "gmm", "cnn", "vit", "vae", "gan", "diffusion", "autoencoder", "text_painter", "evaluate", "promote", "report"]
    assert sorted(r.info.run_name for r in runs) == sorted(stages)
    gan = next(r for r in runs if r.info.run_name == "gan")
    assert len(client.get_metric_history(gan.info.run_id, "gan_history/fid")) >= 1
    assert {m.name for m in client.search_registered_models()} >= {
        "cnn-classifier",
        "vit-classifier",
        "vae",
        "gan-generator",
        "diffusion",
        "text-painter",
    }
    assert not (paths.root / "mlflow.db").exists()  # nothing went to the SQLite default


def test_the_contributions_store_on_postgresql_behaves_as_on_sqlite(postgres, tmp_path):
    """The same Store code on PostgreSQL: once per token, rate limits, concurrent writers serialised, erase;
    the same rows and array types as on SQLite, and the same snapshot counts."""
    import threading

    import numpy as np

    from oekaki.data import quarantine
    from oekaki.data.contributions import Item, Store

    bin_dir, port = BIN[-1], postgres.rsplit(":", 1)[1].split("/")[0]
    subprocess.run([f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "contributions"], check=True)
    pg = Store(postgres.rsplit("/", 1)[0] + "/contributions")
    lite = Store.of_project(None, tmp_path / "store.sqlite")

    def digit(k: int) -> np.ndarray:
        img = np.zeros((28, 28), np.uint8)
        img[5 + k % 5 : 23, 10 + k % 7 : 14 + k % 7] = 255
        img[12, 6 : 8 + k % 11] = 128 + k
        return img

    for store in (pg, lite):
        out = store.add("one-token-aaaaaaaaaa", [Item(digit(k), k % 10) for k in range(6)] + [Item(digit(0), 0)], 5, 10**6, now=100.0)
        assert [o.status for o in out] == [201] * 5 + [429, 409]
        errors: list[BaseException] = []

        def client(c: int, store=store, errors=errors) -> None:
            try:
                store.add(f"client-{c}-bbbbbbbbbbbb", [Item(digit(k), k % 10) for k in range(20, 40)], 10**6, 10**6, now=200.0)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and store.count() == 5 + 6 * 20
        assert store.erase("client-0-bbbbbbbbbbbb") == 20 and store.count() == 5 + 5 * 20
    a, b = pg.export(), lite.export()  # the threads' order differs between the two: compare what was stored

    def rows(x):
        return sorted(zip(x["token_sha"].tolist(), x["image_sha"].tolist(), x["labels"].tolist(), strict=True))

    assert rows(a) == rows(b) and {k: (v.dtype, v.shape) for k, v in a.items()} == {k: (v.dtype, v.shape) for k, v in b.items()}
    assert quarantine.take(a, 0.2, 0.95, 0.5)[1]["counts"] == quarantine.take(b, 0.2, 0.95, 0.5)[1]["counts"]
