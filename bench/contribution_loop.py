"""The contribution loop, driven for real: new writers' digits in, retrained and promoted judges out (issue 36).

    .venv/bin/python bench/contribution_loop.py                      (defaults: steps 100, 300, all; the poisoning drill)
    .venv/bin/python bench/contribution_loop.py --quick --steps 100  (a tiny profile: the slow test's smoke run)

A fresh clone of this checkout's HEAD in a temporary folder (this .venv linked in), trained once by
`python -m oekaki repro` (the champions before any contribution), then `python -m flows.serve` there: a
Prefect server, the deployments of its prefect.yaml (the trigger's `within` set to --window seconds, its
threshold kept), a worker and the app. scikit-learn's 1,797 digits, scaled the MNIST way
(bench/new_writers.py), are split in two halves; for each step the next digits of the first half are posted
to the app's batch API (`POST /api/contribute`, one token), the events fire `retrain-on-contributions`, and
the bench waits until the app names a new judge version (or the run ended and the gate kept the champion).
Per step it records: the champion judge's accuracy on the other half and on the MNIST validation split, the
gate's numbers, the seconds from the batch's acknowledgement to the app serving the new judge, and the
flow run's own seconds (the loop's overhead is their difference). Then the VAE's style transfer: held-out
new writers' digits and MNIST test digits, each drawn as every digit 0-9 and read by the new judge.
The poisoning drill (--drill): 200 MNIST test digits of one class labelled as another, and 200 uniform-noise
images, from one token; how many the door refused and the snapshot quarantined, and the champion's MNIST
validation accuracy after the run. Nothing else may run meanwhile. Figures: bench/results/contribution_loop-<commit>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_results_arguments, write_results  # noqa: E402
from bench.new_writers import halves, sklearn_digits  # noqa: E402
from bench.pairs import clone, user_env  # noqa: E402

QUICK = [  # the tiny profile of tests/conftest.py: minutes, not the real numbers
    "data.limit=1500", "cnn.epochs=3", "cnn.min_steps=0", "cnn.batch_size=64", "vae.latent_size=8", "vae.channels=[16, 32]",
    "vae.hidden=128", "vae.epochs=15", "vae.min_steps=0", "vae.batch_size=64", "gan.noise_size=32", "gan.g_channels=[64, 32]",
    "gan.d_channels=[32, 64]", "gan.epochs=6", "gan.min_steps=0", "gan.epoch_eval_samples=200", "diffusion.channels=[8, 16, 16]",
    "diffusion.embed_size=32", "diffusion.epochs=5", "diffusion.min_steps=0", "diffusion.sample_steps=4",
    "diffusion.sweep_samples=100", "diffusion.sweep_steps=[1, 4]", "diffusion.sweep_guidance=[0, 1, 3]",
]  # fmt: skip
TOKEN, POISONER = "bench-new-writers-0001", "bench-poisoner-00000001"
LAST_BATCH = [0.0]  # when the last batch was acknowledged: Prefect counts again only after the trigger's window


def http(method: str, url: str, body: dict | None = None, timeout: float = 300) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def judge_version(app: str) -> str | None:
    return (http("GET", app + "api/info")[1].get("sources", {}).get("cnn") or {}).get("version")


def flow_runs(api: str) -> list[dict]:
    return http("POST", api + "/flow_runs/filter", {"sort": "START_TIME_DESC", "limit": 20})[1]


def post_batch(app: str, body: dict, window_s: int) -> tuple[int, dict, float]:
    """(status, answer, when acknowledged), once the trigger's last window has closed (else its events would not count)."""
    time.sleep(max(0.0, LAST_BATCH[0] + window_s + 2 - time.time()))
    status, answer = http("POST", app + "api/contribute", body)
    LAST_BATCH[0] = time.time()
    return status, answer, LAST_BATCH[0]


def wait_for_serving(app: str, api: str, before: str | None, t0: float, timeout_s: float) -> dict:
    """Until the app names a judge version other than `before`, or the runs started since t0 all ended and none moved it."""
    started = False
    while time.time() - t0 < timeout_s:
        now = judge_version(app)
        runs = [r for r in flow_runs(api) if r.get("start_time") and _ts(r["start_time"]) >= t0 - 5]
        started = started or bool(runs)
        done = [r for r in runs if r.get("state_type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")]
        if now != before:
            return {"served": now, "seconds_to_served": time.time() - t0, "runs": runs}
        if started and len(done) == len(runs) and time.time() - max(_ts(r["end_time"]) for r in done) > 60:
            return {"served": None, "seconds_to_served": None, "runs": runs}  # ran, ended, gate kept the champion
        if not started and time.time() - t0 > 300:
            raise TimeoutError("no flow run started 300 s after the batch: did the trigger fire? (see the Prefect UI)")
        time.sleep(1)
    raise TimeoutError(f"no new judge and no finished run {timeout_s:g} s after the batch")


