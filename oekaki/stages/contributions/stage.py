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
from oekaki.core.paths import Paths
from oekaki.data import quarantine, snapshot
from oekaki.data.contributions import Store

log = logging.getLogger("oekaki.contributions")


def take(cfg: Config, paths: Paths) -> dict:
    """Snapshot the store; returns the manifest (counts, digest, newest id, what was quarantined and why)."""
    c = cfg.contributions
    if c.store_url or paths.contributions_store.is_file():
        rows = Store.of_project(c.store_url, paths.contributions_store).export()
    else:
        rows = snapshot.empty_rows()
    arrays, manifest = quarantine.take(
        rows, c.validation_share, c.validation_by_writer_min, c.quarantine_confidence, c.quarantine_agreement
    )
    if snapshot.write(paths.contributions_snapshot, paths.contributions_manifest, arrays, manifest):
        counts = manifest["counts"]
        log.info(
            "contributions snapshot %s: %d train, %d held out, %d quarantined",
            manifest["digest"][:12], counts["train"], counts["validation"], counts["quarantine"],
        )  # fmt: skip
    return manifest
