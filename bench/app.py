"""The draw-it-yourself app's latency over HTTP: median and 95th percentile per endpoint.

    .venv/bin/python bench/app.py                      # this checkout's trained workspace (after `make run`)
    .venv/bin/python bench/app.py --root DIR --n 200   # another trained project folder

Starts the app as `make app` does (`python -m oekaki.app --root ROOT`, a free 127.0.0.1 port),
then sends --n requests per endpoint, one at a time, over one keep-alive connection with
TCP_NODELAY (as browsers do). The
drawings are the workspace's first --n test digits scaled up 10x onto the 280x280 canvas, dark
on light, as PNG data URLs, so every request carries a different, realistic drawing. Round trip:
the client's wall clock per request (encoding the request and decoding the JSON answer included);
model: the `ms` the app reports for the work itself. Targets: judge (classification + feature
maps) under 100 ms, the ViT's reading (classification + attention rollout, /api/vit) under 100 ms,
style transfer under 300 ms. Writes its figures to bench/results/app-<commit>.json
(bench/common.py), the commit being this checkout's, whose app code is measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import add_results_arguments, write_results  # noqa: E402
from oekaki.app.drawing import encode_canvas  # noqa: E402

TARGETS_MS = {"judge": 100, "vit": 100, "style": 300}
WARM_UP = 5


def start(root: Path) -> tuple[subprocess.Popen, str]:
    """The app as a child process, and its address (read from the line it prints)."""
    env = {**os.environ, "APP_HOST": "127.0.0.1", "APP_PORT": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "oekaki.app", "--root", str(root)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 300
    for line in proc.stdout:
        print("  app:", line.rstrip())
        if line.startswith("oekaki app: "):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining: a full pipe would stall the app
            return proc, line.split()[2]
        if time.time() > deadline:
            break
    proc.kill()
    raise SystemExit("the app did not start (see its output above)")


def drawings(root: Path, n: int) -> tuple[list[str], np.ndarray]:
    with np.load(root / "data" / "prepared.npz") as npz:
        x, y = npz["test_images"][:n], npz["test_labels"][:n]
    urls = [encode_canvas(np.asarray(Image.fromarray(d).resize((280, 280), Image.Resampling.BILINEAR))) for d in x]
    return urls, y


def measure(client: httpx.Client, path: str, bodies: list[dict]) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    for body in bodies[:WARM_UP]:
        client.post(path, json=body).raise_for_status()
    wall, model, answers = [], [], []
    for body in bodies:
        t0 = time.perf_counter()
        r = client.post(path, json=body)
        answer = r.json()
        wall.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        model.append(answer["ms"])
        answers.append(answer)
    return np.array(wall), np.array(model), answers


def agreement(measured: tuple | None, labels: np.ndarray) -> float | None:
    """Share of the drawings a judge's answers (measure's third item) read as their test label; None: not measured."""
    return None if measured is None else float(np.mean([a["label"] == y for a, y in zip(measured[2], labels, strict=True)]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=ROOT, help="a trained project folder (default: this checkout)")
    p.add_argument("--n", type=int, default=100, help="requests per endpoint (default 100)")
    p.add_argument("--samples", type=int, default=16, help="images per painter request (default 16)")
    add_results_arguments(p)
    args = p.parse_args()
    if not (args.root / "data" / "prepared.npz").is_file():
        raise SystemExit(f"bench/app.py: {args.root / 'data' / 'prepared.npz'} is missing: run `make run` there first, or pass --root")
    urls, labels = drawings(args.root, args.n)
    proc, url = start(args.root)
    rows, judged, read_by_vit = [], None, None
    try:
        # TCP_NODELAY, as browsers set it (httpx writes a request's headers and body separately)
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        with httpx.Client(base_url=url, timeout=60, transport=transport) as client:
            info = client.get("/api/info").json()
            for kind, why in info["missing"].items():
                print(f"  skipped what needs {kind}: {why}")
            if "cnn" not in info["missing"]:
                judged = measure(client, "/api/judge", [{"image": u} for u in urls])
                rows.append(("POST /api/judge", "judge", *judged[:2]))
            if "vit" not in info["missing"]:  # the second judge: its reading and attention rollout
                read_by_vit = measure(client, "/api/vit", [{"image": u} for u in urls])
                rows.append(("POST /api/vit", "vit", *read_by_vit[:2]))
            if not {"cnn", "vae"} & set(info["missing"]):
                rows.append(("POST /api/style", "style", *measure(client, "/api/style", [{"image": u} for u in urls])[:2]))
            for painter in (p["name"] for p in info["painters"] if p["available"]):
                bodies = [{"painter": painter, "label": int(i % 10), "n": args.samples, "seed": i} for i in range(args.n)]
                rows.append((f"POST /api/paint {painter} x{args.samples}", None, *measure(client, "/api/paint", bodies)[:2]))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"\n{args.n} requests per endpoint, one at a time; {platform.node()}, {os.cpu_count()} CPUs, torch threads default")
    print(f"models from {args.root}: " + ", ".join(f"{k} = {s['text']}" for k, s in info["sources"].items()))
    agree, vit_agree = agreement(judged, labels), agreement(read_by_vit, labels)
    for who, share in (("the judge", agree), ("the ViT", vit_agree)):
        if share is not None:
            print(f"{who} read {share:.0%} of the {args.n} scaled-up test digits as their label")
    print()
    print("| endpoint | round trip median ms | round trip p95 ms | model median ms | model p95 ms | target |")
    print("|---|---|---|---|---|---|")
    for name, key, wall, model in rows:
        target = TARGETS_MS.get(key)
        verdict = "" if target is None else f"< {target} ms: {'met' if np.percentile(wall, 95) < target else 'MISSED'} (p95)"
        print(
            f"| {name} | {np.median(wall):.1f} | {np.percentile(wall, 95):.1f} | {np.median(model):.1f} | "
            f"{np.percentile(model, 95):.1f} | {verdict} |"
        )
    figures = {
        "sources": {k: s["text"] for k, s in info["sources"].items()},
        "judge_agreement": agree,
        "vit_agreement": vit_agree,
        "endpoints": [
            {
                "endpoint": name,
                "round_trip_median_ms": float(np.median(wall)),
                "round_trip_p95_ms": float(np.percentile(wall, 95)),
                "model_median_ms": float(np.median(model)),
                "model_p95_ms": float(np.percentile(model, 95)),
                "target_p95_ms": TARGETS_MS.get(key),
            }
            for name, key, wall, model in rows
        ],
    }
    write_results("app", args, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
