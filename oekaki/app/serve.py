"""`make app`: load the models once, bind 127.0.0.1 (a free port unless APP_PORT), print the address, serve.

    python -m oekaki.app                        # this checkout's trained models, a free port
    APP_PORT=8000 python -m oekaki.app          # a given port
    python -m oekaki.app --root /path/to/trained/checkout
    APP_HOST=0.0.0.0 python -m oekaki.app       # other machines too: put a TLS + auth proxy in front first (docs/app.md)

The project folder's models, data/gmm and params.yaml (report.mlflow_ui_url) are only read, and
its MLflow store (MLFLOW_TRACKING_URI when set) for the `champion` versions: the app watches
their aliases (every --poll seconds) and serves a new champion without a restart. What people
teach goes to the contributions store (params.yaml `contributions.store_url`; by default SQLite
under data/contributions/); with PREFECT_API_URL set (`make serve` sets it) each accepted digit
is a Prefect event, which the deployment retrain-on-contributions counts (oekaki/pipeline/events.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

from oekaki.core.errors import ConfigError
from oekaki.core.paths import Paths, project_paths

log = logging.getLogger("oekaki.app")


def mlflow_ui_url(paths: Paths) -> str:
    """report.mlflow_ui_url of the project folder's params.yaml (of this checkout's, when that one does not load)."""
    from oekaki.core.config import load_config

    try:
        return load_config(paths.params).report.mlflow_ui_url
    except (ConfigError, OSError) as exc:
        log.warning("%s; the MLflow UI address comes from this checkout's params.yaml", str(exc).splitlines()[0])
        return load_config(project_paths().params).report.mlflow_ui_url


def build(root: Path | None = None):
    """(the FastAPI app, its Models) for project folder `root` (default: this checkout), with its contributions store."""
    from oekaki.app.api import create_app, open_contributions
    from oekaki.app.service import Models
    from oekaki.pipeline.env import apply_tool_defaults

    paths = project_paths(root)
    apply_tool_defaults(paths)
    ui = mlflow_ui_url(paths)
    models = Models(paths, ui)
    try:
        store, rules = open_contributions(paths)
    except (ConfigError, OSError) as exc:
        log.warning("%s; teaching is off (its routes answer 503)", str(exc).splitlines()[0])
        store = rules = None
    return create_app(models, ui, store=store, rules=rules), models


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one the system picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP; without it each
    # answer's body waits for the client's delayed ACK of its headers (~40 ms on a kept-alive connection)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def server(app, log_level: str = "info"):
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, server_header=False, timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oekaki.app", description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=os.environ.get("APP_ROOT"), help="project folder with trained models (APP_ROOT)")
    p.add_argument("--host", default=os.environ.get("APP_HOST", "127.0.0.1"), help="address to bind (APP_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(os.environ.get("APP_PORT") or 0), help="port (APP_PORT; default: a free one)")
    p.add_argument("--poll", type=float, help="seconds between two looks at the champion aliases (0: never; default: service.POLL_S)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.root is not None and not Path(args.root).is_dir():
        p.error(f"--root {args.root}: not a folder")
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    app, models = build(args.root)
    from oekaki.app.service import POLL_S

    for kind, source in models.sources.items():
        print(f"  {kind:<9} {source.text()}" + (f"  (notice: {source.notice})" if source.notice else ""))
    for kind, why in models.missing.items():
        print(f"  {kind:<9} MISSING: {why}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach it can use it; see docs/app.md before exposing it")
    print(f"oekaki app: {url_of(sock)}  (Ctrl-C stops it)", flush=True)
    models.watch(POLL_S if args.poll is None else args.poll)
    try:
        server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the SIGINT it caught again once it has shut down: the way to stop, not an error
        pass
    finally:
        from oekaki.pipeline import events

        models.stop()
        events.close()  # the events of the last contributions, still queued
    return 0
