"""The contributions snapshot: the store frozen into one content-addressed file that DVC versions.

The `contributions` stage reads every stored contribution in one query (Store.export), oekaki/data/quarantine.py
decides for each whether it is trained on, held out for the gate, or quarantined, and this module writes the
arrays and a manifest, and reads them back for training (oekaki/data/dataset.py load_training). The file
(data/snapshot/contributions.npz) is written with fixed zip timestamps, so the same accepted set gives the same
bytes, the same digest and the same DVC hash: no new contribution, every training stage cached.

What the snapshot holds per contribution (in store id order): images (N, 28, 28) uint8, labels, `split`
(TRAIN, VALIDATION or QUARANTINE: oekaki/data/quarantine.py decides), the contributor's index (tokens, and
writers where a batch named them, in order of first appearance: the tokens' hashes are not copied out), the
judge's reading and its confidence.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from oekaki.core.io import arrays_sha256, read_json, write_atomic, write_json

TRAIN, VALIDATION, QUARANTINE = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALIDATION: "validation", QUARANTINE: "quarantine"}
KEYS = ("images", "labels", "split", "contributor", "ids", "judge_label", "judge_confidence")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def empty_rows() -> dict[str, np.ndarray]:
    """Store.export's arrays for an empty store."""
    return {
        "ids": np.zeros(0, np.int64), "token_sha": np.zeros(0, "<U64"), "writer": np.zeros(0, "<U64"),
        "images": np.zeros((0, 28, 28), np.uint8), "labels": np.zeros(0, np.int64), "judge_label": np.zeros(0, np.int64),
        "judge_confidence": np.zeros(0, np.float32), "image_sha": np.zeros(0, "<U64"),
    }  # fmt: skip


def write(path: Path, manifest_path: Path, arrays: dict[str, np.ndarray], manifest: dict) -> bool:
    """Write the snapshot and its manifest when either changed (True), else leave both as they are (False)."""
    if path.is_file() and manifest_path.is_file() and read_json(manifest_path) == manifest and digest_of(path) == manifest["digest"]:
        return False

    def npz(tmp: Path) -> None:  # np.savez stamps the time into the zip: fixed here, so equal content gives equal bytes
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for key in KEYS:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
                zf.writestr(zipfile.ZipInfo(f"{key}.npy", ZIP_TIME), buf.getvalue())

    write_atomic(path, npz)
    write_json(manifest_path, manifest)
    return True


def read(path: Path) -> dict[str, np.ndarray]:
    """The snapshot's arrays; an empty snapshot when the file does not exist (a checkout before the stage ran)."""
    if not path.is_file():
        return {k: np.zeros((0, 28, 28) if k == "images" else (0,), np.uint8 if k == "images" else np.int64) for k in KEYS}
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in KEYS}


def digest_of(path: Path) -> str | None:
    """The snapshot's content digest (None without one)."""
    return arrays_sha256(read(path)) if path.is_file() else None
