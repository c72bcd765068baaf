"""The judge's champion history for the report: its registered versions, and which the gate made champion when.

No file holds it: the model registry does. It is read through the registry the runner hands a stage
(`monitor.registry()`, as the promote stage reads it), and only when the report has contributed digits to show,
so a default pipeline's report never queries it. A version's registration time is the registry's; when it became
champion, the end of the pipeline run the gate tagged `oekaki.promoted` after moving the alias
(oekaki/pipeline/gate.py: the run's last stage ends just before the gate applies its decision). A champion set by
hand has no such run: its row says it is the champion, with no time. When the registry cannot be read (a stage
run without the runner, a store that is down), the page is drawn without the history and says so. The registry
is no DVC dependency of the report: the table is the registry as the report last ran (an alias moved since is
in the next report).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from oekaki.core.locales import text
from oekaki.stages.report.tables import Cell, Row, Table

log = logging.getLogger("oekaki.report")

PROMOTED_TAG = "oekaki.promoted"  # oekaki/pipeline/gate.py's (a stage imports no pipeline module; a test holds them equal)
SHOWN = 20  # the newest versions listed; the text says how many there are in all


@dataclass(frozen=True)
class Version:
    version: str
    registered: str  # "YYYY-MM-DD HH:MM UTC"
    champion_since: str | None  # the end of the pipeline run whose gate first made it champion
    champion_now: bool


@dataclass(frozen=True)
class History:
    name: str  # the registered model (the promotion gate's `model` for the cnn)
    total: int  # registered versions in all
    versions: tuple[Version, ...]  # the newest SHOWN, newest first


def when(ms: int | None) -> str | None:
    """A registry time (milliseconds since the epoch) as the page prints it, in UTC; None for none."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000)) if ms else None


def read_history(monitor, name: str) -> History | None:
    """The history of registered model `name`, or None (logged) when the registry cannot be read."""
    try:
        registry = monitor.registry()
        client = registry.client  # MLflow's client (oekaki/pipeline/tracking.py Registry)
        found = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version), reverse=True)
        champion = registry.alias_version(name, "champion") if found else None
        since = promotions(client, name, found[0].run_id) if found else {}
    except Exception as exc:  # noqa: BLE001 - an unreadable registry costs the page this table, not the page
        log.warning("the report's champion history is left out: the model registry could not be read (%s)", type(exc).__name__)
        return None
    versions = tuple(
        Version(str(v.version), when(v.creation_timestamp) or "", when(since.get(str(v.version))), str(v.version) == champion)
        for v in found[:SHOWN]
    )
    return History(name, len(found), versions)


def promotions(client, name: str, run_id: str) -> dict[str, int]:
    """version -> when the gate first made it champion (ms), from the pipeline runs tagged PROMOTED_TAG ("<model> v<n>, ...")."""
    experiment = client.get_run(run_id).info.experiment_id  # the versions' runs and the pipeline runs share one experiment
    runs = client.search_runs([experiment], filter_string=f"tags.`{PROMOTED_TAG}` LIKE '%{name} v%'", max_results=1000)
    since: dict[str, int] = {}
    for run in runs:
        at = run.info.end_time or run.info.start_time
        for entry in run.data.tags.get(PROMOTED_TAG, "").split(", "):
            model, _, version = entry.rpartition(" v")
            if model == name and version:
                since[version] = min(since.get(version, at), at)
    return since


def history_table(history: History, lang: str) -> Table:
    """One row per listed version, newest first: version, registered, made champion (and whether it is the champion now)."""
    rows = []
    for v in history.versions:
        made = v.champion_since or "—"
        now = text("con_champion_now", lang) if v.champion_now else ""
        rows.append(Row((Cell(f"v{v.version}"), Cell(v.registered), Cell(made + now))))
    names = ("col_con_version", "col_con_registered", "col_con_made_champion")
    return Table(tuple(text(n, lang) for n in names), tuple(rows))
