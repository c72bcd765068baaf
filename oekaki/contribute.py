"""`python -m oekaki contribute FILE.npz`: teach the judge a file of digits, through the same door as the app's.

    python -m oekaki contribute digits.npz                               # straight into this project's store
    python -m oekaki contribute digits.npz --url http://127.0.0.1:8000   # through a running app (POST /api/contribute)
    python -m oekaki contribute --erase                                  # erase every digit this token gave

FILE.npz holds `images` (N, 28, 28) uint8, white ink on black as in MNIST, `labels` (N,) 0-9 and, optionally,
`writers` (N,) writer ids (numpy.savez(file, images=..., labels=..., writers=...)). Without --url the store is
opened directly (contributions.store_url of params.yaml, else the project's SQLite file) and the judge reads the
digits as the app's does (the registry's champion, else the DVC-tracked models/cnn/model.pt; stored unread when
there is neither); oekaki/data/intake.py screens and stores them, as it does for the app. Without --token a
random token is made once and kept in the project's state folder (.oekaki/contributor-token), so the same person
can list and erase their digits later. Exit status: 0 when digits were stored (or erased), 1 when none could be,
2 when the file, the config or an argument cannot be used, with one line saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from oekaki.core.paths import Paths, project_paths

TOKEN_FILE = "contributor-token"  # under the project's state folder (Paths.state_dir)


def saved_token(paths: Paths, create: bool) -> str | None:
    """The token kept in the project's state folder; made (32 random bytes, URL-safe) and kept when `create`."""
    path = paths.state_dir / TOKEN_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        return None
    from oekaki.core.io import write_text

    token = secrets.token_urlsafe(32)
    write_text(path, token + "\n")
    os.chmod(path, 0o600)  # it erases the person's digits: theirs to read only
    return token


def champion_reader(paths: Paths) -> tuple[Callable | None, str]:
    """(the judge's reader, a line saying which judge) as the app loads it (oekaki/app/service.py `_checkpoint`):
    the registry's `champion`, else the DVC-tracked file; (None, why) when there is none."""
    import tempfile

    from oekaki.core.checkpoints import load_checkpoint
    from oekaki.core.errors import CheckpointError
    from oekaki.data.intake import model_version
    from oekaki.models.judge import Judge
    from oekaki.pipeline.champions import ModelUnavailable, resolve
    from oekaki.pipeline.env import apply_tool_defaults
    from oekaki.pipeline.tracking import mask_credentials

    apply_tool_defaults(paths)
    try:
        with tempfile.TemporaryDirectory(prefix="oekaki-contribute-") as tmp:
            found = resolve(paths, "cnn", Path(tmp), alias="champion", fallback_without_alias=True)
            ckpt = load_checkpoint(found.path)
        if ckpt.get("kind") != "cnn":
            raise CheckpointError(f"{found.describe()} holds a {ckpt.get('kind')!r} model, not the judge")
        judge = Judge.from_checkpoint(ckpt)
    except (ModelUnavailable, CheckpointError, OSError) as exc:
        return None, f"no judge to read them ({exc}): stored unread"
    except Exception as exc:  # the registry itself failed: the digits are still worth keeping
        first = mask_credentials((str(exc).splitlines() or [""])[0])
        return None, f"the MLflow registry could not be read ({type(exc).__name__}: {first}): stored unread"
    version = model_version(found.name, found.version, None if found.from_registry else found.relative)

    def read(images):
        probs = judge.judge(images).probs
        return probs.argmax(1).tolist(), probs.max(1).tolist(), version

    return read, f"read by {found.describe()}"


