"""The promotion gate's effect on the MLflow registry: moving `champion` as the promote stage decided.

The promote stage (oekaki/stages/promote/) only decides, into models/promote/decision.json. This
module applies the decision, the same way for both entry points: the Prefect flow after a run
without overrides, and `python -m oekaki repro` (`make run`) after `dvc repro` succeeded. It
imports no torch: a no-op `make run` stays short.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

from oekaki.core.io import read_json, write_json
from oekaki.core.paths import Paths

log = logging.getLogger("oekaki.gate")

PROMOTED_TAG = "oekaki.promoted"  # on the pipeline's MLflow run: the versions its gate made champion


def apply(decision: dict, registry) -> list[str]:
    """Move `champion` as decided; returns what moved ("<model> v<version>").

    `decision`: the decision file's content (models/promote/decision.json, `paths.promote_decision`).
    A decision made against a champion that has changed since is not applied (and says so).
    """
    moved = []
    for row in decision["models"].values():
        if not row.get("promote"):
            continue
        expected = (row.get("champion") or {}).get("version")
        now = registry.alias_version(row["model"], "champion")
        if now == row["candidate"]["version"]:
            log.info("%s: v%s already is the champion", row["model"], now)
            continue
        if now != expected:
            log.warning("%s: champion is v%s now, the decision was made against v%s: not applied", row["model"], now, expected)
            continue
        registry.set_alias(row["model"], "champion", row["candidate"]["version"])
        moved.append(f"{row['model']} v{row['candidate']['version']}")
        log.info("%s: champion -> v%s (%s)", row["model"], row["candidate"]["version"], row["reason"])
    return moved


def apply_decision(paths: Paths, pipeline_run_id: str) -> list[str]:
    """Apply the workspace's gate decision to the registry; tag what moved on the pipeline's MLflow run.

    The one function both entry points call once the whole run succeeded (the caller checks that
    the decision is the current one: the flow ran promote, `oekaki repro` finds it up to date).
    """
    from oekaki.pipeline.tracking import Registry, Tracker

    if decision_applied(paths):
        log.info("the gate's decision %s was applied already: champions left as they are", paths.promote_decision)
        return []
    moved = apply(read_json(paths.promote_decision), Registry(paths))
    if moved:
        tracker = Tracker(paths)
        tracker.client.set_tag(tracker.pipeline_run(pipeline_run_id, {}), PROMOTED_TAG, ", ".join(moved))
    write_json(_applied_file(paths), _applied_key(paths))
    return moved


def decision_applied(paths: Paths) -> bool:
    """Whether this very decision (its bytes) was applied to this very store already.

    A decision is applied once: a later `make run` or flow run that finds promote up to date must
    not move `champion` again, or a champion rolled back by hand after the gate moved it (which
    promote's registry dependency deliberately does not count as a change: see registry_state)
    would be moved forward again. A new decision, or another tracking store, is applied.
    """
    target = _applied_file(paths)
    return target.is_file() and paths.promote_decision.is_file() and _read_or_none(target) == _applied_key(paths)


def _applied_file(paths: Paths) -> Path:
    return paths.state_dir / "gate_applied.json"  # the project's (home's) state: the flow's isolated copy shares it


def _applied_key(paths: Paths) -> dict[str, str]:
    """The decision file's and the tracking store's digests (the store's, not its URI: no password is written)."""
    import hashlib

    from oekaki.pipeline.tracking import tracking_uri

    return {
        "decision_sha256": hashlib.sha256(paths.promote_decision.read_bytes()).hexdigest(),
        "store_sha256": hashlib.sha256(tracking_uri(paths).encode()).hexdigest(),
    }


def registry_state_file(paths: Paths) -> Path:
    """models/promote/registry.json: the registry state the gate's decision depends on (a dep of promote in dvc.yaml)."""
    return paths.promote_decision.with_name("registry.json")


def registry_state(champions: dict[str, str | None], decision: dict | None) -> dict[str, str | None]:
    """Per registered model, the champion version the promote stage must be re-run for when it changes.

    That is the current champion, except where the last decision accounts for it: the champion it
    was made against, or the candidate it promoted (the gate's own move). Then it is the champion
    the decision saw, so applying a decision does not make it stale, while a champion set by hand
    (or a registry emptied, or another tracking store) does. `champions`: model -> version now.
    """
    rows = {row["model"]: row for row in (decision or {}).get("models", {}).values()}
    state = {}
    for model, now in champions.items():
        row = rows.get(model, {})
        if "champion" not in row:  # no decision yet, or the gate never looked at the champion (no candidate)
            state[model] = now
            continue
        seen = (row["champion"] or {}).get("version")
        promoted = row["candidate"]["version"] if row.get("promote") else None
        state[model] = seen if now in (seen, promoted) else now
    return state


def record_registry_state(paths: Paths) -> dict[str, str | None]:
    """Write registry_state_file when the state changed (so `dvc repro` re-runs promote exactly then); returns it.

    Called by the `source` stage, the freshness check every `dvc repro` and every flow run starts with.
    No store yet (a fresh clone): no champions, and MLflow is not imported.
    """
    from oekaki.pipeline.champions import REGISTERED

    champions = read_champions(paths, list(REGISTERED.values()))
    decision = read_json(paths.promote_decision) if paths.promote_decision.is_file() else None
    state = {"champions": registry_state(champions, decision)}
    target = registry_state_file(paths)
    if _read_or_none(target) != state:
        write_json(target, state)
        log.info("registry state changed: %s", state["champions"])
    return state


def read_champions(paths: Paths, names: list[str]) -> dict[str, str | None]:
    """Per registered model name, the version its `champion` alias points at (None: no alias, or no store).

    A SQLite store (the project's own by default) is read with a read-only SQL query on MLflow's alias
    table: this runs on every `dvc repro`, a no-op one included, where importing MLflow and opening
    the store through it costs seconds. tests/test_gate_registry_state.py checks that the query
    answers as MLflow's client does on a real store (the schema is that of the pinned MLflow). Any
    other store (a server, PostgreSQL), or a file the query cannot read, goes through MLflow's client.
    """
    from oekaki.pipeline.tracking import Registry, store_exists, tracking_uri

    uri = tracking_uri(paths)
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.is_file():  # never create an empty store by looking
            return dict.fromkeys(names)
        with contextlib.suppress(sqlite3.Error):
            return _sqlite_champions(db, names)
    elif not store_exists(paths):
        return dict.fromkeys(names)
    registry = Registry(paths)
    return {name: registry.alias_version(name, "champion") for name in names}


def _sqlite_champions(db: Path, names: list[str]) -> dict[str, str | None]:
    """The champion versions straight from MLflow's SQLite table `registered_model_aliases` (read-only)."""
    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as con:
        columns = {row[1] for row in con.execute("PRAGMA table_info(registered_model_aliases)")}
        if not {"alias", "version", "name"} <= columns:
            raise sqlite3.OperationalError(f"{db}: no MLflow alias table (columns {sorted(columns)})")
        where = "alias = 'champion'" + (" AND workspace = 'default'" if "workspace" in columns else "")
        found = {name: str(version) for name, version in con.execute(f"SELECT name, version FROM registered_model_aliases WHERE {where}")}
    return {name: found.get(name) for name in names}


def _read_or_none(path: Path) -> dict | None:
    """A JSON file's content; None when it is missing or unreadable (then it is written again)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None
