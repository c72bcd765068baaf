"""Stage `contributions`: the store frozen into data/snapshot/ (no torch import, no MLflow run: it runs on every repro).

DVC runs it on every repro (`always_changed`), like `source`: it reads the store in one query
(oekaki/data/contributions.py), takes the snapshot (oekaki/data/snapshot.py: quarantine, held-out split,
digest) and rewrites the two files only when the digest changed. No new contribution: the same bytes,
and every training stage stays cached. A store that does not exist yet is an empty snapshot (and is not
created: a read never makes a database). Contributions that arrive while a run trains go to the next one.
"""

from __future__ import annotations

import logging

from oekaki.core.config import Config
from oekaki.core.errors import MissingInputError
from oekaki.core.io import read_json
from oekaki.core.paths import Paths
from oekaki.data import quarantine, snapshot
from oekaki.data.contributions import Store

log = logging.getLogger("oekaki.contributions")


def take(cfg: Config, paths: Paths) -> dict:
    """Snapshot the store; returns the manifest (counts, digest, newest id, what was quarantined and why).

    A checkout without the store (a fresh clone) keeps the snapshot it has (`dvc pull` brought it: DVC keeps
    the outputs, `persist: true`), so it retrains on what the champion was trained on; without either, while
    the committed manifest says digits were contributed, it stops and says how to get them.
    """
    c = cfg.contributions
    if not c.store_url and not paths.contributions_store.is_file():
        known = read_json(paths.contributions_manifest) if paths.contributions_manifest.is_file() else {"n": 0}
        if paths.contributions_snapshot.is_file() and known.get("digest") == snapshot.digest_of(paths.contributions_snapshot):
            log.info("no contributions store here (%s): the snapshot in place stays (%s)", paths.contributions_store, known["digest"][:12])
            return known
        if known.get("n", 0) > 0:
            raise MissingInputError(
                f"{paths.contributions_manifest} records {known['n']:,} contributed digits (snapshot {known.get('digest', '?')[:12]}), "
                f"but neither the store ({paths.contributions_store}) nor that snapshot is here: `dvc pull "
                f"data/snapshot/contributions.npz` to retrain on it, or set contributions.store_url to the store"
            )
        rows = snapshot.empty_rows()
    else:
        rows = Store.of_project(c.store_url, paths.contributions_store).export()
    rules = (c.validation_share, c.quarantine_confidence, c.quarantine_agreement)
    arrays, manifest = quarantine.take(rows, *rules)
    if snapshot.write(paths.contributions_snapshot, paths.contributions_manifest, arrays, manifest):
        counts = manifest["counts"]
        log.info(
            "contributions snapshot %s: %d train, %d held out, %d quarantined",
            manifest["digest"][:12], counts["train"], counts["validation"], counts["quarantine"],
        )  # fmt: skip
    return manifest