def _ts(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def accuracy(judge, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of `images` the judge reads as `labels`."""
    return float((np.asarray(judge.judge(images).probs).argmax(1) == labels).mean())


def score_champion(root: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """The champion judge's accuracy on (images, labels), and its MNIST validation accuracy, read in the clone."""
    import torch

    from oekaki.core.paths import Paths
    from oekaki.data.dataset import TensorData
    from oekaki.models.judge import Judge
    from oekaki.pipeline.tracking import Registry

    paths = Paths(root)
    registry = Registry(paths)
    version = registry.alias_version("cnn-classifier", "champion")
    with tempfile.TemporaryDirectory() as tmp:
        judge = Judge.load(registry.checkpoint("cnn-classifier", version, Path(tmp)), torch.device("cpu"))
    data = TensorData.load(paths.prepared, torch.device("cpu"))
    new, mnist = accuracy(judge, images, labels), accuracy(judge, data.val_x.numpy(), data.val_y.numpy())
    return {"version": version, "new_writers_accuracy": new, "mnist_validation_accuracy": mnist}


def score_versions(root: Path, images: np.ndarray, labels: np.ndarray) -> dict:
    """Every registered judge version (champions and refused candidates alike): the new writers' other half, MNIST
    validation, and the tags that say what it was trained on (contributed digits, snapshot digest)."""
    import torch

    from oekaki.core.paths import Paths
    from oekaki.data.dataset import TensorData
    from oekaki.models.judge import Judge
    from oekaki.pipeline.tracking import Registry

    paths = Paths(root)
    registry, data, out = Registry(paths), TensorData.load(paths.prepared, torch.device("cpu")), {}
    for version in registry.versions("cnn-classifier"):
        with tempfile.TemporaryDirectory() as tmp:
            judge = Judge.load(registry.checkpoint("cnn-classifier", version, Path(tmp)), torch.device("cpu"))
        tags = registry.client.get_model_version("cnn-classifier", version).tags
        out[version] = {
            "new_writers_accuracy": accuracy(judge, images, labels),
            "mnist_validation_accuracy": accuracy(judge, data.val_x.numpy(), data.val_y.numpy()),
            "contributed_digits": int(tags.get("contributed_digits", 0)),
            "snapshot_digest": tags.get("snapshot_digest"),
        }
    return out


def style_check(root: Path, new: np.ndarray, mnist: np.ndarray) -> dict:
    """The champion VAE draws each source digit as every digit 0-9; the champion judge reads them: share as asked."""
    import torch

    from oekaki.core.paths import Paths
    from oekaki.models.judge import Judge
    from oekaki.models.loading import load_network
    from oekaki.models.vae import style_transfer
    from oekaki.pipeline.tracking import Registry

    registry = Registry(Paths(root))
    with tempfile.TemporaryDirectory() as tmp:
        judge = Judge.load(
            registry.checkpoint("cnn-classifier", registry.alias_version("cnn-classifier", "champion"), Path(tmp)), torch.device("cpu")
        )
        from oekaki.core.checkpoints import load_checkpoint

        vae = load_network(load_checkpoint(registry.checkpoint("vae", registry.alias_version("vae", "champion"), Path(tmp))))
    out = {}
    for name, images in (("new_writers", new), ("mnist", mnist)):
        with torch.no_grad():
            labels = torch.from_numpy(np.asarray(judge.judge(images).probs).argmax(1))
            drawn = np.asarray(style_transfer(vae, torch.from_numpy(images), labels))  # (N, 10, 28, 28)
        read = np.asarray(judge.judge(drawn.reshape(-1, 28, 28)).probs).argmax(1).reshape(len(images), 10)
        out[name] = float((read == np.arange(10)[None]).mean())
    return out


def serve(root: Path, env: dict, window_s: int) -> tuple[subprocess.Popen, str, str]:
    import yaml

    spec = yaml.safe_load((root / "prefect.yaml").read_text())
    for d in spec["deployments"]:
        for trigger in d.get("triggers") or []:
            trigger["within"] = window_s
    (root / "prefect.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    from oekaki.pipeline.servers import free_port

    log = open(root / "serve.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.serve", "--port", str(free_port()), "--app-port", "0"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    state = root / ".oekaki" / "serve.json"
    deadline = time.time() + 900
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"flows.serve exited ({proc.returncode}):\n{(root / 'serve.log').read_text()[-3000:]}")
        if state.is_file() and "oekaki is up" in (root / "serve.log").read_text():
            s = json.loads(state.read_text())
            return proc, s["app"], s["api"]
        time.sleep(1)
    raise TimeoutError("make serve did not come up in 900 s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100,300,all", help="cumulative contributed digits after each step")
    parser.add_argument("--quick", action="store_true", help="the tiny profile (the smoke test's): not the issue's numbers")
    parser.add_argument("--drill", action="store_true", help="the poisoning drill after the steps")
    parser.add_argument("--window", type=int, default=120, help="the trigger's `within`, seconds (its threshold is prefect.yaml's)")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    parser.add_argument("--versions-of", type=Path, help="only score every judge version of a kept clone (--keep) and write that")
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    images, labels = sklearn_digits()
    give, keep = halves(labels)
    if args.versions_of:
        commit = subprocess.run(["git", "-C", str(args.versions_of), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        args.tag = args.tag or "versions"
        figures = {"clone": str(args.versions_of), "versions": score_versions(args.versions_of, images[keep], labels[keep])}
        print(json.dumps(figures, indent=1))
        print(write_results("contribution_loop", args, figures, commit=commit))
        return
    steps = [len(give) if s == "all" else int(s) for s in args.steps.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="oekaki-loop-"))
    root = clone("HEAD", tmp / "project")
    env = user_env()
    figures: dict = {"steps": [], "quick": args.quick, "window_s": args.window, "n_new_writers": [len(give), len(keep)]}
    proc = None
    try:
        if args.quick:
            from bench.common import set_params

            set_params(root / "params.yaml", ["data.source=bundled", *QUICK])
        t = time.time()
        subprocess.run([sys.executable, "-m", "oekaki", "repro"], cwd=root, env=env, check=True, capture_output=True)
        figures["baseline_repro_seconds"] = time.time() - t
        figures["before"] = score_champion(root, images[keep], labels[keep])
        print("before:", figures["before"], flush=True)
        proc, app, api = serve(root, env, args.window)
        done = 0
        for target in steps:
            chunk = give[done:target]
            before = judge_version(app)
            status, body = http(
                "POST", app + "api/contribute", {"images": images[chunk].tolist(), "labels": labels[chunk].tolist(), "token": TOKEN}
            )
            t0 = time.time()
            row = {"contributed": target, "status": status, "accepted": body.get("accepted"), "version_before": before}
            row |= wait_for_serving(app, api, before, t0, 3600)
            runs = [r for r in row.pop("runs") if r.get("state_type") == "COMPLETED" and r.get("total_run_time")]
            row["flow_run_seconds"] = max((r["total_run_time"] for r in runs), default=None)
            if row["seconds_to_served"] is not None and row["flow_run_seconds"]:
                row["loop_overhead_seconds"] = row["seconds_to_served"] - row["flow_run_seconds"]
            row |= score_champion(root, images[keep], labels[keep])
            decision = json.loads((root / "models" / "promote" / "decision.json").read_text())["models"]["cnn"]
            row["gate"] = {k: decision.get(k) for k in ("decision", "reason", "contributed")}
            figures["steps"].append(row)
            print(json.dumps(row), flush=True)
            done = target
        figures["versions"] = score_versions(root, images[keep], labels[keep])
        figures["style"] = style_check(root, images[keep][:200], _mnist_test(root)[0][:200])
        print("style:", figures["style"], flush=True)
        if args.drill:
            figures["drill"] = drill(root, app, api, args.window)
            print("drill:", figures["drill"], flush=True)
    except BaseException as exc:  # what was measured so far is still written, with what stopped it
        figures["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(120)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept:", root)
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        print(write_results("contribution_loop", args, figures, commit=head or None))  # the clone's commit: what was measured


def _mnist_test(root: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(root / "data" / "prepared.npz") as npz:
        return npz["test_images"], npz["test_labels"]


def drill(root: Path, app: str, api: str, window_s: int) -> dict:
    """200 threes labelled 8 and 200 uniform-noise images from one token; what the door and the quarantine did."""
    with np.load(root / "data" / "prepared.npz") as npz:  # the training split: the bundled test split has only ~100 threes
        x, y = npz["train_images"], npz["train_labels"]
    threes = x[y == 3][:200]
    noise = np.random.default_rng(0).integers(0, 256, (200, 28, 28))
    before = judge_version(app)
    status, body = http(
        "POST", app + "api/contribute", {"images": [*threes.tolist(), *noise.tolist()], "labels": [8] * 400, "token": POISONER}
    )
    t0 = time.time()
    outcomes = body.get("items", body.get("outcomes", []))
    refused = sum(1 for o in outcomes if o.get("status") != 201)
    stored = [o["id"] for o in outcomes if o.get("status") == 201]
    served = wait_for_serving(app, api, before, t0, 3600)
    manifest = json.loads((root / "data" / "snapshot" / "manifest.json").read_text())
    quarantined = {q["id"] for q in manifest["quarantined"]} & set(stored)
    after = score_champion(root, *_mnist_test(root))
    return {
        "status": status, "refused": refused, "stored": len(stored), "quarantined": len(quarantined),
        "refused_or_quarantined_share": (refused + len(quarantined)) / 400, "judge_moved": served["served"] is not None,
        "mnist_validation_accuracy_after": after["mnist_validation_accuracy"],
    }  # fmt: skip


if __name__ == "__main__":
    main()
