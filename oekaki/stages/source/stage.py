"""Stage `source`: the freshness check. Fingerprints the data source into data/source.json (no torch import).

DVC runs it on every repro (`always_changed`); it rewrites the file only when the fingerprint
changed, so an unchanged source leaves `download` up to date.
"""

from __future__ import annotations

import logging

from oekaki.core.config import Config
from oekaki.core.io import read_json, write_json
from oekaki.core.paths import Paths
from oekaki.data import sources

log = logging.getLogger("oekaki.source")


def check(cfg: Config, paths: Paths) -> dict:
    """The source's fingerprint (what it is, where, its files' sizes and dates), written when it changed."""
    fingerprint = sources.check_source(cfg.data).as_dict()
    current = read_json(paths.source_fingerprint) if paths.source_fingerprint.is_file() else None
    if current != fingerprint:
        write_json(paths.source_fingerprint, fingerprint)
        log.info("source fingerprint changed: %s", fingerprint["source"])
    return fingerprint