def announce(accepted: int, ids: list[int]) -> None:
    """A Prefect event per accepted digit (oekaki/pipeline/events.py), as the app sends; never fails the command."""
    try:
        from oekaki.pipeline import events
    except ImportError:
        return
    events.emit_accepted(accepted, ids)
    events.close()


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    """(status, JSON answer) of a request to the running app; OSError when it cannot be reached."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {"error": f"{exc.code} {exc.reason}"}


def upload(url: str, name: str, data: bytes, token: str) -> tuple[int, dict]:
    """POST the .npz file to the app's /api/contribute as multipart/form-data (what `curl -F` sends)."""
    b = secrets.token_hex(16)
    safe = name.replace('"', "_")
    head = (
        f'--{b}\r\nContent-Disposition: form-data; name="token"\r\n\r\n{token}\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = head.encode() + data + f"\r\n--{b}--\r\n".encode()
    return http("POST", url.rstrip("/") + "/api/contribute", body, {"Content-Type": f"multipart/form-data; boundary={b}"})


def summary(name: str, n: int | None, answer: dict, note: str = "") -> list[str]:
    """The lines a person reads: how many were stored (their ids), and the refused by reason."""
    ids = answer.get("ids", [])
    total = n if n is not None else len(answer.get("items", []))
    span = f" (ids {ids[0]}-{ids[-1]})" if len(ids) > 1 else f" (id {ids[0]})" if ids else ""
    lines = [f"{name}: {len(ids)} of {total} digits stored{span}" + (f"; {note}" if note else "")]
    if refused := answer.get("refused"):
        lines.append("  refused: " + ", ".join(f"{count} {kind}" for kind, count in sorted(refused.items(), key=lambda kv: -kv[1])))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oekaki contribute", description=__doc__.splitlines()[0])
    p.add_argument("file", nargs="?", type=Path, help="an .npz file: images (N, 28, 28) uint8, labels (N,), writers (N,) optional")
    p.add_argument("--token", help="the contributor token (default: the one kept in .oekaki/contributor-token, made once)")
    p.add_argument("--url", help="a running app to post to, e.g. http://127.0.0.1:8000 (default: the store directly)")
    p.add_argument("--erase", action="store_true", help="erase every digit this token gave, instead of contributing")
    p.add_argument("--root", type=Path, help="the project folder (default: this checkout)")
    args = p.parse_args(argv)
    if (args.file is None) != args.erase:
        p.error("give an .npz file to contribute, or --erase (not both)")
    paths = project_paths(args.root)
    try:
        return erase(paths, args) if args.erase else give(paths, args)
    except OSError as exc:
        where = f"the app at {args.url}" if args.url else "the store"
        print(f"error: cannot reach {where} ({exc}): start it (make app) or leave out --url", file=sys.stderr)
        return 2


def erase(paths: Paths, args) -> int:
    token = args.token or saved_token(paths, create=False)
    if token is None:
        print(f"error: no token: none was given (--token) and {paths.state_dir / TOKEN_FILE} does not exist", file=sys.stderr)
        return 2
    if args.url:
        status, answer = http("DELETE", args.url.rstrip("/") + "/api/contributions", headers={"X-Contributor-Token": token})
        if status != 200:
            print(f"error: {args.url}: {answer.get('error', status)}", file=sys.stderr)
            return 2
        erased = answer["erased"]
    else:
        from oekaki.data.intake import check_token
        from oekaki.data.screening import Refused

        store, _ = open_store(paths)
        if store is None:
            return 2
        try:
            erased = store.erase(check_token(token))
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"erased {erased} digits of this contributor; the next snapshot leaves them out")
    return 0


def open_store(paths: Paths):
    from oekaki.core.config import load_config
    from oekaki.core.errors import ConfigError
    from oekaki.data.contributions import Store

    try:
        rules = load_config(paths.params).contributions
        return Store.of_project(rules.store_url, paths.contributions_store), rules
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None, None


def give(paths: Paths, args) -> int:
    from oekaki.data import intake
    from oekaki.data.screening import Refused

    name = str(args.file)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"error: {name}: cannot be read ({exc.strerror or exc})", file=sys.stderr)
        return 2
    token = args.token or saved_token(paths, create=True)
    if args.url:
        status, answer = upload(args.url, args.file.name, data, token)
        n, note = None, f"through {args.url}" + (f", read by {answer['read_by']}" if answer.get("read_by") else "")
    else:
        store, rules = open_store(paths)
        if store is None:
            return 2
        try:
            images, labels, writers = intake.read_npz(data, name, intake.npz_max_bytes(rules.max_batch))
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        read, note = champion_reader(paths)
        result = intake.contribute(store, rules, token, images, labels, writers, read)
        status, answer, n = result.status, result.as_json(), len(labels)
        announce(result.accepted, result.ids)
    if "items" not in answer:  # refused as a whole: the file's arrays, the token, the batch's size
        print(f"error: {name}: {answer.get('error', status)}", file=sys.stderr)
        return 2
    for line in summary(name, n, answer, note):
        print(line)
    if not answer.get("accepted"):
        print(f"error: {name}: {answer.get('error', 'nothing was stored')}", file=sys.stderr)
        return 1
    return 0
